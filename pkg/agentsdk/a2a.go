package agentsdk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/ossa-platform/ossa/internal/a2a"
	"github.com/ossa-platform/ossa/internal/dispatch"
)

// maxFinishedTasks bounds the finished A2A tasks kept for GetTask.
const maxFinishedTasks = 1000

// a2aBackend keeps the agent's A2A tasks in memory and runs each on the
// agent's handler in a goroutine of its own.
type a2aBackend struct {
	a *Agent

	mu       sync.Mutex
	tasks    map[string]*a2aTask
	finished []string // IDs of tasks in a terminal state, oldest first
}

type a2aTask struct {
	task a2a.Task
	work Task // what the handler gets; Input and Attempt change per turn
	subs []*subscriber
}

type subscriber struct {
	ch   chan a2a.StreamEvent
	stop func() bool // stops the context.AfterFunc that unsubscribes
}

func newA2ABackend(a *Agent) *a2aBackend {
	return &a2aBackend{a: a, tasks: map[string]*a2aTask{}}
}

// SendMessage starts a task, or continues one that asked for input. The
// platform's metadata (dispatch.A2AMetadataKey) names the capability; other
// clients get the agent's first.
func (b *a2aBackend) SendMessage(_ context.Context, req a2a.SendMessageRequest) (a2a.Task, error) {
	msg := req.Message
	for _, p := range msg.Parts {
		if k := p.Kind(); k == a2a.PartRaw || k == a2a.PartURL {
			return a2a.Task{}, fmt.Errorf("agent %s takes text and JSON data parts, not files: %w", b.a.Name(), a2a.ErrContentTypeNotSupported)
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if msg.TaskID != "" {
		return b.continueLocked(msg)
	}
	md, _ := dispatch.ParseA2AMetadata(msg.Metadata)
	capability := md.Capability
	if capability == "" && len(b.a.caps) > 0 {
		capability = b.a.caps[0]
	}
	if !b.a.offers(capability) {
		return a2a.Task{}, fmt.Errorf("agent %s does not offer capability %q: %w", b.a.Name(), capability, a2a.ErrInvalidParams)
	}
	id := uuid.NewString()
	if msg.ContextID == "" {
		msg.ContextID = uuid.NewString()
	}
	msg.TaskID = id
	work := Task{ID: md.TaskID, Capability: capability, Input: inputOf(msg), Attempt: max(md.Attempt, 1), Deadline: md.Deadline}
	if work.ID == "" {
		work.ID = id
	}
	at := &a2aTask{
		task: a2a.Task{ID: id, ContextID: msg.ContextID, Status: status(a2a.TaskStateSubmitted, ""), History: []a2a.Message{msg}},
		work: work,
	}
	if !b.startLocked(at) {
		return a2a.Task{}, errStopping(b.a)
	}
	b.tasks[id] = at
	return snapshot(at), nil
}

func errStopping(a *Agent) error {
	return fmt.Errorf("agent %s is shutting down: %w", a.Name(), a2a.ErrInternal)
}

// continueLocked answers a task waiting in input-required: the message is
// the handler's next input.
func (b *a2aBackend) continueLocked(msg a2a.Message) (a2a.Task, error) {
	at, ok := b.tasks[msg.TaskID]
	if !ok {
		return a2a.Task{}, fmt.Errorf("task %s: %w", msg.TaskID, a2a.ErrTaskNotFound)
	}
	switch state := at.task.Status.State; {
	case state.Terminal():
		return a2a.Task{}, fmt.Errorf("task %s is %s and takes no more messages: %w", msg.TaskID, state.Legacy(), a2a.ErrUnsupportedOperation)
	case state != a2a.TaskStateInputRequired:
		return a2a.Task{}, fmt.Errorf("task %s is still %s: %w", msg.TaskID, state.Legacy(), a2a.ErrUnsupportedOperation)
	}
	msg.ContextID = at.task.ContextID
	next := *at
	next.work.Input = inputOf(msg)
	next.work.Attempt++
	if !b.startLocked(&next) {
		return a2a.Task{}, errStopping(b.a)
	}
	at.work = next.work
	at.task.History = append(at.task.History, msg)
	at.task.Status = status(a2a.TaskStateSubmitted, "")
	return snapshot(at), nil
}

// inputOf is the task input a message carries.
func inputOf(msg a2a.Message) json.RawMessage {
	if v := dispatch.PartsValue(msg.Parts); v != nil {
		return v
	}
	return json.RawMessage("null")
}

// startLocked runs the handler for the task's current turn; it reports
// false when the agent is shutting down.
func (b *a2aBackend) startLocked(at *a2aTask) bool {
	t := at.work
	key := "a2a:" + at.task.ID
	ctx, rn := newRun(context.Background(), &t)
	b.a.mu.Lock()
	defer b.a.mu.Unlock()
	if b.a.stopping {
		rn.stop()
		rn.cancel(errShutdown)
		return false
	}
	b.a.runs[key] = rn
	b.a.wg.Add(1)
	go b.work(ctx, key, rn, at.task.ID, &t)
	return true
}

func (b *a2aBackend) work(ctx context.Context, key string, rn *run, id string, t *Task) {
	defer b.a.wg.Done()
	var o outcome
	if b.a.acquire(ctx, true) {
		b.setWorking(id)
		o = b.a.execute(ctx, t)
		b.a.release()
	} else {
		// Canceled or shut down while waiting for a slot.
		o = outcome{state: dispatch.StateFailed, message: context.Cause(ctx).Error()}
		if errors.Is(context.Cause(ctx), errCanceled) {
			o.state = dispatch.StateCanceled
		}
	}
	b.a.endRun(key, rn, o)
	b.finish(id, o)
}

func (b *a2aBackend) setWorking(id string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if at, ok := b.tasks[id]; ok && !at.task.Status.State.Terminal() {
		b.setStatusLocked(at, status(a2a.TaskStateWorking, ""))
	}
}

// finish records a turn's outcome: its artifacts, then its status.
func (b *a2aBackend) finish(id string, o outcome) {
	b.mu.Lock()
	defer b.mu.Unlock()
	at, ok := b.tasks[id]
	if !ok || at.task.Status.State.Terminal() {
		return // canceled meanwhile
	}
	var arts []a2a.Artifact
	if o.output != nil && o.state == dispatch.StateCompleted {
		arts = append(arts, a2a.Artifact{ArtifactID: "output", Name: "output", Parts: []a2a.Part{dispatch.InputPart(o.output)}})
	}
	for i, da := range o.artifacts {
		art := a2a.Artifact{ArtifactID: "artifact-" + strconv.Itoa(i), Name: da.Name, Parts: []a2a.Part{{Text: da.Text, MediaType: da.MediaType}}}
		if da.Data != nil {
			art.Parts[0] = a2a.Part{Data: da.Data, MediaType: da.MediaType}
		}
		arts = append(arts, art)
	}
	for _, art := range arts {
		if i := slices.IndexFunc(at.task.Artifacts, func(x a2a.Artifact) bool { return x.ArtifactID == art.ArtifactID }); i >= 0 {
			at.task.Artifacts[i] = art
		} else {
			at.task.Artifacts = append(at.task.Artifacts, art)
		}
		b.publishLocked(at, a2a.StreamEvent{ArtifactUpdate: &a2a.TaskArtifactUpdateEvent{
			TaskID: at.task.ID, ContextID: at.task.ContextID, Artifact: art, LastChunk: true,
		}})
	}
	b.setStatusLocked(at, status(a2a.ParseTaskState(string(o.state)), o.message))
}

func (b *a2aBackend) GetTask(_ context.Context, id string) (a2a.Task, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	at, ok := b.tasks[id]
	if !ok {
		return a2a.Task{}, fmt.Errorf("task %s: %w", id, a2a.ErrTaskNotFound)
	}
	return snapshot(at), nil
}

// CancelTask cancels the handler's context and marks the task canceled at
// once, without waiting for the handler to return.
func (b *a2aBackend) CancelTask(_ context.Context, id string) (a2a.Task, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	at, ok := b.tasks[id]
	switch {
	case !ok:
		return a2a.Task{}, fmt.Errorf("task %s: %w", id, a2a.ErrTaskNotFound)
	case at.task.Status.State.Terminal():
		return a2a.Task{}, fmt.Errorf("task %s is already %s: %w", id, at.task.Status.State.Legacy(), a2a.ErrTaskNotCancelable)
	}
	b.a.cancelRun("a2a:" + id)
	b.setStatusLocked(at, status(a2a.TaskStateCanceled, ""))
	return snapshot(at), nil
}

// Subscribe streams the task's events, starting with its current state.
func (b *a2aBackend) Subscribe(ctx context.Context, id string) (<-chan a2a.StreamEvent, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	at, ok := b.tasks[id]
	if !ok {
		return nil, fmt.Errorf("task %s: %w", id, a2a.ErrTaskNotFound)
	}
	ch := make(chan a2a.StreamEvent, 64)
	snap := snapshot(at)
	ch <- a2a.StreamEvent{Task: &snap}
	if snap.Status.State.Final() {
		close(ch)
		return ch, nil
	}
	sub := &subscriber{ch: ch}
	sub.stop = context.AfterFunc(ctx, func() { b.unsubscribe(id, sub) })
	at.subs = append(at.subs, sub)
	return ch, nil
}

func (b *a2aBackend) unsubscribe(id string, sub *subscriber) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if at, ok := b.tasks[id]; ok {
		if i := slices.Index(at.subs, sub); i >= 0 {
			at.subs = slices.Delete(at.subs, i, i+1)
			close(sub.ch)
		}
	}
}

// setStatusLocked changes the task's status and tells subscribers; a final
// status ends their streams, and a terminal one queues the task for
// eviction.
func (b *a2aBackend) setStatusLocked(at *a2aTask, st a2a.TaskStatus) {
	at.task.Status = st
	b.publishLocked(at, a2a.StreamEvent{StatusUpdate: &a2a.TaskStatusUpdateEvent{
		TaskID: at.task.ID, ContextID: at.task.ContextID, Status: st,
	}})
	if st.State.Final() {
		for _, sub := range at.subs {
			sub.stop()
			close(sub.ch)
		}
		at.subs = nil
	}
	if st.State.Terminal() {
		b.finished = append(b.finished, at.task.ID)
		if len(b.finished) > maxFinishedTasks {
			delete(b.tasks, b.finished[0])
			b.finished = b.finished[1:]
		}
	}
}

// publishLocked offers an event to every subscriber. A subscriber too slow
// to keep 64 events buffered loses events, but its stream still ends.
func (b *a2aBackend) publishLocked(at *a2aTask, ev a2a.StreamEvent) {
	for _, sub := range at.subs {
		select {
		case sub.ch <- ev:
		default:
		}
	}
}

func status(state a2a.TaskState, text string) a2a.TaskStatus {
	st := a2a.TaskStatus{State: state, Timestamp: time.Now().UTC()}
	if text != "" {
		st.Message = &a2a.Message{MessageID: uuid.NewString(), Role: a2a.RoleAgent, Parts: []a2a.Part{a2a.TextPart(text)}}
	}
	return st
}

func snapshot(at *a2aTask) a2a.Task {
	t := at.task
	t.Artifacts = slices.Clone(t.Artifacts)
	t.History = slices.Clone(t.History)
	return t
}
