package a2a

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
)

// fakeBackend is an in-memory Backend whose tasks the test moves along by
// hand (publish). A message whose text is "instant" completes at once with
// its text echoed as an artifact; "boom" fails with an internal error.
type fakeBackend struct {
	mu    sync.Mutex
	next  int
	tasks map[string]*Task
	subs  map[string][]chan StreamEvent
	// subscribed receives the task ID of every Subscribe call.
	subscribed chan string
}

func newFakeBackend() *fakeBackend {
	return &fakeBackend{
		tasks:      map[string]*Task{},
		subs:       map[string][]chan StreamEvent{},
		subscribed: make(chan string, 16),
	}
}

var errBoom = errors.New("database on fire at 10.0.0.7")

func (b *fakeBackend) SendMessage(_ context.Context, req SendMessageRequest) (Task, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	msg := req.Message
	if msg.Text() == "boom" {
		return Task{}, errBoom
	}
	if msg.TaskID != "" {
		t, ok := b.tasks[msg.TaskID]
		switch {
		case !ok:
			return Task{}, fmt.Errorf("task %s: %w", msg.TaskID, ErrTaskNotFound)
		case t.Status.State.Terminal():
			return Task{}, fmt.Errorf("task %s is finished: %w", msg.TaskID, ErrUnsupportedOperation)
		}
		t.History = append(t.History, msg)
		return cloneTask(*t), nil
	}
	b.next++
	t := &Task{
		ID: fmt.Sprintf("task-%d", b.next), ContextID: fmt.Sprintf("ctx-%d", b.next),
		Status:  TaskStatus{State: TaskStateSubmitted},
		History: []Message{msg},
	}
	if msg.Text() == "instant" {
		t.Status = TaskStatus{State: TaskStateCompleted, Message: &Message{MessageID: "m-done", Role: RoleAgent, Parts: []Part{TextPart("done")}}}
		t.Artifacts = []Artifact{{ArtifactID: "out", Parts: []Part{TextPart("instant")}}}
	}
	b.tasks[t.ID] = t
	return cloneTask(*t), nil
}

func (b *fakeBackend) GetTask(_ context.Context, id string) (Task, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	t, ok := b.tasks[id]
	if !ok {
		return Task{}, fmt.Errorf("task %s: %w", id, ErrTaskNotFound)
	}
	return cloneTask(*t), nil
}

func (b *fakeBackend) CancelTask(_ context.Context, id string) (Task, error) {
	b.mu.Lock()
	t, ok := b.tasks[id]
	switch {
	case !ok:
		b.mu.Unlock()
		return Task{}, fmt.Errorf("task %s: %w", id, ErrTaskNotFound)
	case t.Status.State.Terminal():
		b.mu.Unlock()
		return Task{}, fmt.Errorf("task %s: %w", id, ErrTaskNotCancelable)
	}
	b.mu.Unlock()
	b.publish(id, StreamEvent{StatusUpdate: &TaskStatusUpdateEvent{Status: TaskStatus{State: TaskStateCanceled}}})
	return b.GetTask(context.Background(), id)
}

func (b *fakeBackend) Subscribe(ctx context.Context, id string) (<-chan StreamEvent, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	t, ok := b.tasks[id]
	if !ok {
		return nil, fmt.Errorf("task %s: %w", id, ErrTaskNotFound)
	}
	ch := make(chan StreamEvent, 64)
	snapshot := cloneTask(*t)
	ch <- StreamEvent{Task: &snapshot}
	if snapshot.Status.State.Final() {
		close(ch)
	} else {
		b.subs[id] = append(b.subs[id], ch)
		go b.unsubscribeWhenDone(ctx, id, ch)
	}
	b.subscribed <- id
	return ch, nil
}

func (b *fakeBackend) unsubscribeWhenDone(ctx context.Context, id string, ch chan StreamEvent) {
	<-ctx.Done()
	b.mu.Lock()
	defer b.mu.Unlock()
	if i := slices.Index(b.subs[id], ch); i >= 0 {
		b.subs[id] = slices.Delete(b.subs[id], i, i+1)
		close(ch)
	}
}

// publish applies an event to a task and sends it to its subscribers,
// closing their streams when the task reaches a final state.
func (b *fakeBackend) publish(id string, ev StreamEvent) {
	b.mu.Lock()
	defer b.mu.Unlock()
	t := b.tasks[id]
	switch {
	case ev.StatusUpdate != nil:
		ev.StatusUpdate.TaskID, ev.StatusUpdate.ContextID = t.ID, t.ContextID
		t.Status = ev.StatusUpdate.Status
	case ev.ArtifactUpdate != nil:
		ev.ArtifactUpdate.TaskID, ev.ArtifactUpdate.ContextID = t.ID, t.ContextID
		t.Artifacts = append(t.Artifacts, ev.ArtifactUpdate.Artifact)
	}
	for _, ch := range b.subs[id] {
		ch <- ev
		if ev.State().Final() {
			close(ch)
		}
	}
	if ev.State().Final() {
		delete(b.subs, id)
	}
}

func (b *fakeBackend) setState(id string, state TaskState, text string) {
	status := TaskStatus{State: state}
	if text != "" {
		status.Message = &Message{MessageID: "m-" + string(state), Role: RoleAgent, Parts: []Part{TextPart(text)}}
	}
	b.publish(id, StreamEvent{StatusUpdate: &TaskStatusUpdateEvent{Status: status}})
}

func cloneTask(t Task) Task {
	t.Artifacts = slices.Clone(t.Artifacts)
	t.History = slices.Clone(t.History)
	return t
}
