package app

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
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
	release := make(chan struct{})
	agent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req dispatch.TaskRequest
		_ = json.NewDecoder(r.Body).Decode(&req)
		<-release
		httpx.WriteJSON(w, http.StatusOK, dispatch.TaskResponse{State: dispatch.StateCompleted, Output: req.Input})
	}))
	t.Cleanup(agent.Close)
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})

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

	// The task's events stream through the gateway as they happen: the
	// first arrives while the agent still holds the task.
	req, _ := http.NewRequest(http.MethodGet, gwURL+"/api/v1/tasks/"+task.ID+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+testAdminKey)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	events := bufio.NewReader(resp.Body)
	line, err := events.ReadString('\n')
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(line, "id: "), line)
	close(release)
	rest, err := io.ReadAll(events)
	require.NoError(t, err, "the stream ends with the task")
	require.Contains(t, string(rest), `"state":"completed"`)

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
