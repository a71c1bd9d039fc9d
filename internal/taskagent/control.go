package taskagent

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/ossa-platform/ossa/internal/auth"
	"github.com/ossa-platform/ossa/internal/httpx"
	"github.com/ossa-platform/ossa/internal/storage"
)

// Get returns a task.
func (s *Service) Get(ctx context.Context, id string) (*Task, error) {
	t, err := s.tasks.Get(ctx, id)
	if err != nil {
		return nil, notFoundOr(err, id)
	}
	v := view(t)
	return &v, nil
}

// List returns a page of tasks, newest first.
func (s *Service) List(ctx context.Context, f storage.TaskFilter) (*TaskList, error) {
	page, err := s.tasks.List(ctx, f)
	if err != nil {
		return nil, err
	}
	out := &TaskList{Tasks: make([]Task, len(page.Tasks)), NextCursor: page.NextCursor}
	for i := range page.Tasks {
		out.Tasks[i] = view(&page.Tasks[i])
	}
	return out, nil
}

// errNotCancelable is the 409 a cancel of a finished task gets.
func errNotCancelable(t *storage.Task) error {
	return httpx.Errorf(http.StatusConflict, "task %s is already %s; only a live task can be canceled", t.ID, t.State)
}

// Cancel cancels a live task. The state changes at once; the attempt in
// flight is stopped (its context cancelled here, through River's job
// cancellation in another replica, or by polling) and the agent is told to
// stop; a queued or snoozed job will not run.
func (s *Service) Cancel(ctx context.Context, id string) (*Task, error) {
	by := ""
	if p, ok := auth.FromContext(ctx); ok && p.Subject != "" {
		by = " by " + p.Subject
	}
	t, err := s.tasks.Modify(ctx, id, func(_ context.Context, _ storage.TaskTx, t *storage.Task) ([]storage.TaskEvent, error) {
		if t.State.Terminal() {
			return nil, errNotCancelable(t)
		}
		return applyOutcome(t, storage.TaskCanceled, "canceled"+by, nil), nil
	})
	if err != nil {
		return nil, notFoundOr(err, id)
	}
	s.metrics.finished.WithLabelValues(string(storage.TaskCanceled)).Inc()
	s.attempts.cancel(id, errTaskCanceled)
	s.hub.notify(taskKey(id))
	if t.JobID != 0 {
		if err := s.queue.cancel(ctx, t.JobID); err != nil {
			// The task is canceled regardless; the job will find it so.
			s.log.Warn("cancel task job failed", "task", id, "job", t.JobID, "err", err)
		}
	}
	v := view(t)
	return &v, nil
}

// ContinueRequest is the body of POST /api/v1/tasks/{id}:continue.
type ContinueRequest struct {
	// Input is the answer to what the task asked for, any JSON value; it
	// becomes the task's input, handed to its agent as is.
	Input json.RawMessage `json:"input"`
}

// Continue gives a task that waits for input (input-required or
// auth-required) what it asked for: the task goes back to the agent that
// asked, with input as its new input, under a new job and a fresh budget of
// attempts.
func (s *Service) Continue(ctx context.Context, id string, input json.RawMessage) (*Task, error) {
	t, err := s.tasks.Modify(ctx, id, func(ctx context.Context, tx storage.TaskTx, t *storage.Task) ([]storage.TaskEvent, error) {
		if !t.State.Interrupted() {
			return nil, httpx.Errorf(http.StatusConflict, "task %s is %s; only a task waiting for input can be continued", t.ID, t.State)
		}
		t.Input = input
		if t.AgentID != "" {
			t.RequestedAgent = t.AgentID
		}
		t.WaitForAgentUntil = time.Time{}
		t.Attempts, t.FailedAgents = 0, nil
		t.State = storage.TaskSubmitted
		t.Message = fmt.Sprintf("input received; continuing with agent %s", t.AgentName)
		if err := s.queue.enqueue(ctx, tx, []*storage.Task{t}); err != nil {
			return nil, err
		}
		return []storage.TaskEvent{{Kind: storage.TaskEventStatus, State: t.State, Message: t.Message}}, nil
	})
	if err != nil {
		return nil, notFoundOr(err, id)
	}
	s.hub.notify(taskKey(id))
	v := view(t)
	return &v, nil
}

func newContextID() string { return uuid.NewString() }
