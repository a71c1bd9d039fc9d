package taskagent

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ossa-platform/ossa/internal/a2a"
	"github.com/ossa-platform/ossa/internal/dispatch"
	"github.com/ossa-platform/ossa/internal/storage"
)

func TestAgentCard(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addAgent(agentSpec{name: "s1", capabilities: []string{"summarization"}, endpoint: "http://127.0.0.1:1"})
	e.addAgent(agentSpec{name: "s2", capabilities: []string{"summarization", "translation"}, endpoint: "http://127.0.0.1:1"})

	card, err := a2a.FetchCard(context.Background(), nil, e.url+a2a.WellKnownCardPath)
	require.NoError(t, err)
	require.Equal(t, "ossa", card.Name)
	require.Equal(t, e.url+"/a2a", card.JSONRPCURL())
	require.True(t, card.Capabilities.Streaming)
	var skills []string
	for _, s := range card.Skills {
		skills = append(skills, s.ID)
	}
	require.Equal(t, []string{"summarization", "translation"}, skills)
	require.Contains(t, card.Skills[0].Description, "2 healthy agent(s)")
	require.NotEmpty(t, card.SecurityRequirements)
}

// A message becomes a task on the capability its metadata names; the
// platform answers once the task is done.
func TestA2ASendMessage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	agent := newFakeAgent(t, nil)
	e.addAgent(agentSpec{name: "echo", capabilities: []string{"echo"}, endpoint: agent.srv.URL})
	e.addAgent(agentSpec{name: "other", capabilities: []string{"other"}, endpoint: agent.srv.URL})
	c := a2a.NewClient(e.url+"/a2a", nil)
	ctx := context.Background()

	ev, err := c.SendMessage(ctx, a2a.SendMessageRequest{Message: a2a.Message{
		MessageID: "m-1", Role: a2a.RoleUser, Parts: []a2a.Part{a2a.TextPart("hello")},
		Metadata: map[string]any{"capability": "echo"},
	}})
	require.NoError(t, err)
	require.NotNil(t, ev.Task)
	task := *ev.Task
	require.Equal(t, a2a.TaskStateCompleted, task.Status.State, "SendMessage waits for the outcome")
	require.Len(t, task.Artifacts, 1)
	require.Equal(t, "output", task.Artifacts[0].Name)
	require.JSONEq(t, `{"text": "hello"}`, string(task.Artifacts[0].Parts[0].Data), "text parts become {text}")
	require.NotEmpty(t, task.ContextID)

	got, err := c.GetTask(ctx, task.ID, nil)
	require.NoError(t, err)
	require.Equal(t, task.ID, got.ID)
	require.Len(t, got.History, 1)
	require.Equal(t, []a2a.Part{a2a.TextPart("hello")}, got.History[0].Parts, "the history shows the message as it was sent")

	// The messageId is the idempotency key: a retried send is the same task.
	again, err := c.SendMessage(ctx, a2a.SendMessageRequest{Message: a2a.Message{
		MessageID: "m-1", Role: a2a.RoleUser, Parts: []a2a.Part{a2a.TextPart("hello")},
		Metadata: map[string]any{"capability": "echo"},
	}})
	require.NoError(t, err)
	require.Equal(t, task.ID, again.Task.ID)
	require.Equal(t, 1, agent.callCount())

	_, err = c.CancelTask(ctx, task.ID)
	require.ErrorIs(t, err, a2a.ErrTaskNotCancelable)
	_, err = c.GetTask(ctx, "no-such-task", nil)
	require.ErrorIs(t, err, a2a.ErrTaskNotFound)

	// Two capabilities on offer and none named: the error lists them.
	_, err = c.SendMessage(ctx, a2a.SendMessageRequest{Message: a2a.Message{
		MessageID: "m-2", Role: a2a.RoleUser, Parts: []a2a.Part{a2a.TextPart("hi")},
	}})
	require.ErrorIs(t, err, a2a.ErrInvalidParams)
	require.ErrorContains(t, err, "healthy agents offer echo, other")
	_, err = c.SendMessage(ctx, a2a.SendMessageRequest{Message: a2a.Message{
		MessageID: "m-3", Role: a2a.RoleUser, Parts: []a2a.Part{a2a.TextPart("hi")}, Metadata: map[string]any{"capability": "nope"},
	}})
	require.ErrorIs(t, err, a2a.ErrInvalidParams)
	require.ErrorContains(t, err, `no healthy agent offers capability "nope"`)
}

