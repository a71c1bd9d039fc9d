package agentsdk

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ossa-platform/ossa/internal/a2a"
	"github.com/ossa-platform/ossa/internal/dispatch"
)

var discard = slog.New(slog.DiscardHandler)

func userMessage(id string, parts ...a2a.Part) a2a.Message {
	return a2a.Message{MessageID: id, Role: a2a.RoleUser, Parts: parts}
}

func withCapability(m a2a.Message, capability string) a2a.Message {
	m.Metadata = map[string]any{dispatch.A2AMetadataKey: dispatch.A2AMetadata{Capability: capability, TaskID: "platform-7", Attempt: 2}}
	return m
}

func TestA2ASendMessage(t *testing.T) {
	t.Parallel()
	for _, legacy := range []bool{false, true} {
		t.Run(map[bool]string{false: "v1.0", true: "v0.3"}[legacy], func(t *testing.T) {
			t.Parallel()
			_, srv := startAgent(t, testHandler)
			var opts []a2a.ClientOption
			if legacy {
				opts = append(opts, a2a.WithLegacyDialect())
			}
			c := a2a.NewClient(srv.URL, srv.Client(), opts...)
			ctx := t.Context()

			res, err := c.SendMessage(ctx, a2a.SendMessageRequest{Message: userMessage("m1", a2a.DataPart(json.RawMessage(`{"q":1}`)))})
			require.NoError(t, err)
			task := res.Task
			require.Equal(t, a2a.TaskStateCompleted, task.Status.State)
			require.Equal(t, "output", task.Artifacts[0].Name)
			require.JSONEq(t, `{"q":1}`, string(task.Artifacts[0].Parts[0].Data))
			require.NotEmpty(t, task.ContextID)
			require.Equal(t, task.ID, task.History[0].TaskID)

			res, err = c.SendMessage(ctx, a2a.SendMessageRequest{Message: withCapability(userMessage("m2", a2a.TextPart("hey")), "shout")})
			require.NoError(t, err)
			require.Equal(t, "HEY", res.Task.Artifacts[0].Parts[0].Text)

			res, err = c.SendMessage(ctx, a2a.SendMessageRequest{Message: userMessage("m3", a2a.TextPart("fail"))})
			require.NoError(t, err)
			require.Equal(t, a2a.TaskStateFailed, res.Task.Status.State)
			require.Equal(t, "disk full", res.Task.Status.Message.Text())

			got, err := c.GetTask(ctx, res.Task.ID, nil)
			require.NoError(t, err)
			require.Equal(t, a2a.TaskStateFailed, got.Status.State)

			_, err = c.SendMessage(ctx, a2a.SendMessageRequest{Message: withCapability(userMessage("m4", a2a.TextPart("x")), "juggle")})
			require.ErrorIs(t, err, a2a.ErrInvalidParams)
			_, err = c.SendMessage(ctx, a2a.SendMessageRequest{Message: userMessage("m5", a2a.Part{URL: "https://x/y.png"})})
			require.ErrorIs(t, err, a2a.ErrContentTypeNotSupported)
			_, err = c.GetTask(ctx, "nope", nil)
			require.ErrorIs(t, err, a2a.ErrTaskNotFound)
			_, err = c.CancelTask(ctx, got.ID)
			require.ErrorIs(t, err, a2a.ErrTaskNotCancelable)
		})
	}
}

func TestA2AInputRequiredConversation(t *testing.T) {
	t.Parallel()
	_, srv := startAgent(t, func(_ context.Context, t *Task) (any, error) {
		if t.Attempt == 1 {
			return nil, NeedInput("which file?")
		}
		return "reading " + t.Text(), nil
	})
	c := a2a.NewClient(srv.URL, srv.Client())
	res, err := c.SendMessage(t.Context(), a2a.SendMessageRequest{Message: userMessage("m1", a2a.TextPart("read"))})
	require.NoError(t, err)
	require.Equal(t, a2a.TaskStateInputRequired, res.Task.Status.State)
	require.Equal(t, "which file?", res.Task.Status.Message.Text())

	answer := userMessage("m2", a2a.TextPart("notes.txt"))
	answer.TaskID = res.Task.ID
	res, err = c.SendMessage(t.Context(), a2a.SendMessageRequest{Message: answer})
	require.NoError(t, err)
	require.Equal(t, a2a.TaskStateCompleted, res.Task.Status.State)
	require.Equal(t, "reading notes.txt", res.Task.Artifacts[0].Parts[0].Text)
	require.Len(t, res.Task.History, 2)

	_, err = c.SendMessage(t.Context(), a2a.SendMessageRequest{Message: answer})
	require.ErrorIs(t, err, a2a.ErrUnsupportedOperation, "a finished task takes no more messages")
}

