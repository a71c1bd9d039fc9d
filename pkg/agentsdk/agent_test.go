package agentsdk

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/ossa-platform/ossa/internal/dispatch"
	"github.com/ossa-platform/ossa/internal/storage"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const testManifest = `
ossa: "0.1.8"
kind: Agent
metadata:
  name: test-agent
  version: "1.0.0"
  description: Echoes and shouts.
  tags: [test]
spec:
  conformance_tier: core
  class: general
  capabilities:
    primary: [echo, shout]
  protocols:
    - {name: http, version: "1.1", required: true}
  endpoints:
    health: /healthz
  performance:
    concurrency: {max_concurrent: 1}
`

// startAgent serves an agent for one test and stops it afterwards.
func startAgent(t *testing.T, h Handler, opts ...Option) (*Agent, *httptest.Server) {
	t.Helper()
	a, err := New([]byte(testManifest), h, append([]Option{WithLogger(discard)}, opts...)...)
	require.NoError(t, err)
	srv := httptest.NewServer(a)
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		require.NoError(t, a.Shutdown(ctx))
	})
	return a, srv
}

func agentRecord(srv *httptest.Server, protocol string) storage.Agent {
	return storage.Agent{ID: "agent-1", Protocol: protocol, Endpoint: srv.URL}
}

// testHandler echoes; input "reject", "ask", "fail" and "panic" end the
// task accordingly; the shout capability upper-cases text.
func testHandler(_ context.Context, t *Task) (any, error) {
	if t.Capability == "shout" {
		return strings.ToUpper(t.Text()), nil
	}
	switch t.Text() {
	case "reject":
		return nil, Reject("not my job")
	case "ask":
		return nil, NeedInput("which one?")
	case "fail":
		return nil, errors.New("disk full")
	case "panic":
		panic("boom")
	case "extras":
		return Result{Output: map[string]int{"n": 1}, Message: "done", Artifacts: []Artifact{
			{Name: "log", Text: "step 1", MediaType: "text/plain"},
			{Name: "stats", Data: map[string]int{"ms": 5}},
		}}, nil
	}
	return t.Input, nil
}

func TestNewValidatesManifest(t *testing.T) {
	t.Parallel()
	_, err := New([]byte("ossa: \"0.1.8\"\nkind: Agent\nmetadata: {name: x}\n"), testHandler)
	require.ErrorContains(t, err, "invalid manifest")
	_, err = New([]byte("{"), testHandler)
	require.Error(t, err)
	_, err = New([]byte(testManifest), nil)
	require.ErrorContains(t, err, "handler is nil")
}

func TestNativeOutcomes(t *testing.T) {
	t.Parallel()
	_, srv := startAgent(t, testHandler)
	d := dispatch.New(srv.Client())
	tests := []struct {
		capability string
		input      string
		want       dispatch.Result
	}{
		{"echo", `{"x":[1,2]}`, dispatch.Result{State: dispatch.StateCompleted, Output: json.RawMessage(`{"x":[1,2]}`)}},
		{"shout", `"hey"`, dispatch.Result{State: dispatch.StateCompleted, Output: json.RawMessage(`"HEY"`)}},
		{"echo", `"reject"`, dispatch.Result{State: dispatch.StateRejected, Message: "not my job"}},
		{"echo", `"ask"`, dispatch.Result{State: dispatch.StateInputRequired, Message: "which one?"}},
		{"echo", `"fail"`, dispatch.Result{State: dispatch.StateFailed, Message: "disk full"}},
		{"echo", `"panic"`, dispatch.Result{State: dispatch.StateFailed, Message: "the agent's handler panicked"}},
		{"echo", `"extras"`, dispatch.Result{State: dispatch.StateCompleted, Output: json.RawMessage(`{"n":1}`), Message: "done",
			Artifacts: []dispatch.Artifact{{Name: "log", Text: "step 1", MediaType: "text/plain"}, {Name: "stats", Data: json.RawMessage(`{"ms":5}`)}}}},
	}
	for i, tt := range tests {
		res, err := d.Dispatch(t.Context(), dispatch.Request{
			TaskID: "t-" + tt.input, Capability: tt.capability, Input: json.RawMessage(tt.input), Attempt: 1, Agent: agentRecord(srv, "http"),
		}, nil)
		require.NoError(t, err, "case %d", i)
		require.Equal(t, tt.want, res, "case %d", i)
	}

	_, err := d.Dispatch(t.Context(), dispatch.Request{TaskID: "t", Capability: "juggle", Attempt: 1, Agent: agentRecord(srv, "http")}, nil)
	var ae *dispatch.AgentError
	require.ErrorAs(t, err, &ae)
	require.Equal(t, http.StatusUnprocessableEntity, ae.Status)
	require.Contains(t, ae.Detail, `does not offer capability \"juggle\"`)
	require.ErrorIs(t, err, dispatch.ErrPermanent)
}