// A task that needs input waits for it and goes on, on the same agent, when
// the client sends a message with its taskId; streams end at each pause.
func TestA2AInputRequired(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	agent := newFakeAgent(t, func(w http.ResponseWriter, _ *http.Request, req dispatch.TaskRequest) {
		if !strings.Contains(string(req.Input), "yes") {
			_ = json.NewEncoder(w).Encode(dispatch.TaskResponse{State: dispatch.StateInputRequired, Message: "confirm with yes"})
			return
		}
		completed(w, json.RawMessage(`"confirmed"`))
	})
	e.addAgent(agentSpec{name: "careful", capabilities: []string{"deploy"}, endpoint: agent.srv.URL})
	c := a2a.NewClient(e.url+"/a2a", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	stream, err := c.SendStreamingMessage(ctx, a2a.SendMessageRequest{Message: a2a.Message{
		MessageID: "d-1", Role: a2a.RoleUser, Parts: []a2a.Part{a2a.DataPart(json.RawMessage(`{"env": "prod"}`))},
		Metadata: map[string]any{"capability": "deploy"},
	}})
	require.NoError(t, err)
	first, err := stream.Next()
	require.NoError(t, err)
	require.NotNil(t, first.Task)
	taskID := first.Task.ID
	last := first
	for {
		ev, err := stream.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		last = ev
	}
	require.NoError(t, stream.Close())
	require.Equal(t, a2a.TaskStateInputRequired, last.State(), "the stream ends at the pause")
	require.Equal(t, "confirm with yes", last.StatusUpdate.Status.Message.Text())

	ev, err := c.SendMessage(ctx, a2a.SendMessageRequest{Message: a2a.Message{
		MessageID: "d-2", TaskID: taskID, Role: a2a.RoleUser, Parts: []a2a.Part{a2a.TextPart("yes")},
	}})
	require.NoError(t, err)
	require.Equal(t, a2a.TaskStateCompleted, ev.Task.Status.State)
	require.JSONEq(t, `"confirmed"`, string(ev.Task.Artifacts[0].Parts[0].Data))
	require.Equal(t, 2, agent.callCount())
	agent.mu.Lock()
	require.JSONEq(t, `{"env": "prod"}`, string(agent.calls[0].Input), "a lone data part is the input")
	agent.mu.Unlock()

	_, err = c.SendMessage(ctx, a2a.SendMessageRequest{Message: a2a.Message{
		MessageID: "d-3", TaskID: taskID, Role: a2a.RoleUser, Parts: []a2a.Part{a2a.TextPart("again")},
	}})
	require.ErrorIs(t, err, a2a.ErrUnsupportedOperation, "a finished task takes no messages")

	stored, err := e.store.Tasks().Get(ctx, taskID)
	require.NoError(t, err)
	require.Equal(t, storage.TaskCompleted, stored.State)
}

func TestMessageInput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		parts []a2a.Part
		want  string
	}{
		{"one data part", []a2a.Part{a2a.DataPart(json.RawMessage(`[1, 2]`))}, `[1, 2]`},
		{"text parts", []a2a.Part{a2a.TextPart("a"), a2a.TextPart("b")}, `{"text": "a\nb"}`},
		{"mixed", []a2a.Part{a2a.TextPart("a"), a2a.DataPart(json.RawMessage(`{"x": 1}`))},
			`{"parts": [{"text": "a"}, {"data": {"x": 1}}]}`},
	}
	for _, tc := range tests {
		got, err := messageInput(a2a.Message{Parts: tc.parts})
		require.NoError(t, err, tc.name)
		require.JSONEq(t, tc.want, string(got), tc.name)
	}
}

// The history inverts the message → input mapping, so clients see their
// message as they sent it.
func TestInputParts(t *testing.T) {
	t.Parallel()
	require.Equal(t, []a2a.Part{a2a.TextPart("hi")}, inputParts(json.RawMessage(`{"text":"hi"}`)))
	require.Equal(t, []a2a.Part{a2a.DataPart(json.RawMessage(`{"text":"hi","n":1}`))}, inputParts(json.RawMessage(`{"text":"hi","n":1}`)))
	require.Equal(t, []a2a.Part{a2a.DataPart(json.RawMessage(`[1,2]`))}, inputParts(json.RawMessage(`[1,2]`)))
	mixed := []a2a.Part{a2a.TextPart("see"), a2a.DataPart(json.RawMessage(`{"x":1}`))}
	in, err := messageInput(a2a.Message{Parts: mixed})
	require.NoError(t, err)
	require.Equal(t, mixed, inputParts(in))
}