func TestA2AStreamAndCancel(t *testing.T) {
	t.Parallel()
	started, ended := make(chan string, 1), make(chan error, 1)
	_, srv := startAgent(t, blockingHandler(started, ended))
	c := a2a.NewClient(srv.URL, srv.Client())
	s, err := c.SendStreamingMessage(t.Context(), a2a.SendMessageRequest{Message: withCapability(userMessage("m1", a2a.TextPart("x")), "echo")})
	require.NoError(t, err)
	defer s.Close()
	first, err := s.Next()
	require.NoError(t, err)
	require.NotNil(t, first.Task)
	require.Equal(t, "platform-7", <-started, "the handler sees the platform's task ID")

	canceled, err := c.CancelTask(t.Context(), first.Task.ID)
	require.NoError(t, err)
	require.Equal(t, a2a.TaskStateCanceled, canceled.Status.State)
	require.ErrorIs(t, <-ended, errCanceled)

	var states []a2a.TaskState
	for {
		ev, err := s.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		states = append(states, ev.State())
	}
	require.Equal(t, a2a.TaskStateCanceled, states[len(states)-1])
}

// TestDispatchOverA2A runs the platform's dispatcher against the agent's A2A
// side: the card says it streams, and a cancel of the attempt reaches the
// handler through CancelTask.
func TestDispatchOverA2A(t *testing.T) {
	t.Parallel()
	started, ended := make(chan string, 1), make(chan error, 1)
	_, srv := startAgent(t, func(ctx context.Context, t *Task) (any, error) {
		if t.Capability == "shout" {
			return testHandler(ctx, t)
		}
		return blockingHandler(started, ended)(ctx, t)
	})
	d := dispatch.New(srv.Client())
	agent := agentRecord(srv, dispatch.ProtocolA2A)
	updates := make(chan dispatch.Update, 16)
	res, err := d.Dispatch(t.Context(), dispatch.Request{TaskID: "t-1", Capability: "shout", Input: json.RawMessage(`"quiet"`), Attempt: 1, Agent: agent}, updates)
	require.NoError(t, err)
	require.Equal(t, dispatch.StateCompleted, res.State)
	require.JSONEq(t, `"QUIET"`, string(res.Output))
	require.NotEmpty(t, res.RemoteID)
	require.NotEmpty(t, updates)

	ctx, cancel := context.WithCancel(t.Context())
	errs := make(chan error, 1)
	go func() {
		_, err := d.Dispatch(ctx, dispatch.Request{TaskID: "t-2", Capability: "echo", Attempt: 1, Agent: agent}, nil)
		errs <- err
	}()
	require.Equal(t, "t-2", <-started)
	cancel()
	require.ErrorIs(t, <-errs, context.Canceled)
	require.ErrorIs(t, <-ended, errCanceled, "the dispatcher sent CancelTask")
}

func TestCardFromManifest(t *testing.T) {
	t.Parallel()
	_, srv := startAgent(t, testHandler, WithPublicURL("https://agents.example/echo"))
	card, err := a2a.FetchCard(t.Context(), srv.Client(), srv.URL+a2a.WellKnownCardPath)
	require.NoError(t, err)
	require.Equal(t, "test-agent", card.Name)
	require.Equal(t, "1.0.0", card.Version)
	require.True(t, card.Capabilities.Streaming)
	require.Equal(t, "https://agents.example/echo/", card.JSONRPCURL())
	require.Len(t, card.Skills, 2)
	require.Equal(t, "echo", card.Skills[0].ID)
	require.Equal(t, []string{"general", "test"}, card.Skills[0].Tags)

	resp, err := srv.Client().Get(srv.URL + a2a.LegacyCardPath)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
}

// TestShutdownCancelsStragglers checks the graceful stop: a task that
// outlives the shutdown timeout is canceled and Serve returns.
func TestShutdownCancelsStragglers(t *testing.T) {
	t.Parallel()
	started, ended := make(chan string, 1), make(chan error, 1)
	a, err := New([]byte(testManifest), blockingHandler(started, ended), WithLogger(discard), WithShutdownTimeout(20*time.Millisecond))
	require.NoError(t, err)
	srv := httptest.NewUnstartedServer(nil)
	ln := srv.Listener
	ctx, stop := context.WithCancel(t.Context())
	served := make(chan error, 1)
	go func() { served <- a.Serve(ctx, ln) }()

	c := a2a.NewClient("http://"+ln.Addr().String(), nil)
	res, err := c.SendMessage(t.Context(), a2a.SendMessageRequest{
		Message:       userMessage("m1", a2a.TextPart("x")),
		Configuration: &a2a.SendMessageConfiguration{ReturnImmediately: true},
	})
	require.NoError(t, err)
	<-started
	stop()
	require.NoError(t, <-served)
	require.ErrorIs(t, <-ended, errShutdown)
	task, err := a.a2a.GetTask(t.Context(), res.Task.ID)
	require.NoError(t, err)
	require.Equal(t, a2a.TaskStateFailed, task.Status.State)
	require.Contains(t, task.Status.Message.Text(), "shutting down")

	_, err = a.a2a.SendMessage(t.Context(), a2a.SendMessageRequest{Message: userMessage("m2", a2a.TextPart("x"))})
	require.ErrorIs(t, err, a2a.ErrInternal, "a stopped agent takes no new tasks")
}
