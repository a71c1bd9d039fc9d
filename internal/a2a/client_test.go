package a2a

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestClientAgainstServer(t *testing.T) {
	t.Parallel()
	for _, legacy := range []bool{false, true} {
		t.Run(map[bool]string{false: "v1.0", true: "v0.3"}[legacy], func(t *testing.T) {
			t.Parallel()
			b := newFakeBackend()
			srv := newTestServer(t, b)
			var opts []ClientOption
			if legacy {
				opts = append(opts, WithLegacyDialect())
			}
			c := NewClient(srv.URL, srv.Client(), opts...)
			ctx := t.Context()

			res, err := c.SendMessage(ctx, SendMessageRequest{Message: Message{MessageID: "m1", Role: RoleUser, Parts: []Part{TextPart("instant")}}})
			require.NoError(t, err)
			require.Equal(t, TaskStateCompleted, res.Task.Status.State)
			require.Equal(t, "instant", res.Task.Artifacts[0].Parts[0].Text)

			got, err := c.GetTask(ctx, res.Task.ID, nil)
			require.NoError(t, err)
			require.Equal(t, res.Task.ID, got.ID)
			require.Equal(t, RoleUser, got.History[0].Role)

			_, err = c.CancelTask(ctx, res.Task.ID)
			require.ErrorIs(t, err, ErrTaskNotCancelable)
			_, err = c.GetTask(ctx, "nope", nil)
			require.ErrorIs(t, err, ErrTaskNotFound)
			var rpcErr *Error
			require.ErrorAs(t, err, &rpcErr)
			require.Equal(t, CodeTaskNotFound, rpcErr.Code)

			stream, err := c.SendStreamingMessage(ctx, SendMessageRequest{Message: Message{MessageID: "m2", Role: RoleUser, Parts: []Part{TextPart("go")}}})
			require.NoError(t, err)
			defer stream.Close()
			first, err := stream.Next()
			require.NoError(t, err)
			require.Equal(t, TaskStateSubmitted, first.State())
			<-b.subscribed
			canceled, err := c.CancelTask(ctx, first.Task.ID)
			require.NoError(t, err)
			require.Equal(t, TaskStateCanceled, canceled.Status.State)
			ev, err := stream.Next()
			require.NoError(t, err)
			require.Equal(t, TaskStateCanceled, ev.State())
			_, err = stream.Next()
			require.ErrorIs(t, err, io.EOF)

			_, err = c.SubscribeToTask(ctx, first.Task.ID)
			require.ErrorIs(t, err, ErrUnsupportedOperation, "subscribing to a finished task")
			require.Equal(t, legacy, c.Legacy())
		})
	}
}

