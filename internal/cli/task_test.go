package cli

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ossa-platform/ossa/internal/dispatch"
	"github.com/ossa-platform/ossa/internal/httpx"
)

const echoAgentManifest = `ossa: "0.1.8"
kind: Agent
metadata:
  name: echo
  version: "1.0.0"
spec:
  conformance_tier: core
  class: nlp
  capabilities:
    primary: [summarization]
`

func TestTaskCommands(t *testing.T) {
	isolate(t)
	base := platform(t)
	admin := []string{"--server", base, "--api-key", cliAdminKey}
	agentID := servedAgent(t, admin, func(w http.ResponseWriter, req dispatch.TaskRequest) {
		httpx.WriteJSON(w, http.StatusOK, dispatch.TaskResponse{State: dispatch.StateCompleted,
			Output: json.RawMessage(`{"summary": "short"}`), Artifacts: []dispatch.Artifact{{Name: "notes.txt", Text: "n"}}})
	})
	doc := filepath.Join(t.TempDir(), "doc.json")
	require.NoError(t, os.WriteFile(doc, []byte(`{"text": "a long text"}`), 0o600))

	code, out, stderr := ossa(t, append([]string{"task", "submit", "--capability", "summarization", "--input", "@" + doc, "--wait"}, admin...)...)
	require.Equal(t, 0, code, stderr)
	require.JSONEq(t, `{"summary": "short"}`, strings.TrimSpace(strings.Split(out, "artifact")[0]), "the output is printed")
	require.Contains(t, out, "artifact notes.txt: n")
	require.Contains(t, stderr, "completed", "progress goes to stderr")

	code, out, stderr = ossa(t, append([]string{"task", "list", "-o", "json"}, admin...)...)
	require.Equal(t, 0, code, stderr)
	var tasks []struct{ ID, State string }
	require.NoError(t, json.Unmarshal([]byte(out), &tasks))
	require.Len(t, tasks, 1)
	require.Equal(t, "completed", tasks[0].State)

	code, out, stderr = ossa(t, append([]string{"task", "get", tasks[0].ID}, admin...)...)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, out, "Agent:")
	require.Contains(t, out, "echo ("+agentID+")")

	code, out, stderr = ossa(t, append([]string{"task", "watch", tasks[0].ID}, admin...)...)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, out, "submitted")
	require.Contains(t, out, "artifact notes.txt")

	code, _, stderr = ossa(t, append([]string{"task", "cancel", tasks[0].ID}, admin...)...)
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "409")

	code, _, stderr = ossa(t, append([]string{"task", "submit", "--capability", "astrology"}, admin...)...)
	require.Equal(t, 1, code)
	require.Contains(t, stderr, `no healthy agent offers capability "astrology"`)
	code, _, stderr = ossa(t, append([]string{"task", "submit", "--capability", "summarization", "--input", "{not json"}, admin...)...)
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "not valid JSON")
}

// A task that asks for input stops `submit --wait` with a hint, and
// `task continue` answers it.
func TestTaskContinueCommand(t *testing.T) {
	isolate(t)
	base := platform(t)
	admin := []string{"--server", base, "--api-key", cliAdminKey}
	servedAgent(t, admin, func(w http.ResponseWriter, req dispatch.TaskRequest) {
		if !strings.Contains(string(req.Input), "yes") {
			httpx.WriteJSON(w, http.StatusOK, dispatch.TaskResponse{State: dispatch.StateInputRequired, Message: "confirm with yes"})
			return
		}
		httpx.WriteJSON(w, http.StatusOK, dispatch.TaskResponse{State: dispatch.StateCompleted, Output: json.RawMessage(`"done"`)})
	})

	code, _, stderr := ossa(t, append([]string{"task", "submit", "--capability", "summarization", "--input", `{"env": "prod"}`, "--wait"}, admin...)...)
	require.Equal(t, 1, code, "a task waiting for input is not completed")
	require.Contains(t, stderr, "input-required: confirm with yes")
	require.Contains(t, stderr, "answer it with: ossa task continue ")
	id := strings.Fields(strings.SplitN(stderr, "submitted task ", 2)[1])[0]

	code, _, stderr = ossa(t, append([]string{"task", "watch", id}, admin...)...)
	require.Equal(t, 1, code, "watch stops at the pause")
	require.Contains(t, stderr, "answer it with: ossa task continue "+id)

	code, _, stderr = ossa(t, append([]string{"task", "continue", id}, admin...)...)
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "--input is required")

	code, out, stderr := ossa(t, append([]string{"task", "continue", id, "--input", `"yes"`, "--wait"}, admin...)...)
	require.Equal(t, 0, code, stderr)
	require.Equal(t, `"done"`, strings.TrimSpace(out))

	code, _, stderr = ossa(t, append([]string{"task", "continue", id, "--input", `"yes"`}, admin...)...)
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "409", "a finished task waits for nothing")
}

// servedAgent serves answer as an agent offering summarization, registers
// it through the CLI with the admin arguments, makes it healthy and returns
// its ID.
func servedAgent(t *testing.T, admin []string, answer func(http.ResponseWriter, dispatch.TaskRequest)) string {
	t.Helper()
	agent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req dispatch.TaskRequest
		_ = json.NewDecoder(r.Body).Decode(&req)
		answer(w, req)
	}))
	t.Cleanup(agent.Close)
	manifest := filepath.Join(t.TempDir(), "agent.yml")
	require.NoError(t, os.WriteFile(manifest, []byte(echoAgentManifest), 0o600))
	code, out, stderr := ossa(t, append([]string{"agent", "register", "-f", manifest, "--endpoint", agent.URL, "-o", "json"}, admin...)...)
	require.Equal(t, 0, code, stderr)
	var reg struct{ Agent struct{ ID string } }
	require.NoError(t, json.Unmarshal([]byte(out), &reg))
	code, _, stderr = ossa(t, append([]string{"agent", "heartbeat", reg.Agent.ID}, admin...)...)
	require.Equal(t, 0, code, stderr)
	return reg.Agent.ID
}
