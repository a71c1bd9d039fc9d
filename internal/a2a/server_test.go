package a2a

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testCard is a card without the extended-card capability.
func testCard(context.Context) AgentCard {
	return AgentCard{
		Name: "test", Description: "a test agent", Version: "1.0.0",
		SupportedInterfaces: []AgentInterface{{URL: "http://agent.test/", ProtocolBinding: BindingJSONRPC, ProtocolVersion: ProtocolVersion}},
		Capabilities:        AgentCapabilities{Streaming: true},
	}
}

func newTestServer(t *testing.T, b Backend, opts ...ServerOption) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(NewServer(b, testCard, opts...))
	t.Cleanup(srv.Close)
	return srv
}

// post sends a raw JSON-RPC body and decodes the JSON answer.
func post(t *testing.T, url, body string, header ...string) map[string]any {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	var out map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	require.Equal(t, "2.0", out["jsonrpc"])
	return out
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

func TestServerErrors(t *testing.T) {
	t.Parallel()
	b := newFakeBackend()
	done, err := b.SendMessage(t.Context(), SendMessageRequest{Message: Message{MessageID: "m", Parts: []Part{TextPart("instant")}}})
	require.NoError(t, err)
	srv := newTestServer(t, b)

	req := func(id, method, params string) string {
		return `{"jsonrpc":"2.0","id":` + id + `,"method":"` + method + `","params":` + params + `}`
	}
	tests := []struct {
		name   string
		body   string
		header []string
		code   float64
		id     any
		detail string
	}{
		{"malformed JSON", `{"jsonrpc":"2.0","id":1,`, nil, CodeParseError, nil, "not valid JSON"},
		{"empty body", ``, nil, CodeParseError, nil, ""},
		{"batch", `[` + req("1", "GetTask", `{"id":"x"}`) + `]`, nil, CodeInvalidRequest, nil, "batch"},
		{"empty batch", `[]`, nil, CodeInvalidRequest, nil, "batch"},
		{"not an object", `"GetTask"`, nil, CodeInvalidRequest, nil, "object"},
		{"notification", `{"jsonrpc":"2.0","method":"GetTask","params":{"id":"x"}}`, nil, CodeInvalidRequest, nil, "no id"},
		{"object id", `{"jsonrpc":"2.0","id":{},"method":"GetTask","params":{"id":"x"}}`, nil, CodeInvalidRequest, nil, "id must be"},
		{"wrong version", `{"jsonrpc":"1.0","id":7,"method":"GetTask","params":{"id":"x"}}`, nil, CodeInvalidRequest, 7.0, `"2.0"`},
		{"no method", `{"jsonrpc":"2.0","id":"a"}`, nil, CodeInvalidRequest, "a", "method"},
		{"unknown method", req(`"a"`, "tasks/explode", `{}`), nil, CodeMethodNotFound, "a", "tasks/explode"},
		{"params array", req("1", "GetTask", `["x"]`), nil, CodeInvalidParams, 1.0, "object"},
		{"params missing", `{"jsonrpc":"2.0","id":1,"method":"GetTask"}`, nil, CodeInvalidParams, 1.0, "required"},
		{"no task id", req("1", "GetTask", `{}`), nil, CodeInvalidParams, 1.0, "id is required"},
		{"wrong param type", req("1", "SendMessage", `{"message":"hi"}`), nil, CodeInvalidParams, 1.0, ""},
		{"no parts", req("1", "SendMessage", `{"message":{"messageId":"m","role":"ROLE_USER","parts":[]}}`), nil, CodeInvalidParams, 1.0, "parts"},
		{"no message id", req("1", "SendMessage", `{"message":{"role":"ROLE_USER","parts":[{"text":"x"}]}}`), nil, CodeInvalidParams, 1.0, "messageId"},
		{"empty part", req("1", "SendMessage", `{"message":{"messageId":"m","parts":[{}]}}`), nil, CodeInvalidParams, 1.0, "part has no"},
		{"unknown task", req("1", "GetTask", `{"id":"nope"}`), nil, CodeTaskNotFound, 1.0, "task nope: task not found"},
		{"legacy unknown task", req("1", "tasks/get", `{"id":"nope"}`), nil, CodeTaskNotFound, 1.0, ""},
		{"cancel finished", req("1", "CancelTask", `{"id":"`+done.ID+`"}`), nil, CodeTaskNotCancelable, 1.0, ""},
		{"continue finished", req("1", "SendMessage", `{"message":{"messageId":"m","taskId":"`+done.ID+`","parts":[{"text":"x"}]}}`), nil, CodeUnsupportedOperation, 1.0, ""},
		{"push config", req("1", "CreateTaskPushNotificationConfig", `{}`), nil, CodePushNotificationNotSupported, 1.0, ""},
		{"legacy push config", req("1", "tasks/pushNotificationConfig/set", `{}`), nil, CodePushNotificationNotSupported, 1.0, ""},
		{"push in send", req("1", "SendMessage", `{"message":{"messageId":"m","parts":[{"text":"x"}]},"configuration":{"taskPushNotificationConfig":{"url":"https://x"}}}`), nil, CodePushNotificationNotSupported, 1.0, ""},
		{"list tasks", req("1", "ListTasks", `{}`), nil, CodeUnsupportedOperation, 1.0, "ListTasks"},
		{"extended card", req("1", "GetExtendedAgentCard", `{}`), nil, CodeExtendedAgentCardNotConfigured, 1.0, ""},
		{"unsupported version", req("1", "GetTask", `{"id":"x"}`), []string{VersionHeader, "2.0"}, CodeVersionNotSupported, 1.0, `"2.0"`},
		{"backend failure hidden", req("1", "SendMessage", `{"message":{"messageId":"m","parts":[{"text":"boom"}]}}`), nil, CodeInternalError, 1.0, "internal error"},
		{"subscribe finished", req("1", "SubscribeToTask", `{"id":"`+done.ID+`"}`), nil, CodeUnsupportedOperation, 1.0, "already completed"},
		{"subscribe unknown", req("1", "tasks/resubscribe", `{"id":"nope"}`), nil, CodeTaskNotFound, 1.0, ""},
		{"stream bad params", req("1", "SendStreamingMessage", `{}`), nil, CodeInvalidParams, 1.0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out := post(t, srv.URL, tt.body, tt.header...)
			require.Nil(t, out["result"])
			require.Equal(t, tt.code, dig(out, "error", "code"), "error: %v", out["error"])
			require.Equal(t, tt.id, out["id"])
			require.Contains(t, dig(out, "error", "message"), tt.detail)
			require.NotContains(t, dig(out, "error", "message"), "10.0.0.7")
		})
	}
}

