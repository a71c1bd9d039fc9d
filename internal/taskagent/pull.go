package taskagent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/ossa-platform/ossa/internal/auth"
	"github.com/ossa-platform/ossa/internal/dispatch"
	"github.com/ossa-platform/ossa/internal/httpx"
	"github.com/ossa-platform/ossa/internal/storage"
)

// Pull mode: an agent that the platform cannot reach (behind NAT; registered
// without an endpoint) fetches its work. An attempt routed to it offers the
// task to it; the agent claims it with a long poll, extends its lease with
// heartbeats and reports the outcome. The worker that made the offer waits
// for that outcome as it would for a pushed dispatch, so timeouts, retries
// and cancellation work the same in both modes.

// errPullDone ends a pull-mode wait whose outcome the agent's own call
// already recorded.
var errPullDone = errors.New("pull-mode outcome recorded")

// pullError is a failed pull-mode attempt: the agent reported a retryable
// failure, let its lease lapse, or never claimed the task.
type pullError struct{ msg string }

func (e *pullError) Error() string { return e.msg }

// awaitPull waits for the outcome of a pull-mode attempt.
func (s *Service) awaitPull(ctx context.Context, at *attempt) error {
	wake, unsubscribe := s.hub.subscribe(taskKey(at.task.ID))
	defer unsubscribe()
	tick := time.NewTicker(s.cfg.PollInterval)
	defer tick.Stop()
	for {
		t, err := s.tasks.Get(ctx, at.task.ID)
		if err != nil && ctx.Err() == nil {
			return err
		}
		if err == nil {
			switch {
			case t.JobID != at.jobID || t.Attempts != at.n:
				return errNoop
			case t.State.Terminal() || t.State.Interrupted():
				return errPullDone
			case t.RunningOn == "":
				return errNoop
			case t.AttemptError != "":
				return &pullError{fmt.Sprintf("pull-mode agent %s reported a failure: %s", t.AgentName, t.AttemptError)}
			case !t.Offered && !t.LeaseExpiresAt.IsZero() && s.clock().After(t.LeaseExpiresAt):
				return &pullError{fmt.Sprintf("pull-mode agent %s's lease expired at %s without a heartbeat",
					t.AgentName, t.LeaseExpiresAt.UTC().Format(time.RFC3339))}
			}
		}
		select {
		case <-ctx.Done():
			if errors.Is(context.Cause(ctx), errAttemptTimedOut) && t != nil {
				if t.Offered {
					return &pullError{fmt.Sprintf("pull-mode agent %s did not claim the task within the timeout of %s", t.AgentName, t.Timeout)}
				}
				return &pullError{fmt.Sprintf("pull-mode agent %s did not finish within the timeout of %s", t.AgentName, t.Timeout)}
			}
			return ctx.Err()
		case <-wake:
		case <-tick.C:
		}
	}
}

// ClaimRequest is the body of POST /api/v1/tasks:claim.
type ClaimRequest struct {
	// AgentID is the claiming agent's ID (or name).
	AgentID string `json:"agent_id"`
	// Capabilities, when set, limits the claim to tasks asking for one of
	// them.
	Capabilities []string `json:"capabilities,omitempty"`
	// Wait is how long to wait for a task when none is ready, as a
	// duration ("30s"), cut to the service's max-claim-wait; empty means
	// answer at once.
	Wait string `json:"wait,omitempty"`
}

// CompleteRequest is the body of POST /api/v1/tasks/{id}:complete.
type CompleteRequest struct {
	// AgentID, when set, must be the agent holding the lease.
	AgentID   string              `json:"agent_id,omitempty"`
	Output    json.RawMessage     `json:"output,omitempty"`
	Artifacts []dispatch.Artifact `json:"artifacts,omitempty"`
	Message   string              `json:"message,omitempty"`
}

// FailRequest is the body of POST /api/v1/tasks/{id}:fail.
type FailRequest struct {
	AgentID string `json:"agent_id,omitempty"`
	Message string `json:"message"`
	// Retryable hands the task back for another attempt (preferring another
	// agent); otherwise the task fails now.
	Retryable bool `json:"retryable,omitempty"`
}

