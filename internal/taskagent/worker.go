package taskagent

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/riverqueue/river"

	"github.com/ossa-platform/ossa/internal/dispatch"
	"github.com/ossa-platform/ossa/internal/storage"
)

// Causes with which an attempt's context ends, telling the worker why.
var (
	errAttemptTimedOut = errors.New("attempt timed out")
	errTaskCanceled    = errors.New("task canceled")
)

// errNoop aborts a Modify that finds nothing to do: the task moved on (was
// canceled, finished, or a newer attempt took over) since it was read.
var errNoop = errors.New("nothing to do")

// errAllBusy reports that every candidate is at its concurrency limit.
var errAllBusy = errors.New("every capable agent is at its concurrency limit")

// Snooze intervals: how soon a task waiting for an agent, or for a busy
// agent to free a slot, is looked at again.
const (
	waitForAgentPoll = 2 * time.Second
	busySnooze       = 500 * time.Millisecond
)

// worker runs tasks' River jobs: each run is one attempt.
type worker struct {
	river.WorkerDefaults[jobArgs]
	s *Service
}

// Timeout implements river.Worker: the task's own timeout plus time to
// record the outcome. River's rescuer also waits this long before retrying
// a job whose worker died.
func (w *worker) Timeout(job *river.Job[jobArgs]) time.Duration {
	return time.Duration(job.Args.TimeoutMS)*time.Millisecond + recordGrace
}

// Work implements river.Worker. A nil error means the job is done with
// (the task finished, waits for its client, or belongs to another job); an
// error means retry with backoff; JobSnooze means look again later without
// using an attempt.
func (w *worker) Work(ctx context.Context, job *river.Job[jobArgs]) error {
	return w.s.work(ctx, job.ID, job.Attempt, job.Args.TaskID)
}

// work runs one attempt of the task. riverAttempt is River's count of the
// job's runs including this one; snoozes and shutdown interruptions do not
// count, so runs before this one that the task does not count are attempts
// whose worker died before writing them.
func (s *Service) work(ctx context.Context, jobID int64, riverAttempt int, taskID string) error {
	t, err := s.tasks.Get(ctx, taskID)
	if errors.Is(err, storage.ErrNotFound) {
		return river.JobCancel(fmt.Errorf("task %s does not exist", taskID))
	}
	if err != nil {
		return err
	}
	if t.JobID != jobID || t.State.Terminal() || t.State.Interrupted() {
		return nil
	}
	if t.RunningOn != "" || riverAttempt-1 > t.Attempts {
		if t, err = s.abandonAttempt(ctx, t, riverAttempt-1); err != nil {
			return ignoreNoop(err)
		}
	}
	if t.Attempts >= t.MaxAttempts {
		_, err := s.finish(ctx, &attempt{jobID: jobID, task: t}, storage.TaskFailed,
			fmt.Sprintf("gave up after %d attempts; last: %s", t.Attempts, t.Message), nil)
		return ignoreNoop(err)
	}

	cands, err := s.candidates(ctx, t)
	if err != nil {
		return fmt.Errorf("route task %s: %w", t.ID, err)
	}
	if len(cands) == 0 {
		return s.noAgent(ctx, t, jobID)
	}
	at, err := s.beginAttempt(ctx, t, jobID, cands)
	switch {
	case errors.Is(err, errAllBusy):
		return river.JobSnooze(busySnooze)
	case err != nil:
		return ignoreNoop(err)
	}
	return s.runAttempt(ctx, at)
}

func ignoreNoop(err error) error {
	if errors.Is(err, errNoop) {
		return nil
	}
	return err
}

// noAgent handles a task no agent can take now: it waits (snoozing, which
// uses no attempt) while its wait_for_agent deadline lasts, then fails; a
// task that did not ask to wait spends an attempt and is retried.
func (s *Service) noAgent(ctx context.Context, t *storage.Task, jobID int64) error {
	what := describeWant(t)
	if !t.WaitForAgentUntil.IsZero() {
		if left := t.WaitForAgentUntil.Sub(s.clock()); left > 0 {
			return river.JobSnooze(min(left, waitForAgentPoll))
		}
		// Waiting used no attempt: this is bookkeeping, not an attempt.
		_, err := s.finish(ctx, &attempt{jobID: jobID, task: t}, storage.TaskFailed,
			fmt.Sprintf("no healthy agent offering %s appeared before the wait_for_agent deadline %s",
				what, t.WaitForAgentUntil.UTC().Format(time.RFC3339)), nil)
		return ignoreNoop(err)
	}
	final, err := s.failAttempt(ctx, &attempt{jobID: jobID, n: t.Attempts + 1, task: t}, "no healthy agent offers "+what, false)
	if err != nil || final {
		return ignoreNoop(err)
	}
	return fmt.Errorf("task %s: no healthy agent offers %s", t.ID, what)
}