// legacyAgent is an agent that knows only the v0.3 methods, answering the
// way v0.3 servers do.
func legacyAgent(t *testing.T, calls *atomic.Int32) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		var req struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
		}
		require.NoError(t, json.NewDecoder(r.Body).Decode(&req))
		w.Header().Set("Content-Type", "application/json")
		switch req.Method {
		case "message/send", "tasks/get":
			_, _ = w.Write([]byte(`{"jsonrpc":"2.0","id":` + string(req.ID) + `,"result":{"kind":"task","id":"t1","contextId":"c1",` +
				`"status":{"state":"completed"},"artifacts":[{"artifactId":"a","parts":[{"kind":"data","data":{"ok":true}}]}]}}`))
		default:
			_, _ = w.Write([]byte(`{"jsonrpc":"2.0","id":` + string(req.ID) + `,"error":{"code":-32601,"message":"Method not found"}}`))
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestClientFallsBackToV03(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	srv := legacyAgent(t, &calls)
	c := NewClient(srv.URL, srv.Client())
	res, err := c.SendMessage(t.Context(), SendMessageRequest{Message: Message{MessageID: "m", Role: RoleUser, Parts: []Part{DataPart(json.RawMessage(`{"q":1}`))}}})
	require.NoError(t, err)
	require.Equal(t, TaskStateCompleted, res.Task.Status.State)
	require.JSONEq(t, `{"ok":true}`, string(res.Task.Artifacts[0].Parts[0].Data))
	require.True(t, c.Legacy())
	require.EqualValues(t, 2, calls.Load(), "one v1.0 attempt, one v0.3 retry")

	_, err = c.GetTask(t.Context(), "t1", nil)
	require.NoError(t, err)
	require.EqualValues(t, 3, calls.Load(), "later calls go straight to v0.3")

	_, err = c.CancelTask(t.Context(), "t1")
	require.ErrorIs(t, err, ErrMethodNotFound)
}

func TestClientFaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		status int
		ctype  string
		body   string
		check  func(t *testing.T, err error)
	}{
		{"server error", 503, "text/plain", "overloaded", func(t *testing.T, err error) {
			var he *HTTPError
			require.ErrorAs(t, err, &he)
			require.Equal(t, 503, he.StatusCode)
			require.Equal(t, "overloaded", he.Body)
		}},
		{"garbage", 200, "application/json", "<html>hello</html>", func(t *testing.T, err error) {
			require.ErrorIs(t, err, ErrMalformedResponse)
			require.ErrorContains(t, err, "<html>")
		}},
		{"empty result", 200, "application/json", `{"jsonrpc":"2.0","id":"1"}`, func(t *testing.T, err error) {
			require.ErrorIs(t, err, ErrMalformedResponse)
		}},
		{"result not a task", 200, "application/json", `{"jsonrpc":"2.0","id":"1","result":{"hello":1}}`, func(t *testing.T, err error) {
			require.ErrorIs(t, err, ErrMalformedResponse)
		}},
		{"rpc error", 200, "application/json", `{"jsonrpc":"2.0","id":"1","error":{"code":-32005,"message":"no images","data":[{"reason":"X"}]}}`, func(t *testing.T, err error) {
			require.ErrorIs(t, err, ErrContentTypeNotSupported)
			require.ErrorContains(t, err, "no images")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				require.Equal(t, ProtocolVersion, r.Header.Get(VersionHeader))
				w.Header().Set("Content-Type", tt.ctype)
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			c := NewClient(srv.URL, srv.Client())
			_, err := c.SendMessage(t.Context(), SendMessageRequest{Message: Message{MessageID: "m", Parts: []Part{TextPart("x")}}})
			require.Error(t, err)
			tt.check(t, err)
			_, err = c.SendStreamingMessage(t.Context(), SendMessageRequest{Message: Message{MessageID: "m", Parts: []Part{TextPart("x")}}})
			require.Error(t, err)
			if tt.name != "result not a task" {
				tt.check(t, err)
			}
		})
	}
}

func TestStreamCarriesErrors(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "data: {\"jsonrpc\":\"2.0\",\"id\":\"1\",\"result\":{\"task\":{\"id\":\"t\",\"status\":{\"state\":\"TASK_STATE_WORKING\"}}}}\n\n")
		_, _ = io.WriteString(w, "data: {\"jsonrpc\":\"2.0\",\"id\":\"1\",\"error\":{\"code\":-32603,\"message\":\"exploded\"}}\n\n")
		_, _ = io.WriteString(w, "data: not json\n\n")
	}))
	defer srv.Close()
	s, err := NewClient(srv.URL, srv.Client()).SubscribeToTask(t.Context(), "t")
	require.NoError(t, err)
	defer s.Close()
	ev, err := s.Next()
	require.NoError(t, err)
	require.Equal(t, "t", ev.Task.ID)
	_, err = s.Next()
	require.ErrorIs(t, err, ErrInternal)
	_, err = s.Next()
	require.True(t, errors.Is(err, ErrMalformedResponse), err)
}

func TestFetchCard(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(CardHandler(testCard))
	defer srv.Close()
	card, err := FetchCard(t.Context(), srv.Client(), srv.URL+WellKnownCardPath)
	require.NoError(t, err)
	require.Equal(t, "test", card.Name)
	require.True(t, card.Capabilities.Streaming)

	missing := httptest.NewServer(http.NotFoundHandler())
	defer missing.Close()
	_, err = FetchCard(t.Context(), missing.Client(), missing.URL+WellKnownCardPath)
	var he *HTTPError
	require.ErrorAs(t, err, &he)
	require.Equal(t, http.StatusNotFound, he.StatusCode)
}