// blockingHandler signals started and waits for its context to end,
// reporting the cause on ended.
func blockingHandler(started chan<- string, ended chan<- error) Handler {
	return func(ctx context.Context, t *Task) (any, error) {
		started <- t.ID
		<-ctx.Done()
		ended <- context.Cause(ctx)
		return nil, ctx.Err()
	}
}

func TestNativeCancelReachesHandler(t *testing.T) {
	t.Parallel()
	started, ended := make(chan string, 1), make(chan error, 1)
	_, srv := startAgent(t, blockingHandler(started, ended))
	d := dispatch.New(srv.Client())
	agent := agentRecord(srv, "http")

	results := make(chan dispatch.Result, 1)
	go func() {
		res, err := d.Dispatch(t.Context(), dispatch.Request{TaskID: "t-1", Capability: "echo", Attempt: 1, Agent: agent}, nil)
		if err != nil {
			res.Message = err.Error()
		}
		results <- res
	}()
	require.Equal(t, "t-1", <-started)
	require.NoError(t, d.Cancel(t.Context(), agent, "t-1", ""))
	require.ErrorIs(t, <-ended, errCanceled)
	require.Equal(t, dispatch.Result{State: dispatch.StateCanceled, Message: errCanceled.Error()}, <-results)
	require.NoError(t, d.Cancel(t.Context(), agent, "t-1", ""), "canceling a finished task is a no-op")
}

func TestNativeDeadlineReachesHandler(t *testing.T) {
	t.Parallel()
	started, ended := make(chan string, 1), make(chan error, 1)
	_, srv := startAgent(t, blockingHandler(started, ended))
	deadline := time.Now().Add(50 * time.Millisecond)
	ctx, cancel := context.WithDeadline(t.Context(), deadline.Add(time.Second))
	defer cancel()
	res, err := dispatch.New(srv.Client()).Dispatch(ctx, dispatch.Request{
		TaskID: "t-1", Capability: "echo", Attempt: 1, Deadline: deadline, Agent: agentRecord(srv, "http"),
	}, nil)
	require.NoError(t, err)
	require.Equal(t, dispatch.StateFailed, res.State)
	require.Contains(t, res.Message, "deadline exceeded")
	<-started
	require.ErrorIs(t, <-ended, context.DeadlineExceeded)
}

func TestNativeReplayAndLimit(t *testing.T) {
	t.Parallel()
	var runs atomic.Int32
	release := make(chan struct{})
	a, srv := startAgent(t, func(ctx context.Context, t *Task) (any, error) {
		runs.Add(1)
		if t.Text() == "hold" {
			<-release
		}
		return t.Input, nil
	})
	post := func(body string) (*http.Response, string) {
		resp, err := srv.Client().Post(srv.URL+dispatch.NativeTasksPath, "application/json", strings.NewReader(body))
		require.NoError(t, err)
		defer resp.Body.Close()
		data, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp, string(data)
	}
	first, body1 := post(`{"task_id":"t-1","capability":"echo","input":"hi","attempt":1}`)
	_, body2 := post(`{"task_id":"t-1","capability":"echo","input":"hi","attempt":1}`)
	require.Equal(t, http.StatusOK, first.StatusCode)
	require.Equal(t, body1, body2)
	require.EqualValues(t, 1, runs.Load(), "a repeated task ID and attempt runs once")
	post(`{"task_id":"t-1","capability":"echo","input":"hi","attempt":2}`)
	require.EqualValues(t, 2, runs.Load(), "a new attempt runs again")

	// max_concurrent is 1: while one task holds the slot, others are told
	// to come back.
	held := make(chan struct{})
	go func() {
		defer close(held)
		post(`{"task_id":"t-2","capability":"echo","input":"hold","attempt":1}`)
	}()
	require.Eventually(t, func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		return len(a.runs) == 1
	}, 5*time.Second, time.Millisecond)
	busy, body := post(`{"task_id":"t-3","capability":"echo","input":"x","attempt":1}`)
	require.Equal(t, http.StatusTooManyRequests, busy.StatusCode, body)
	require.Equal(t, "1", busy.Header.Get("Retry-After"))
	close(release)
	<-held

	bad, _ := post(`{"capability":"echo"}`)
	require.Equal(t, http.StatusBadRequest, bad.StatusCode)
	bad, _ = post(`not json`)
	require.Equal(t, http.StatusBadRequest, bad.StatusCode)
}

func TestSideEndpoints(t *testing.T) {
	t.Parallel()
	_, srv := startAgent(t, testHandler)
	for _, path := range []string{"/health", "/healthz", "/capabilities"} {
		resp, err := srv.Client().Get(srv.URL + path)
		require.NoError(t, err)
		var body map[string]any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, path)
		if path == "/capabilities" {
			require.Equal(t, []any{"echo", "shout"}, body["capabilities"])
		} else {
			require.Equal(t, "ok", body["status"])
		}
	}
	resp, err := srv.Client().Post(srv.URL+dispatch.NativeTasksPath+"/t-1:explode", "application/json", nil)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
}
