package taskagent

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/ossa-platform/ossa/internal/dispatch"
	"github.com/ossa-platform/ossa/internal/storage"
)

// attempt is one run of a task on one agent, as the worker running it
// knows it. Its start (the task counting it, naming the agent, turning
// working) may be written on its own, or together with its first progress
// or its outcome; every write that records the attempt applies the start
// first when it is not yet in the task.
type attempt struct {
	jobID int64
	// n numbers the attempt from 1; agent is who runs it, the zero agent
	// for an attempt that found none.
	n     int
	agent storage.Agent
	// task is the task as read when the attempt began.
	task *storage.Task

	mu sync.Mutex
	// latest is the last copy of the task this worker wrote, nil until the
	// start is written.
	latest *storage.Task
}

func (at *attempt) pull() bool { return at.agent.ID != "" && at.agent.Endpoint == "" }

// current returns the freshest copy of the task the worker holds, and
// whether the attempt's start is written.
func (at *attempt) current() (*storage.Task, bool) {
	at.mu.Lock()
	defer at.mu.Unlock()
	if at.latest != nil {
		return at.latest, true
	}
	return at.task, false
}

// written records a copy of the task the worker wrote with the start.
func (at *attempt) written(t *storage.Task) {
	at.mu.Lock()
	defer at.mu.Unlock()
	at.latest = t
}

// start applies the attempt's start to t and returns its event.
func (at *attempt) start(t *storage.Task) []storage.TaskEvent {
	a := at.agent
	t.Attempts = at.n
	t.AgentID, t.AgentName, t.RunningOn = a.ID, a.Name, a.ID
	t.AttemptError, t.RemoteID, t.LeaseExpiresAt = "", "", time.Time{}
	if at.pull() {
		t.Offered = true
		t.Message = fmt.Sprintf("attempt %d of %d: offered to pull-mode agent %s, waiting for its claim", t.Attempts, t.MaxAttempts, a.Name)
	} else {
		t.State = storage.TaskWorking
		t.Message = fmt.Sprintf("attempt %d of %d: dispatched to agent %s", t.Attempts, t.MaxAttempts, a.Name)
	}
	return []storage.TaskEvent{{Kind: storage.TaskEventStatus, State: t.State, Message: t.Message}}
}

// catchUp applies the start to t when t does not count the attempt yet, and
// reports whether the attempt is still the task's current one.
func (at *attempt) catchUp(t *storage.Task) ([]storage.TaskEvent, bool) {
	switch {
	case t.State.Terminal() || t.JobID != at.jobID || t.Attempts > at.n:
		return nil, false
	case t.Attempts == at.n:
		return nil, true
	case at.agent.ID == "":
		t.Attempts = at.n
		return nil, true
	}
	return at.start(t), true
}

// recordUpdate records a progress update the agent streamed, while the
// attempt is still the task's current one.
func (s *Service) recordUpdate(ctx context.Context, at *attempt, u dispatch.Update) {
	cur, _ := at.current()
	got, err := s.tasks.ModifyFrom(ctx, cur, func(ctx context.Context, tx storage.TaskTx, t *storage.Task) ([]storage.TaskEvent, error) {
		events, ok := at.catchUp(t)
		if !ok || (u.Message == "" && u.Artifact == nil) {
			return nil, errNoop
		}
		// Progress is informative; the outcome is what must last.
		if err := tx.RelaxDurability(ctx); err != nil {
			return nil, err
		}
		if u.Message != "" {
			t.Message = u.Message
			events = append(events, storage.TaskEvent{Kind: storage.TaskEventStatus, State: t.State, Message: u.Message})
		}
		if u.Artifact != nil {
			events = append(events, storage.TaskEvent{Kind: storage.TaskEventArtifact, State: t.State,
				Artifact: encodeArtifact(*u.Artifact)})
		}
		return events, nil
	})
	if err != nil {
		if !errors.Is(err, errNoop) {
			s.log.Warn("record task progress failed", "task", cur.ID, "err", err)
		}
		return
	}
	at.written(got)
	s.hub.notify(taskKey(cur.ID))
}