func TestServerRejectsGet(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, newFakeBackend())
	resp, err := http.Get(srv.URL)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
	require.Equal(t, http.MethodPost, resp.Header.Get("Allow"))
}

// TestServerDialects checks that each request is answered in the shapes of
// the version it speaks.
func TestServerDialects(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, newFakeBackend())
	send := func(method string) string {
		return `{"jsonrpc":"2.0","id":"r1","method":"` + method + `","params":{"message":{"messageId":"m1","role":"user","parts":[{"kind":"text","text":"instant"}]}}}`
	}
	tests := []struct {
		name   string
		method string
		header []string
		legacy bool
	}{
		{"v1 by method name", MethodSendMessage, nil, false},
		{"v0.3 by method name", LegacyMethodSendMessage, nil, true},
		{"v0.3 by header", MethodSendMessage, []string{VersionHeader, "0.3"}, true},
		{"v1 by header", LegacyMethodSendMessage, []string{VersionHeader, "1.0"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out := post(t, srv.URL, send(tt.method), tt.header...)
			require.Equal(t, "r1", out["id"])
			task := dig(out, "result", "task")
			if tt.legacy {
				task = out["result"]
				require.Equal(t, "task", dig(task, "kind"))
				require.Equal(t, "completed", dig(task, "status", "state"))
				require.Equal(t, "agent", dig(task, "status", "message", "role"))
				require.Equal(t, "text", dig(task, "artifacts", 0, "parts", 0, "kind"))
				require.Equal(t, "user", dig(task, "history", 0, "role"))
			} else {
				require.NotNil(t, task, "v1 results are wrapped: %v", out)
				require.Nil(t, dig(task, "kind"))
				require.Equal(t, "TASK_STATE_COMPLETED", dig(task, "status", "state"))
				require.Equal(t, "ROLE_AGENT", dig(task, "status", "message", "role"))
				require.Nil(t, dig(task, "artifacts", 0, "parts", 0, "kind"))
				require.Equal(t, "ROLE_USER", dig(task, "history", 0, "role"))
			}
			require.Equal(t, "instant", dig(task, "artifacts", 0, "parts", 0, "text"))
		})
	}
}

