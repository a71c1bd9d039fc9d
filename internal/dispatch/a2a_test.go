package dispatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ossa-platform/ossa/internal/a2a"
	"github.com/ossa-platform/ossa/internal/storage"
)

// rpcCall is a JSON-RPC call a fake A2A agent received.
type rpcCall struct {
	method  string
	version string
	params  map[string]any
}

// fakeA2A is an A2A agent written the way a foreign server would answer:
// raw JSON, scripted per test.
type fakeA2A struct {
	// card is the Agent Card JSON; empty serves 404.
	card string
	// rpc answers a unary call with a raw result, or with an error when
	// code is non-zero. n counts calls of the method, from 1.
	rpc func(method string, n int, params map[string]any) (result string, code int, msg string)
	// stream writes the SSE events of SendStreamingMessage, each one a raw
	// result.
	stream    []string
	calls     chan rpcCall
	cardFetch atomic.Int32
	counts    map[string]*atomic.Int32
}

func (f *fakeA2A) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet {
		f.cardFetch.Add(1)
		if f.card == "" || r.URL.Path != a2a.WellKnownCardPath {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, f.card)
		return
	}
	var req struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
		Params map[string]any  `json:"params"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f.calls <- rpcCall{method: req.Method, version: r.Header.Get(a2a.VersionHeader), params: req.Params}
	if req.Method == a2a.MethodSendStreamingMessage && f.stream != nil {
		w.Header().Set("Content-Type", "text/event-stream")
		for _, ev := range f.stream {
			_, _ = fmt.Fprintf(w, "data: {\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":%s}\n\n", req.ID, ev)
		}
		return
	}
	counter, ok := f.counts[req.Method]
	if !ok {
		counter = &atomic.Int32{}
	}
	result, code, msg := f.rpc(req.Method, int(counter.Add(1)), req.Params)
	w.Header().Set("Content-Type", "application/json")
	if code != 0 {
		_, _ = fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"error":{"code":%d,"message":%q}}`, req.ID, code, msg)
		return
	}
	_, _ = fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"result":%s}`, req.ID, result)
}

func startA2A(t *testing.T, f *fakeA2A) storage.Agent {
	t.Helper()
	f.calls = make(chan rpcCall, 64)
	f.counts = map[string]*atomic.Int32{}
	for _, m := range []string{a2a.MethodSendMessage, a2a.MethodGetTask, a2a.MethodCancelTask, a2a.LegacyMethodSendMessage, a2a.LegacyMethodGetTask} {
		f.counts[m] = &atomic.Int32{}
	}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return storage.Agent{ID: "agent-a2a", Protocol: ProtocolA2A, Endpoint: srv.URL}
}

// received drains the calls a fake agent has received so far.
func received(f *fakeA2A) []rpcCall {
	var out []rpcCall
	for {
		select {
		case c := <-f.calls:
			out = append(out, c)
		default:
			return out
		}
	}
}

func testDispatcher() Dispatcher {
	return New(nil, WithPollInterval(time.Millisecond, 4*time.Millisecond))
}

func task(id, state, extra string) string {
	return `{"id":"` + id + `","contextId":"ctx","status":{"state":"` + state + `"` + extra + `}}`
}

func drainUpdates(ch chan Update) []Update {
	var out []Update
	for {
		select {
		case u := <-ch:
			out = append(out, u)
		default:
			return out
		}
	}
}

func TestA2APolling(t *testing.T) {
	t.Parallel()
	f := &fakeA2A{rpc: func(method string, n int, _ map[string]any) (string, int, string) {
		switch {
		case method == a2a.MethodSendMessage:
			return `{"task":` + task("r-1", "TASK_STATE_SUBMITTED", "") + `}`, 0, ""
		case method == a2a.MethodGetTask && n == 1:
			return task("r-1", "TASK_STATE_WORKING", `,"message":{"messageId":"s","role":"ROLE_AGENT","parts":[{"text":"thinking"}]}`), 0, ""
		case method == a2a.MethodGetTask:
			return `{"id":"r-1","contextId":"ctx","status":{"state":"TASK_STATE_COMPLETED"},"artifacts":[` +
				`{"artifactId":"log","parts":[{"text":"step 1"}]},{"artifactId":"a","name":"output","parts":[{"data":{"n":2}}]}]}`, 0, ""
		}
		return "", a2a.CodeMethodNotFound, "no"
	}}
	agent := startA2A(t, f)
	d := testDispatcher()
	updates := make(chan Update, 8)
	deadline := time.Now().Add(time.Minute).UTC()
	res, err := d.Dispatch(t.Context(), Request{TaskID: "t-1", Capability: "sum", Input: json.RawMessage(`{"a":1,"b":1}`), Attempt: 3, Deadline: deadline, Agent: agent}, updates)
	require.NoError(t, err)
	require.Equal(t, StateCompleted, res.State)
	require.Equal(t, "r-1", res.RemoteID)
	require.JSONEq(t, `{"n":2}`, string(res.Output))
	require.Equal(t, []Artifact{{ID: "log", Text: "step 1"}, {ID: "a", Name: "output", Data: json.RawMessage(`{"n":2}`)}}, res.Artifacts)
	require.Equal(t, []Update{{State: "submitted"}, {State: "working", Message: "thinking"}, {State: StateCompleted}}, drainUpdates(updates))

	calls := received(f)
	require.Equal(t, a2a.MethodSendMessage, calls[0].method)
	require.Equal(t, a2a.ProtocolVersion, calls[0].version)
	require.Equal(t, true, dig(calls[0].params, "configuration", "returnImmediately"))
	require.Equal(t, "ROLE_USER", dig(calls[0].params, "message", "role"))
	require.Equal(t, "t-1-3", dig(calls[0].params, "message", "messageId"))
	require.Equal(t, map[string]any{"a": 1.0, "b": 1.0}, dig(calls[0].params, "message", "parts", 0, "data"))
	require.Equal(t, map[string]any{"taskId": "t-1", "capability": "sum", "attempt": 3.0, "deadline": deadline.Format(time.RFC3339Nano)},
		dig(calls[0].params, "message", "metadata", "ossa"))
	require.Equal(t, a2a.MethodGetTask, calls[1].method)
	require.Equal(t, "r-1", dig(calls[1].params, "id"))

	// The missing card is remembered, not fetched for every task.
	fetches := f.cardFetch.Load()
	require.Positive(t, fetches)
	_, err = d.Dispatch(t.Context(), Request{TaskID: "t-2", Capability: "sum", Attempt: 1, Agent: agent}, nil)
	require.NoError(t, err)
	require.Equal(t, fetches, f.cardFetch.Load())
}

const streamingCard = `{"name":"s","description":"d","version":"1","supportedInterfaces":[],"capabilities":{"streaming":true},` +
	`"defaultInputModes":[],"defaultOutputModes":[],"skills":[]}`

func TestA2AStreaming(t *testing.T) {
	t.Parallel()
	f := &fakeA2A{card: streamingCard, stream: []string{
		`{"task":` + task("r-2", "TASK_STATE_SUBMITTED", "") + `}`,
		`{"statusUpdate":{"taskId":"r-2","contextId":"ctx","status":{"state":"TASK_STATE_WORKING"}}}`,
		`{"artifactUpdate":{"taskId":"r-2","contextId":"ctx","artifact":{"artifactId":"a","parts":[{"text":"Hello, "}]}}}`,
		`{"artifactUpdate":{"taskId":"r-2","contextId":"ctx","append":true,"lastChunk":true,"artifact":{"artifactId":"a","parts":[{"text":"world"}]}}}`,
		`{"statusUpdate":{"taskId":"r-2","contextId":"ctx","status":{"state":"TASK_STATE_COMPLETED"}}}`,
	}}
	agent := startA2A(t, f)
	updates := make(chan Update, 16)
	res, err := testDispatcher().Dispatch(t.Context(), Request{TaskID: "t", Capability: "greet", Input: json.RawMessage(`"hi"`), Attempt: 1, Agent: agent}, updates)
	require.NoError(t, err)
	require.Equal(t, Result{State: StateCompleted, RemoteID: "r-2", Output: json.RawMessage(`"Hello, world"`),
		Artifacts: []Artifact{{ID: "a", Text: "Hello, world"}}}, res)
	require.Equal(t, []Update{
		{State: "submitted"}, {State: "working"},
		{Artifact: &Artifact{ID: "a", Text: "Hello, "}}, {Artifact: &Artifact{ID: "a", Text: "world"}},
		{State: StateCompleted},
	}, drainUpdates(updates))
	calls := received(f)
	require.Len(t, calls, 1)
	require.Equal(t, a2a.MethodSendStreamingMessage, calls[0].method)
	require.Equal(t, "hi", dig(calls[0].params, "message", "parts", 0, "text"))
	require.Nil(t, dig(calls[0].params, "configuration", "returnImmediately"))
}

func TestA2AStreamBreaksThenPolls(t *testing.T) {
	t.Parallel()
	f := &fakeA2A{card: streamingCard,
		stream: []string{`{"task":` + task("r-3", "TASK_STATE_WORKING", "") + `}`},
		rpc: func(method string, _ int, _ map[string]any) (string, int, string) {
			return task("r-3", "TASK_STATE_FAILED", `,"message":{"messageId":"m","role":"ROLE_AGENT","parts":[{"text":"out of paper"}]}`), 0, ""
		},
	}
	agent := startA2A(t, f)
	res, err := testDispatcher().Dispatch(t.Context(), Request{TaskID: "t", Capability: "print", Attempt: 1, Agent: agent}, nil)
	require.NoError(t, err)
	require.Equal(t, Result{State: StateFailed, RemoteID: "r-3", Message: "out of paper"}, res)
	calls := received(f)
	require.Equal(t, a2a.MethodGetTask, calls[len(calls)-1].method)
}

func TestA2ALegacyAgent(t *testing.T) {
	t.Parallel()
	f := &fakeA2A{rpc: func(method string, _ int, _ map[string]any) (string, int, string) {
		if method != a2a.LegacyMethodSendMessage {
			return "", a2a.CodeMethodNotFound, "Method not found"
		}
		return `{"kind":"task","id":"r-4","contextId":"c","status":{"state":"completed",` +
			`"message":{"kind":"message","messageId":"m","role":"agent","parts":[{"kind":"text","text":"done"}]}}}`, 0, ""
	}}
	agent := startA2A(t, f)
	res, err := testDispatcher().Dispatch(t.Context(), Request{TaskID: "t", Capability: "c", Input: json.RawMessage(`[1,2]`), Attempt: 1, Agent: agent}, nil)
	require.NoError(t, err)
	require.Equal(t, Result{State: StateCompleted, RemoteID: "r-4", Output: json.RawMessage(`"done"`)}, res)
	calls := received(f)
	require.Len(t, calls, 2)
	legacy := calls[1]
	require.Equal(t, a2a.LegacyMethodSendMessage, legacy.method)
	require.Equal(t, a2a.LegacyVersion, legacy.version)
	require.Equal(t, "user", dig(legacy.params, "message", "role"))
	require.Equal(t, "message", dig(legacy.params, "message", "kind"))
	require.Equal(t, "data", dig(legacy.params, "message", "parts", 0, "kind"))
	require.Equal(t, []any{1.0, 2.0}, dig(legacy.params, "message", "parts", 0, "data", "value"))
	require.Equal(t, false, dig(legacy.params, "configuration", "blocking"))
}

func TestA2AReplies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		result string
		want   Result
	}{
		{"message instead of task", `{"message":{"messageId":"m","role":"ROLE_AGENT","parts":[{"text":"hi there"}]}}`,
			Result{State: StateCompleted, Output: json.RawMessage(`"hi there"`)}},
		{"input required", `{"task":` + task("r-5", "TASK_STATE_INPUT_REQUIRED", `,"message":{"messageId":"m","role":"ROLE_AGENT","parts":[{"text":"which file?"}]}`) + `}`,
			Result{State: StateInputRequired, RemoteID: "r-5", Message: "which file?"}},
		{"rejected", `{"task":` + task("r-6", "TASK_STATE_REJECTED", "") + `}`, Result{State: StateRejected, RemoteID: "r-6"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			agent := startA2A(t, &fakeA2A{rpc: func(string, int, map[string]any) (string, int, string) { return tt.result, 0, "" }})
			res, err := testDispatcher().Dispatch(t.Context(), Request{TaskID: "t", Capability: "c", Attempt: 1, Agent: agent}, nil)
			require.NoError(t, err)
			require.Equal(t, tt.want, res)
		})
	}
}

func TestA2AFaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		handler   http.HandlerFunc
		status    int
		permanent bool
		detail    string
	}{
		{"server error", httpAnswer(500, "text/plain", "model server down"), 500, false, "model server down"},
		{"unauthorized", httpAnswer(401, "text/plain", "who are you"), 401, true, "who are you"},
		{"bad request", httpAnswer(400, "application/json", `{"error":"bad"}`), 400, true, "bad"},
		{"garbage", httpAnswer(200, "application/json", "<html>not json</html>"), 200, false, "<html>not json</html>"},
		{"no result", httpAnswer(200, "application/json", `{"jsonrpc":"2.0","id":"1"}`), 200, false, "neither result nor error"},
		{"unknown state", rpcAnswer(`{"task":`+task("r", "pondering", "")+`}`, 0), 200, false, "pondering"},
		{"task without id", rpcAnswer(`{"task":{"status":{"state":"TASK_STATE_WORKING"}}}`, 0), 200, false, "no id"},
		{"invalid params", rpcAnswer("", a2a.CodeInvalidParams), a2a.CodeInvalidParams, true, "rpc says no"},
		{"content type", rpcAnswer("", a2a.CodeContentTypeNotSupported), a2a.CodeContentTypeNotSupported, true, "rpc says no"},
		{"internal error", rpcAnswer("", a2a.CodeInternalError), a2a.CodeInternalError, false, "rpc says no"},
		{"task lost", rpcAnswer("", a2a.CodeTaskNotFound), a2a.CodeTaskNotFound, false, "rpc says no"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			agent := storage.Agent{ID: "a", Protocol: ProtocolA2A, Endpoint: srv.URL}
			_, err := testDispatcher().Dispatch(t.Context(), Request{TaskID: "t", Capability: "c", Attempt: 1, Agent: agent}, nil)
			var ae *AgentError
			require.ErrorAs(t, err, &ae)
			require.Equal(t, ProtocolA2A, ae.Protocol)
			require.Equal(t, tt.status, ae.Status)
			require.Contains(t, ae.Detail, tt.detail)
			require.Equal(t, tt.permanent, errors.Is(err, ErrPermanent))
		})
	}
}

// httpAnswer answers every POST with a fixed body; card lookups get 404.
func httpAnswer(status int, ctype, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", ctype)
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

// rpcAnswer answers every call with result, or with error code.
func rpcAnswer(result string, code int) http.HandlerFunc {
	if code != 0 {
		return httpAnswer(200, "application/json", fmt.Sprintf(`{"jsonrpc":"2.0","id":"1","error":{"code":%d,"message":"rpc says no"}}`, code))
	}
	return httpAnswer(200, "application/json", `{"jsonrpc":"2.0","id":"1","result":`+result+`}`)
}

// TestA2AHangCancels checks that an agent whose task never finishes ends
// the attempt at its deadline and is sent CancelTask for it.
func TestA2AHangCancels(t *testing.T) {
	t.Parallel()
	f := &fakeA2A{rpc: func(method string, _ int, _ map[string]any) (string, int, string) {
		switch method {
		case a2a.MethodSendMessage:
			return `{"task":` + task("r-9", "TASK_STATE_WORKING", "") + `}`, 0, ""
		case a2a.MethodCancelTask:
			return task("r-9", "TASK_STATE_CANCELED", ""), 0, ""
		}
		return task("r-9", "TASK_STATE_WORKING", ""), 0, ""
	}}
	agent := startA2A(t, f)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err := testDispatcher().Dispatch(ctx, Request{TaskID: "t", Capability: "c", Attempt: 1, Agent: agent}, nil)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.NotErrorIs(t, err, ErrPermanent)
	calls := received(f)
	last := calls[len(calls)-1]
	require.Equal(t, a2a.MethodCancelTask, last.method)
	require.Equal(t, "r-9", dig(last.params, "id"))
}

func TestA2ACancel(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		code int
		ok   bool
	}{
		{"canceled", 0, true},
		{"already finished", a2a.CodeTaskNotCancelable, true},
		{"unknown", a2a.CodeTaskNotFound, true},
		{"agent failure", a2a.CodeInternalError, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeA2A{rpc: func(string, int, map[string]any) (string, int, string) {
				return task("r-1", "TASK_STATE_CANCELED", ""), tt.code, "no"
			}}
			agent := startA2A(t, f)
			err := testDispatcher().Cancel(t.Context(), agent, "t", "r-1")
			require.Equal(t, tt.ok, err == nil, "err: %v", err)
			call := <-f.calls
			require.Equal(t, a2a.MethodCancelTask, call.method)
			require.Equal(t, "r-1", dig(call.params, "id"))
		})
	}
	err := testDispatcher().Cancel(t.Context(), storage.Agent{ID: "a", Protocol: ProtocolA2A, Endpoint: "http://127.0.0.1:1"}, "t", "")
	require.ErrorIs(t, err, ErrPermanent)
}

func TestCardURLs(t *testing.T) {
	t.Parallel()
	require.Equal(t, []string{"http://h:1/.well-known/agent-card.json"}, cardURLs("http://h:1/"))
	require.Equal(t, []string{"http://h:1/a2a/.well-known/agent-card.json", "http://h:1/.well-known/agent-card.json"}, cardURLs("http://h:1/a2a"))
}

// dig walks a decoded JSON value along keys and indexes.
func dig(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			s, _ := v.([]any)
			if k >= len(s) {
				return nil
			}
			v = s[k]
		}
	}
	return v
}
