package app

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ossa-platform/ossa/internal/dispatch"
	"github.com/ossa-platform/ossa/internal/httpx"
)

// TestSplitModeTasks runs the gateway, discovery and the task service as
// three processes would, on one database: a task submitted to the gateway
// is proxied to the task service, which finds its agent through discovery's
// HTTP API (signing its calls with the internal secret) and dispatches it.
func TestSplitModeTasks(t *testing.T) {
	db := filepath.Join(t.TempDir(), "ossa.db")
	agent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req dispatch.TaskRequest
		_ = json.NewDecoder(r.Body).Decode(&req)
		httpx.WriteJSON(w, http.StatusOK, dispatch.TaskResponse{State: dispatch.StateCompleted, Output: req.Input})
	}))
	t.Cleanup(agent.Close)

	discCfg := splitConfig(t, "discovery")
	discCfg.Database.URL = db
	discURL := run(t, newApp(t, discCfg))
	taskCfg := splitConfig(t, "task-agent")
	taskCfg.Database.URL, taskCfg.Discovery.URL = db, discURL
	taskURL := run(t, newApp(t, taskCfg))
	gwCfg := splitConfig(t, "gateway")
	gwCfg.Database.URL, gwCfg.Discovery.URL, gwCfg.TaskAgent.URL = db, discURL, taskURL
	gwURL := run(t, newApp(t, gwCfg))

	status, _, data := request(t, http.MethodPost, gwURL+"/api/v1/agents?endpoint="+agent.URL, testAdminKey, manifestFor("echo"), "application/yaml")
	require.Equal(t, http.StatusCreated, status, "%s", data)
	var reg struct{ Agent struct{ ID string } }
	require.NoError(t, json.Unmarshal(data, &reg))
	status, _, data = request(t, http.MethodPost, gwURL+"/api/v1/agents/"+reg.Agent.ID+"/heartbeat", testAdminKey, nil, "")
	require.Equal(t, http.StatusOK, status, "%s", data)

	status, _, data = request(t, http.MethodPost, gwURL+"/api/v1/tasks", testAdminKey, []byte(`{"capability": "echo", "input": {"n": 1}}`), "application/json")
	require.Equal(t, http.StatusCreated, status, "%s", data)
	var task struct{ ID, State string }
	require.NoError(t, json.Unmarshal(data, &task))
	require.Eventually(t, func() bool {
		status, _, data := request(t, http.MethodGet, gwURL+"/api/v1/tasks/"+task.ID, testAdminKey, nil, "")
		return status == http.StatusOK && json.Unmarshal(data, &task) == nil && task.State == "completed"
	}, 20*time.Second, 20*time.Millisecond)

	status, _, data = request(t, http.MethodGet, gwURL+"/.well-known/agent-card.json", "", nil, "")
	require.Equal(t, http.StatusOK, status, "%s", data)
	require.Contains(t, string(data), `"id":"echo"`)
	status, _, _ = request(t, http.MethodGet, taskURL+"/api/v1/tasks/"+task.ID, testAdminKey, nil, "")
	require.Equal(t, http.StatusUnauthorized, status, "the task service trusts only the gateway")
}