func TestServerGetTaskHistoryLength(t *testing.T) {
	t.Parallel()
	b := newFakeBackend()
	srv := newTestServer(t, b)
	task, err := b.SendMessage(t.Context(), SendMessageRequest{Message: Message{MessageID: "m1", Parts: []Part{TextPart("one")}}})
	require.NoError(t, err)
	_, err = b.SendMessage(t.Context(), SendMessageRequest{Message: Message{MessageID: "m2", TaskID: task.ID, Parts: []Part{TextPart("two")}}})
	require.NoError(t, err)

	for _, tt := range []struct {
		params string
		want   []string
	}{
		{`{"id":"` + task.ID + `"}`, []string{"m1", "m2"}},
		{`{"id":"` + task.ID + `","historyLength":1}`, []string{"m2"}},
		{`{"id":"` + task.ID + `","historyLength":0}`, nil},
	} {
		out := post(t, srv.URL, `{"jsonrpc":"2.0","id":1,"method":"GetTask","params":`+tt.params+`}`)
		var got []string
		history, _ := dig(out, "result", "history").([]any)
		for _, m := range history {
			got = append(got, dig(m, "messageId").(string))
		}
		require.Equal(t, tt.want, got, tt.params)
	}
}

// TestServerBlockingSend checks that SendMessage waits for a final state
// unless the client asks to return immediately.
func TestServerBlockingSend(t *testing.T) {
	t.Parallel()
	b := newFakeBackend()
	srv := newTestServer(t, b)
	client := NewClient(srv.URL, srv.Client())
	msg := Message{MessageID: "m1", Role: RoleUser, Parts: []Part{TextPart("work")}}

	res, err := client.SendMessage(t.Context(), SendMessageRequest{Message: msg, Configuration: &SendMessageConfiguration{ReturnImmediately: true}})
	require.NoError(t, err)
	require.Equal(t, TaskStateSubmitted, res.Task.Status.State)
	require.Empty(t, b.subscribed, "a non-blocking send must not wait")

	type result struct {
		ev  StreamEvent
		err error
	}
	got := make(chan result, 1)
	go func() {
		ev, err := client.SendMessage(t.Context(), SendMessageRequest{Message: msg})
		got <- result{ev, err}
	}()
	id := <-b.subscribed
	b.setState(id, TaskStateWorking, "")
	b.setState(id, TaskStateInputRequired, "which language?")
	r := <-got
	require.NoError(t, r.err)
	require.Equal(t, id, r.ev.Task.ID)
	require.Equal(t, TaskStateInputRequired, r.ev.Task.Status.State)
	require.Equal(t, "which language?", r.ev.Task.Status.Message.Text())
}

// readEvents reads a raw SSE response into decoded JSON-RPC responses.
func readEvents(t *testing.T, resp *http.Response) []map[string]any {
	t.Helper()
	defer resp.Body.Close()
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	var events []map[string]any
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if data, ok := strings.CutPrefix(line, "data: "); ok {
			var ev map[string]any
			require.NoError(t, json.Unmarshal([]byte(data), &ev))
			events = append(events, ev)
		}
	}
	require.NoError(t, sc.Err())
	return events
}

func openRawStream(t *testing.T, url, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	return resp
}

// TestServerStreams drives a task through a stream in both dialects and
// checks the event shapes and that the stream closes at the final state.
func TestServerStreams(t *testing.T) {
	t.Parallel()
	tests := []struct {
		method string
		legacy bool
	}{
		{MethodSendStreamingMessage, false},
		{LegacyMethodSendStreamingMessage, true},
	}
	for _, tt := range tests {
		t.Run(tt.method, func(t *testing.T) {
			t.Parallel()
			b := newFakeBackend()
			srv := newTestServer(t, b)
			resp := openRawStream(t, srv.URL, `{"jsonrpc":"2.0","id":5,"method":"`+tt.method+`","params":{"message":{"messageId":"m1","parts":[{"text":"go"}]}}}`)
			id := <-b.subscribed
			b.setState(id, TaskStateWorking, "")
			b.publish(id, StreamEvent{ArtifactUpdate: &TaskArtifactUpdateEvent{Artifact: Artifact{ArtifactID: "a1", Parts: []Part{DataPart(json.RawMessage(`{"n":1}`))}}}})
			b.setState(id, TaskStateCompleted, "")
			events := readEvents(t, resp)
			require.Len(t, events, 4)
			for _, ev := range events {
				require.Equal(t, 5.0, ev["id"])
			}
			if tt.legacy {
				require.Equal(t, "task", dig(events[0], "result", "kind"))
				require.Equal(t, "status-update", dig(events[1], "result", "kind"))
				require.Equal(t, false, dig(events[1], "result", "final"))
				require.Equal(t, "artifact-update", dig(events[2], "result", "kind"))
				require.Equal(t, 1.0, dig(events[2], "result", "artifact", "parts", 0, "data", "n"))
				require.Equal(t, "completed", dig(events[3], "result", "status", "state"))
				require.Equal(t, true, dig(events[3], "result", "final"))
			} else {
				require.Equal(t, id, dig(events[0], "result", "task", "id"))
				require.Equal(t, "TASK_STATE_WORKING", dig(events[1], "result", "statusUpdate", "status", "state"))
				require.Equal(t, 1.0, dig(events[2], "result", "artifactUpdate", "artifact", "parts", 0, "data", "n"))
				require.Equal(t, "TASK_STATE_COMPLETED", dig(events[3], "result", "statusUpdate", "status", "state"))
				require.Nil(t, dig(events[3], "result", "statusUpdate", "final"))
			}
		})
	}
}