func describeWant(t *storage.Task) string {
	if t.RequestedAgent != "" {
		return fmt.Sprintf("agent %q", t.RequestedAgent)
	}
	return fmt.Sprintf("capability %q%s", t.Capability, constraintsText(t))
}

// beginAttempt picks the best candidate with a free slot. On an agent with a
// concurrency limit the attempt is written at once, atomically with counting
// the agent's running tasks (it holds a slot), and so is an offer to a
// pull-mode agent (the agent must find it); otherwise writing it is deferred
// (see runAttempt). It returns errAllBusy when every candidate is full.
func (s *Service) beginAttempt(ctx context.Context, t *storage.Task, jobID int64, cands []candidate) (*attempt, error) {
	for _, c := range cands {
		if c.limit > 0 && c.running >= c.limit {
			continue
		}
		at := &attempt{jobID: jobID, n: t.Attempts + 1, agent: c.agent, task: t}
		if c.limit == 0 && !at.pull() {
			return at, nil
		}
		got, err := s.tasks.ModifyFrom(ctx, t, func(ctx context.Context, tx storage.TaskTx, t *storage.Task) ([]storage.TaskEvent, error) {
			if t.JobID != jobID || t.State.Terminal() || t.State.Interrupted() || t.Attempts >= at.n {
				return nil, errNoop
			}
			if err := tx.RelaxDurability(ctx); err != nil {
				return nil, err
			}
			if c.limit > 0 {
				n, err := tx.CountRunning(ctx, c.agent.ID)
				if err != nil {
					return nil, err
				}
				if n >= c.limit {
					return nil, errAllBusy
				}
			}
			return at.start(t), nil
		})
		if errors.Is(err, errAllBusy) {
			continue
		}
		if err != nil {
			return nil, err
		}
		at.written(got)
		s.hub.notify(taskKey(t.ID))
		if at.pull() {
			s.hub.notify(offerKey(c.agent.ID))
		}
		return at, nil
	}
	return nil, errAllBusy
}

// startDelay is how long an attempt runs before its start is written, when
// nothing requires writing it at once. Most attempts on a fast agent end
// sooner, and their start is then written with their outcome, in one write
// instead of two; a slower one shows as working after this delay.
const startDelay = 20 * time.Millisecond

// runAttempt runs the attempt and records its outcome.
func (s *Service) runAttempt(ctx context.Context, at *attempt) error {
	t, a := at.task, at.agent
	attemptCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	attemptCtx, cancelTimeout := context.WithTimeoutCause(attemptCtx, t.Timeout, errAttemptTimedOut)
	defer cancelTimeout()
	s.attempts.add(t.ID, cancel)
	defer s.attempts.remove(t.ID)
	stopWatch := s.watchCancel(attemptCtx, t.ID, cancel)
	defer stopWatch()
	stopStart := s.deferStart(attemptCtx, at)

	s.metrics.running.Inc()
	s.load.add(a.ID, 1)
	began := time.Now()
	var (
		res dispatch.Result
		err error
	)
	if at.pull() {
		err = s.awaitPull(attemptCtx, at)
	} else {
		res, err = s.dispatch(attemptCtx, at)
	}
	s.metrics.running.Dec()
	s.load.add(a.ID, -1)
	s.metrics.attemptSeconds.Observe(time.Since(began).Seconds())
	stopStart()

	// Outcomes are recorded even while the process stops: an answer the
	// agent gave must not be thrown away.
	rec, cancelRec := context.WithTimeout(context.WithoutCancel(ctx), recordGrace)
	defer cancelRec()
	switch {
	case err == nil:
		s.metrics.attempts.WithLabelValues("ok").Inc()
		return s.recordResult(rec, at, res)
	case errors.Is(err, errPullDone):
		s.metrics.attempts.WithLabelValues("ok").Inc()
		return nil
	case errors.Is(err, errNoop):
		return nil
	}
	cause := context.Cause(attemptCtx)
	if errors.Is(cause, errTaskCanceled) || (ctx.Err() != nil && !errors.Is(cause, errAttemptTimedOut)) {
		return s.interrupted(ctx, at, res.RemoteID, cause)
	}
	msg, permanent := describeFailure(err, attemptCtx, t.Timeout, a)
	s.metrics.attempts.WithLabelValues(outcomeOf(attemptCtx)).Inc()
	final, ferr := s.failAttempt(rec, at, msg, permanent)
	if ferr != nil || final {
		return ignoreNoop(ferr)
	}
	return fmt.Errorf("task %s attempt %d: %s", t.ID, at.n, msg)
}