// HeartbeatRequest is the body of POST /api/v1/tasks/{id}:heartbeat.
type HeartbeatRequest struct {
	AgentID string `json:"agent_id,omitempty"`
}

// Lease is the answer to a heartbeat.
type Lease struct {
	TaskID         string    `json:"task_id"`
	LeaseExpiresAt time.Time `json:"lease_expires_at"`
}

// Claim hands the most urgent task offered to the agent to it, waiting up
// to the request's wait for one; nil means none came.
func (s *Service) Claim(ctx context.Context, req ClaimRequest) (*Task, error) {
	var errs []FieldError
	if strings.TrimSpace(req.AgentID) == "" {
		errs = append(errs, FieldError{Path: "agent_id", Message: "required"})
	}
	var wait time.Duration
	if req.Wait != "" {
		d, err := time.ParseDuration(req.Wait)
		switch {
		case err != nil:
			errs = append(errs, FieldError{Path: "wait", Message: fmt.Sprintf("%q is not a duration such as \"30s\"", req.Wait)})
		case d < 0:
			errs = append(errs, FieldError{Path: "wait", Message: fmt.Sprintf("%s must not be negative", d)})
		default:
			// Longer waits are cut short rather than refused: the agent
			// simply polls again.
			wait = min(d, s.cfg.MaxClaimWait)
		}
	}
	if len(errs) > 0 {
		return nil, httpx.Errorf(http.StatusUnprocessableEntity, "invalid claim: %s: %s", errs[0].Path, errs[0].Message).WithErrors(errs)
	}
	a, err := s.finder.Agent(ctx, req.AgentID)
	if errors.Is(err, storage.ErrNotFound) || httpx.StatusCode(err) == http.StatusNotFound {
		return nil, unprocessable("agent_id", "no agent is registered with the ID or name %q", req.AgentID)
	}
	if err != nil {
		return nil, fmt.Errorf("claim: find agent %s: %w", req.AgentID, err)
	}
	if err := auth.CheckAgent(ctx, a.Name); err != nil {
		return nil, err
	}

	wake, unsubscribe := s.hub.subscribe(offerKey(a.ID))
	defer unsubscribe()
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	tick := time.NewTicker(s.cfg.PollInterval)
	defer tick.Stop()
	for {
		t, err := s.tasks.Claim(ctx, a.ID, req.Capabilities, func(_ context.Context, _ storage.TaskTx, t *storage.Task) ([]storage.TaskEvent, error) {
			if t.State.Terminal() || !t.Offered {
				return nil, errNoop
			}
			t.Offered, t.State = false, storage.TaskWorking
			t.LeaseExpiresAt = s.clock().Add(s.cfg.Lease)
			t.Message = fmt.Sprintf("attempt %d of %d: claimed by pull-mode agent %s", t.Attempts, t.MaxAttempts, a.Name)
			return []storage.TaskEvent{{Kind: storage.TaskEventStatus, State: t.State, Message: t.Message}}, nil
		})
		if err == nil {
			s.hub.notify(taskKey(t.ID))
			v := view(t)
			return &v, nil
		}
		if !errors.Is(err, storage.ErrNotFound) && !errors.Is(err, errNoop) {
			return nil, fmt.Errorf("claim for agent %s: %w", a.Name, err)
		}
		select {
		case <-deadline.C:
			return nil, nil
		case <-ctx.Done():
			return nil, nil
		case <-s.draining:
			return nil, nil
		case <-wake:
		case <-tick.C:
		}
	}
}