func TestServerSubscribeToTask(t *testing.T) {
	t.Parallel()
	b := newFakeBackend()
	srv := newTestServer(t, b)
	task, err := b.SendMessage(t.Context(), SendMessageRequest{Message: Message{MessageID: "m1", Parts: []Part{TextPart("go")}}})
	require.NoError(t, err)
	resp := openRawStream(t, srv.URL, `{"jsonrpc":"2.0","id":1,"method":"SubscribeToTask","params":{"id":"`+task.ID+`"}}`)
	<-b.subscribed
	b.setState(task.ID, TaskStateAuthRequired, "log in first")
	events := readEvents(t, resp)
	require.Len(t, events, 2)
	require.Equal(t, "TASK_STATE_SUBMITTED", dig(events[0], "result", "task", "status", "state"))
	require.Equal(t, "TASK_STATE_AUTH_REQUIRED", dig(events[1], "result", "statusUpdate", "status", "state"))
}

func TestServerStreamKeepAlive(t *testing.T) {
	t.Parallel()
	b := newFakeBackend()
	srv := newTestServer(t, b, WithKeepAlive(time.Millisecond))
	resp := openRawStream(t, srv.URL, `{"jsonrpc":"2.0","id":1,"method":"SendStreamingMessage","params":{"message":{"messageId":"m1","parts":[{"text":"go"}]}}}`)
	defer resp.Body.Close()
	id := <-b.subscribed
	r := bufio.NewReader(resp.Body)
	for {
		line, err := r.ReadString('\n')
		require.NoError(t, err)
		if line == ": keep-alive\n" {
			break
		}
	}
	b.setState(id, TaskStateCompleted, "")
	_, err := io.Copy(io.Discard, r)
	require.NoError(t, err)
}

func TestServerExtendedCard(t *testing.T) {
	t.Parallel()
	card := func(ctx context.Context) AgentCard {
		c := testCard(ctx)
		c.Capabilities.ExtendedAgentCard = true
		return c
	}
	srv := httptest.NewServer(NewServer(newFakeBackend(), card))
	defer srv.Close()
	out := post(t, srv.URL, `{"jsonrpc":"2.0","id":1,"method":"agent/getAuthenticatedExtendedCard"}`)
	require.Equal(t, "test", dig(out, "result", "name"))
	require.Equal(t, "http://agent.test/", dig(out, "result", "url"))
}

// finishedBackend answers every subscription with a task that is already
// completed, as when an agent finishes before the stream opens.
type finishedBackend struct{ *fakeBackend }

func (b finishedBackend) Subscribe(_ context.Context, id string) (<-chan StreamEvent, error) {
	ch := make(chan StreamEvent, 1)
	ch <- StreamEvent{Task: &Task{ID: id, ContextID: "ctx-1", Status: TaskStatus{State: TaskStateCompleted}}}
	close(ch)
	return ch, nil
}

// A v0.3 stream always ends with a status update marked final, even when the
// task finished before the stream opened; a v1.0 stream just ends.
func TestServerStreamOfFinishedTask(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		method string
		events int
	}{
		{LegacyMethodSendStreamingMessage, 2},
		{MethodSendStreamingMessage, 1},
	} {
		t.Run(tt.method, func(t *testing.T) {
			t.Parallel()
			srv := newTestServer(t, finishedBackend{newFakeBackend()})
			resp := openRawStream(t, srv.URL, `{"jsonrpc":"2.0","id":7,"method":"`+tt.method+`","params":{"message":{"messageId":"m1","parts":[{"text":"go"}]}}}`)
			events := readEvents(t, resp)
			require.Len(t, events, tt.events)
			if tt.events == 2 {
				require.Equal(t, "task", dig(events[0], "result", "kind"))
				require.Equal(t, "status-update", dig(events[1], "result", "kind"))
				require.Equal(t, "completed", dig(events[1], "result", "status", "state"))
				require.Equal(t, true, dig(events[1], "result", "final"))
			}
		})
	}
}