// deferStart writes the attempt's start after startDelay unless the
// attempt ended first or it is written already. The returned function stops
// it, waiting for a write in progress.
func (s *Service) deferStart(ctx context.Context, at *attempt) (stop func()) {
	if _, ok := at.current(); ok {
		return func() {}
	}
	ended := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		timer := time.NewTimer(startDelay)
		defer timer.Stop()
		select {
		case <-ended:
		case <-ctx.Done():
		case <-timer.C:
			s.writeStart(context.WithoutCancel(ctx), at)
		}
	}()
	return func() { close(ended); <-done }
}

// writeStart writes an attempt's start on its own.
func (s *Service) writeStart(ctx context.Context, at *attempt) {
	cur, _ := at.current()
	got, err := s.tasks.ModifyFrom(ctx, cur, func(ctx context.Context, tx storage.TaskTx, t *storage.Task) ([]storage.TaskEvent, error) {
		if t.JobID != at.jobID || t.State.Terminal() || t.State.Interrupted() || t.Attempts >= at.n {
			return nil, errNoop
		}
		// Losing this write in a database crash only repeats the attempt,
		// which at-least-once allows; waiting for the disk would cost a
		// flush per attempt.
		if err := tx.RelaxDurability(ctx); err != nil {
			return nil, err
		}
		return at.start(t), nil
	})
	if err != nil {
		if !errors.Is(err, errNoop) {
			s.log.Warn("record attempt start failed", "task", cur.ID, "err", err)
		}
		return
	}
	at.written(got)
	s.hub.notify(taskKey(cur.ID))
}

func outcomeOf(attemptCtx context.Context) string {
	if errors.Is(context.Cause(attemptCtx), errAttemptTimedOut) {
		return "timeout"
	}
	return "failed"
}

// describeFailure turns an attempt error into the message kept on the task,
// with the agent's own words when it gave any.
func describeFailure(err error, attemptCtx context.Context, timeout time.Duration, a storage.Agent) (msg string, permanent bool) {
	var pe *pullError
	if errors.As(err, &pe) {
		return pe.msg, false
	}
	if errors.Is(context.Cause(attemptCtx), errAttemptTimedOut) {
		return fmt.Sprintf("agent %s did not finish within the timeout of %s", a.Name, timeout), false
	}
	permanent = errors.Is(err, dispatch.ErrPermanent)
	var ae *dispatch.AgentError
	if errors.As(err, &ae) {
		return fmt.Sprintf("agent %s answered %s status %d: %s", a.Name, ae.Protocol, ae.Status, ae.Detail), permanent
	}
	return fmt.Sprintf("agent %s: %v", a.Name, err), permanent
}

// dispatch sends the attempt to a push-mode agent, recording the progress
// it streams as events.
func (s *Service) dispatch(ctx context.Context, at *attempt) (dispatch.Result, error) {
	t := at.task
	deadline, _ := ctx.Deadline()
	updates := make(chan dispatch.Update, 16)
	var wg sync.WaitGroup
	wg.Go(func() {
		for u := range updates {
			s.recordUpdate(context.WithoutCancel(ctx), at, u)
		}
	})
	res, err := s.dispatcher.Dispatch(ctx, dispatch.Request{
		TaskID: t.ID, Capability: t.Capability, Input: t.Input, Attempt: at.n, Deadline: deadline, Agent: at.agent,
	}, updates)
	close(updates)
	wg.Wait()
	return res, err
}

// watchCancel cancels the attempt when the task is canceled through another
// replica, which this process only learns by reading the task. (River's
// JobCancel also reaches the job's context; this is the fallback that does
// not depend on its notifications.) It returns a function that stops it.
func (s *Service) watchCancel(ctx context.Context, taskID string, cancel context.CancelCauseFunc) func() {
	ctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(s.cfg.PollInterval)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				t, err := s.tasks.Get(ctx, taskID)
				if err == nil && t.State == storage.TaskCanceled {
					cancel(errTaskCanceled)
					return
				}
			}
		}
	}()
	return func() { stop(); <-done }
}