// leased applies fn to a task that a pull-mode agent holds, after checking
// that it does: the lease is the agent's (when req names one) and the caller
// may act for the agent. A task that finished or was taken back is a 409,
// which tells the agent to stop.
func (s *Service) leased(ctx context.Context, id, agentID string, fn func(t *storage.Task) []storage.TaskEvent) (*storage.Task, error) {
	t, err := s.tasks.Modify(ctx, id, func(_ context.Context, _ storage.TaskTx, t *storage.Task) ([]storage.TaskEvent, error) {
		switch {
		case t.State.Terminal():
			return nil, httpx.Errorf(http.StatusConflict, "task %s is %s", t.ID, t.State)
		case t.RunningOn == "" || t.Offered:
			return nil, httpx.Errorf(http.StatusConflict, "task %s is not claimed by any agent (its lease may have expired)", t.ID)
		case agentID != "" && agentID != t.RunningOn && agentID != t.AgentName:
			return nil, httpx.Errorf(http.StatusConflict, "task %s is leased to another agent", t.ID)
		}
		if err := auth.CheckAgent(ctx, t.AgentName); err != nil {
			return nil, err
		}
		return fn(t), nil
	})
	if err != nil {
		return nil, notFoundOr(err, id)
	}
	s.hub.notify(taskKey(id))
	return t, nil
}

// Complete records the outcome a pull-mode agent reports for the task it
// holds.
func (s *Service) Complete(ctx context.Context, id string, req CompleteRequest) (*Task, error) {
	if len(req.Output) > 0 && !json.Valid(req.Output) {
		return nil, unprocessable("output", "must be valid JSON")
	}
	t, err := s.leased(ctx, id, req.AgentID, func(t *storage.Task) []storage.TaskEvent {
		return applyOutcome(t, storage.TaskCompleted, req.Message,
			&dispatch.Result{State: dispatch.StateCompleted, Output: req.Output, Artifacts: req.Artifacts})
	})
	if err != nil {
		return nil, err
	}
	s.metrics.finished.WithLabelValues(string(storage.TaskCompleted)).Inc()
	v := view(t)
	return &v, nil
}

// Fail records a failure a pull-mode agent reports: a retryable one goes
// back to the worker as a failed attempt, any other fails the task.
func (s *Service) Fail(ctx context.Context, id string, req FailRequest) (*Task, error) {
	if strings.TrimSpace(req.Message) == "" {
		return nil, unprocessable("message", "required: say why the task failed")
	}
	t, err := s.leased(ctx, id, req.AgentID, func(t *storage.Task) []storage.TaskEvent {
		if req.Retryable {
			// The worker waiting on the attempt records it, as for a
			// pushed attempt that failed.
			t.AttemptError = req.Message
			return nil
		}
		return applyOutcome(t, storage.TaskFailed, fmt.Sprintf("pull-mode agent %s reported a failure: %s", t.AgentName, req.Message), nil)
	})
	if err != nil {
		return nil, err
	}
	if t.State == storage.TaskFailed {
		s.metrics.finished.WithLabelValues(string(storage.TaskFailed)).Inc()
	}
	v := view(t)
	return &v, nil
}

// Heartbeat extends the lease of the agent holding the task.
func (s *Service) Heartbeat(ctx context.Context, id string, req HeartbeatRequest) (*Lease, error) {
	t, err := s.leased(ctx, id, req.AgentID, func(t *storage.Task) []storage.TaskEvent {
		t.LeaseExpiresAt = s.clock().Add(s.cfg.Lease)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &Lease{TaskID: t.ID, LeaseExpiresAt: t.LeaseExpiresAt}, nil
}

// applyOutcome puts t in a terminal or interrupted state with msg, taking
// output and artifacts from res when set, ends its attempt, and returns the
// events to record: one per artifact, then the status.
func applyOutcome(t *storage.Task, state storage.TaskState, msg string, res *dispatch.Result) []storage.TaskEvent {
	var events []storage.TaskEvent
	if res != nil {
		t.Output, t.RemoteID = res.Output, res.RemoteID
		if len(res.Artifacts) > 0 {
			t.Artifacts = encodeArtifacts(append(decodeArtifacts(t.Artifacts), res.Artifacts...))
			for _, art := range res.Artifacts {
				events = append(events, storage.TaskEvent{Kind: storage.TaskEventArtifact, State: t.State, Artifact: encodeArtifact(art)})
			}
		}
	}
	t.State, t.Message = state, msg
	t.RunningOn, t.Offered, t.LeaseExpiresAt, t.AttemptError = "", false, time.Time{}, ""
	return append(events, storage.TaskEvent{Kind: storage.TaskEventStatus, State: state, Message: msg})
}