// recordResult records what the agent answered.
func (s *Service) recordResult(ctx context.Context, at *attempt, res dispatch.Result) error {
	switch res.State {
	case dispatch.StateCompleted, dispatch.StateFailed, dispatch.StateRejected, dispatch.StateCanceled,
		dispatch.StateInputRequired, dispatch.StateAuthRequired:
	default:
		final, err := s.failAttempt(ctx, at, fmt.Sprintf("agent %s answered with an unknown state %q", at.agent.Name, res.State), false)
		if err != nil || final {
			return ignoreNoop(err)
		}
		return fmt.Errorf("task %s attempt %d: agent answered with state %q", at.task.ID, at.n, res.State)
	}
	msg := res.Message
	if res.State == dispatch.StateFailed && msg == "" {
		msg = fmt.Sprintf("agent %s reported the task failed", at.agent.Name)
	}
	_, err := s.finish(ctx, at, storage.TaskState(res.State), msg, &res)
	return ignoreNoop(err)
}

// finish records a terminal or interrupted outcome of the attempt, once: it
// is a no-op (errNoop) when the task already ended or moved to another job.
// res, when set, supplies output and artifacts.
func (s *Service) finish(ctx context.Context, at *attempt, state storage.TaskState, msg string, res *dispatch.Result) (*storage.Task, error) {
	cur, _ := at.current()
	got, err := s.tasks.ModifyFrom(ctx, cur, func(_ context.Context, _ storage.TaskTx, t *storage.Task) ([]storage.TaskEvent, error) {
		if t.State.Terminal() || t.JobID != at.jobID {
			return nil, errNoop
		}
		var events []storage.TaskEvent
		if at.n > 0 {
			var ok bool
			if events, ok = at.catchUp(t); !ok {
				return nil, errNoop
			}
		}
		return append(events, applyOutcome(t, state, msg, res)...), nil
	})
	if err != nil {
		return nil, err
	}
	s.hub.notify(taskKey(cur.ID))
	if state.Terminal() {
		s.metrics.finished.WithLabelValues(string(state)).Inc()
	}
	return got, nil
}

// failAttempt records that the attempt failed with msg. When the failure is
// permanent or the attempts are used up, the task fails (final is true);
// otherwise it stays live for River's retry, which avoids the agent.
func (s *Service) failAttempt(ctx context.Context, at *attempt, msg string, permanent bool) (final bool, err error) {
	cur, _ := at.current()
	_, err = s.tasks.ModifyFrom(ctx, cur, func(_ context.Context, _ storage.TaskTx, t *storage.Task) ([]storage.TaskEvent, error) {
		events, ok := at.catchUp(t)
		if !ok {
			return nil, errNoop
		}
		t.RunningOn, t.Offered, t.LeaseExpiresAt, t.AttemptError = "", false, time.Time{}, ""
		if at.agent.ID != "" && !slices.Contains(t.FailedAgents, at.agent.ID) {
			t.FailedAgents = append(t.FailedAgents, at.agent.ID)
		}
		final = permanent || t.Attempts >= t.MaxAttempts
		switch {
		case permanent:
			t.State, t.Message = storage.TaskFailed, fmt.Sprintf("attempt %d failed and retrying cannot help: %s", t.Attempts, msg)
		case final:
			t.State, t.Message = storage.TaskFailed, fmt.Sprintf("attempt %d of %d failed: %s", t.Attempts, t.MaxAttempts, msg)
		default:
			t.Message = fmt.Sprintf("attempt %d of %d failed: %s; retrying", t.Attempts, t.MaxAttempts, msg)
		}
		return append(events, storage.TaskEvent{Kind: storage.TaskEventStatus, State: t.State, Message: t.Message}), nil
	})
	if err != nil {
		return false, err
	}
	s.hub.notify(taskKey(cur.ID))
	if final {
		s.metrics.finished.WithLabelValues(string(storage.TaskFailed)).Inc()
	}
	return final, nil
}

