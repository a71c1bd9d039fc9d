package dispatch

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ossa-platform/ossa/internal/storage"
)

func nativeAgent(t *testing.T, h http.HandlerFunc) storage.Agent {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return storage.Agent{ID: "agent-1", Protocol: ProtocolHTTP, Endpoint: srv.URL + "/"}
}

func TestNativeDispatch(t *testing.T) {
	t.Parallel()
	deadline := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	type seen struct {
		path, idem string
		body       TaskRequest
	}
	got := make(chan seen, 1)
	agent := nativeAgent(t, func(w http.ResponseWriter, r *http.Request) {
		var body TaskRequest
		require.NoError(t, json.NewDecoder(r.Body).Decode(&body))
		got <- seen{r.URL.Path, r.Header.Get("Idempotency-Key"), body}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"state":"completed","output":{"echo":`+string(body.Input)+`},"artifacts":[{"artifact_id":"a","text":"hi"}]}`)
	})
	res, err := New(nil).Dispatch(t.Context(), Request{
		TaskID: "t-1", Capability: "echo", Input: json.RawMessage(`{"x":1}`), Attempt: 2, Deadline: deadline, Agent: agent,
	}, nil)
	require.NoError(t, err)
	require.Equal(t, StateCompleted, res.State)
	require.JSONEq(t, `{"echo":{"x":1}}`, string(res.Output))
	require.Equal(t, []Artifact{{ID: "a", Text: "hi"}}, res.Artifacts)

	s := <-got
	require.Equal(t, NativeTasksPath, s.path, "a trailing slash on the endpoint must not double")
	require.Equal(t, "t-1/2", s.idem)
	require.Equal(t, TaskRequest{TaskID: "t-1", Capability: "echo", Input: json.RawMessage(`{"x":1}`), Attempt: 2, Deadline: deadline}, s.body)
}

func TestNativeFaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		status    int
		body      string
		permanent bool
		detail    string
	}{
		{"server error", 500, "database unreachable", false, "database unreachable"},
		{"bad gateway without body", 502, "", false, "Bad Gateway"},
		{"timeout", 408, "slow", false, "slow"},
		{"throttled", 429, `{"title":"Too Many Requests"}`, false, "Too Many Requests"},
		{"bad request", 400, `{"detail":"input.text is required"}`, true, "input.text is required"},
		{"unknown capability", 404, "no such capability", true, "no such capability"},
		{"garbage", 200, "<html>oops</html>", false, "<html>oops</html>"},
		{"unknown state", 200, `{"state":"pondering"}`, false, `"pondering"`},
		{"huge error body", 503, strings.Repeat("x", 10<<10), false, strings.Repeat("x", 100)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			agent := nativeAgent(t, func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, tt.body)
			})
			_, err := New(nil).Dispatch(t.Context(), Request{TaskID: "t", Capability: "c", Attempt: 1, Agent: agent}, nil)
			var ae *AgentError
			require.ErrorAs(t, err, &ae)
			require.Equal(t, ProtocolHTTP, ae.Protocol)
			require.Equal(t, tt.status, ae.Status)
			require.Contains(t, ae.Detail, tt.detail)
			require.LessOrEqual(t, len(ae.Detail), maxDetail+len("…"))
			require.Equal(t, tt.permanent, errors.Is(err, ErrPermanent))
		})
	}
}

// TestNativeHang checks that an agent that never answers ends the attempt
// at its deadline, and that the agent sees the cancellation.
func TestNativeHang(t *testing.T) {
	t.Parallel()
	released := make(chan struct{})
	agent := nativeAgent(t, func(w http.ResponseWriter, r *http.Request) {
		// net/http notices a closed connection only once the body is read.
		_, _ = io.Copy(io.Discard, r.Body)
		<-r.Context().Done()
		close(released)
	})
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err := New(nil).Dispatch(ctx, Request{TaskID: "t", Capability: "c", Attempt: 1, Agent: agent}, nil)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.NotErrorIs(t, err, ErrPermanent)
	<-released
}

func TestNativeCancel(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		status int
		ok     bool
	}{
		{"canceled", 200, true},
		{"accepted", 202, true},
		{"unknown task", 404, true},
		{"agent error", 500, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			paths := make(chan string, 1)
			agent := nativeAgent(t, func(w http.ResponseWriter, r *http.Request) {
				paths <- r.URL.EscapedPath()
				w.WriteHeader(tt.status)
			})
			err := New(nil).Cancel(t.Context(), agent, "task 1/a", "")
			require.Equal(t, "/ossa/v1/tasks/task%201%2Fa:cancel", <-paths)
			if tt.ok {
				require.NoError(t, err)
			} else {
				var ae *AgentError
				require.ErrorAs(t, err, &ae)
				require.Equal(t, 500, ae.Status)
			}
		})
	}
}

func TestRouter(t *testing.T) {
	t.Parallel()
	d := New(nil)
	for _, agent := range []storage.Agent{
		{ID: "a", Protocol: "grpc", Endpoint: "http://x"},
		{ID: "b", Protocol: ProtocolHTTP},
	} {
		_, err := d.Dispatch(t.Context(), Request{TaskID: "t", Agent: agent}, nil)
		require.ErrorIs(t, err, ErrPermanent, agent.ID)
		require.ErrorIs(t, d.Cancel(t.Context(), agent, "t", ""), ErrPermanent, agent.ID)
	}

	// An empty protocol means the native one.
	called := make(chan struct{}, 1)
	agent := nativeAgent(t, func(w http.ResponseWriter, r *http.Request) {
		called <- struct{}{}
		_, _ = io.WriteString(w, `{"state":"rejected","message":"not today"}`)
	})
	agent.Protocol = ""
	res, err := d.Dispatch(t.Context(), Request{TaskID: "t", Attempt: 1, Agent: agent}, nil)
	require.NoError(t, err)
	require.Equal(t, Result{State: StateRejected, Message: "not today"}, res)
	<-called
}