// abandonAttempt closes the attempts of the job whose workers died before
// recording them: one begun and written (RunningOn set) or runs River made
// that the task does not count (ran of them in all). They count as failed
// attempts, but not against the agent, which may have done nothing wrong.
func (s *Service) abandonAttempt(ctx context.Context, t *storage.Task, ran int) (*storage.Task, error) {
	got, err := s.tasks.ModifyFrom(ctx, t, func(_ context.Context, _ storage.TaskTx, cur *storage.Task) ([]storage.TaskEvent, error) {
		if cur.State.Terminal() || cur.JobID != t.JobID || (cur.RunningOn == "" && ran <= cur.Attempts) {
			return nil, errNoop
		}
		if cur.RunningOn != "" {
			cur.Message = fmt.Sprintf("attempt %d on agent %s did not finish: the worker running it stopped", cur.Attempts, cur.AgentName)
		} else {
			cur.Message = fmt.Sprintf("attempt %d did not finish: the worker running it stopped", ran)
		}
		cur.Attempts = max(cur.Attempts, ran)
		cur.RunningOn, cur.Offered, cur.LeaseExpiresAt, cur.AttemptError = "", false, time.Time{}, ""
		return []storage.TaskEvent{{Kind: storage.TaskEventStatus, State: cur.State, Message: cur.Message}}, nil
	})
	if err != nil {
		return nil, err
	}
	s.hub.notify(taskKey(t.ID))
	return got, nil
}

// interrupted handles an attempt whose context ended before its outcome: the
// task was canceled (tell the agent), or this process is stopping (release
// the attempt, uncounted, for a later run).
func (s *Service) interrupted(ctx context.Context, at *attempt, remoteID string, cause error) error {
	bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordGrace)
	defer cancel()
	t, err := s.tasks.Get(bg, at.task.ID)
	if err != nil {
		return err
	}
	if t.State == storage.TaskCanceled || errors.Is(cause, errTaskCanceled) {
		s.metrics.attempts.WithLabelValues("canceled").Inc()
		// The task ended before the attempt's start was written: count the
		// attempt and name its agent, without an event (the task never
		// showed as working).
		_, err := s.tasks.ModifyFrom(bg, t, func(_ context.Context, _ storage.TaskTx, cur *storage.Task) ([]storage.TaskEvent, error) {
			if cur.JobID != at.jobID || cur.Attempts >= at.n {
				return nil, errNoop
			}
			cur.Attempts, cur.AgentID, cur.AgentName = at.n, at.agent.ID, at.agent.Name
			return nil, nil
		})
		if err != nil && !errors.Is(err, errNoop) {
			s.log.Warn("count canceled attempt failed", "task", t.ID, "err", err)
		}
		if !at.pull() {
			if err := s.dispatcher.Cancel(bg, at.agent, t.ID, remoteID); err != nil {
				s.log.Warn("cancel task on agent failed", "task", t.ID, "agent", at.agent.ID, "err", err)
			}
		}
		return nil
	}
	s.metrics.attempts.WithLabelValues("interrupted").Inc()
	_, err = s.tasks.ModifyFrom(bg, t, func(_ context.Context, _ storage.TaskTx, cur *storage.Task) ([]storage.TaskEvent, error) {
		if cur.State.Terminal() || cur.Attempts != at.n || cur.JobID != at.jobID || cur.RunningOn == "" {
			return nil, errNoop
		}
		cur.Attempts--
		cur.Message = fmt.Sprintf("attempt on agent %s interrupted: the task service is stopping; it will be retried", at.agent.Name)
		cur.RunningOn, cur.Offered, cur.LeaseExpiresAt, cur.AttemptError = "", false, time.Time{}, ""
		return []storage.TaskEvent{{Kind: storage.TaskEventStatus, State: cur.State, Message: cur.Message}}, nil
	})
	if err != nil && !errors.Is(err, errNoop) {
		s.log.Warn("release interrupted attempt failed", "task", t.ID, "err", err)
	}
	s.hub.notify(taskKey(t.ID))
	return ctx.Err()
}
