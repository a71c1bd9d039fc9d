package storagetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/ossa-platform/ossa/internal/storage"
)

// taskTests are the task store's part of the suite; Run runs them with the
// rest.
var taskTests = []struct {
	name string
	fn   func(t *testing.T, s storage.Store)
}{
	{"TaskCreateGetRoundTrip", testTaskCreateGetRoundTrip},
	{"TaskCreateHook", testTaskCreateHook},
	{"TaskIdempotencyKey", testTaskIdempotencyKey},
	{"TaskCreateMany", testTaskCreateMany},
	{"TaskUnknownIsNotFound", testTaskUnknownIsNotFound},
	{"TaskModify", testTaskModify},
	{"TaskModifyErrorRollsBack", testTaskModifyErrorRollsBack},
	{"TaskModifyConcurrent", testTaskModifyConcurrent},
	{"TaskModifyManyTasksAtOnce", testTaskModifyManyTasksAtOnce},
	{"TaskModifyFromStaleCopy", testTaskModifyFromStaleCopy},
	{"TaskCountRunningIsAtomic", testTaskCountRunningIsAtomic},
	{"TaskRelaxDurability", testTaskRelaxDurability},
	{"TaskClaim", testTaskClaim},
	{"TaskClaimConcurrent", testTaskClaimConcurrent},
	{"TaskListFiltersAndPages", testTaskListFiltersAndPages},
	{"TaskEvents", testTaskEvents},
}

// newTask returns a valid task to create; tests change what they test.
func newTask(capability string) *storage.Task {
	return &storage.Task{
		Capability:  capability,
		Input:       json.RawMessage(`{"text":"hello"}`),
		Tags:        []string{},
		Priority:    2,
		Timeout:     30 * time.Second,
		MaxAttempts: 3,
		RequestHash: "sha256:00",
		CreatedBy:   "tester",
	}
}

func mustCreateTask(t *testing.T, s storage.Store, task *storage.Task) *storage.Task {
	t.Helper()
	require.NoError(t, s.Tasks().Create(t.Context(), []*storage.Task{task}, nil), "create task")
	return task
}

// modify applies fn to the task, failing the test on error.
func modify(t *testing.T, s storage.Store, id string, fn func(task *storage.Task) []storage.TaskEvent) *storage.Task {
	t.Helper()
	got, err := s.Tasks().Modify(t.Context(), id, func(_ context.Context, _ storage.TaskTx, task *storage.Task) ([]storage.TaskEvent, error) {
		return fn(task), nil
	})
	require.NoError(t, err, "modify task %s", id)
	return got
}

// requireSameTask compares tasks field by field, JSON by meaning
// (PostgreSQL's jsonb re-encodes it).
func requireSameTask(t *testing.T, want, got *storage.Task, msgAndArgs ...any) {
	t.Helper()
	require.NotNil(t, got, msgAndArgs...)
	w, g := *want, *got
	for _, pair := range [][2]*json.RawMessage{{&w.Input, &g.Input}, {&w.Output, &g.Output}, {&w.Artifacts, &g.Artifacts}} {
		if *pair[0] == nil {
			require.Nil(t, *pair[1], msgAndArgs...)
		} else {
			require.JSONEq(t, string(*pair[0]), string(*pair[1]), msgAndArgs...)
		}
		*pair[0], *pair[1] = nil, nil
	}
	require.Equal(t, w, g, msgAndArgs...)
}

func testTaskCreateGetRoundTrip(t *testing.T, s storage.Store) {
	in := &storage.Task{
		Capability:        "summarize",
		RequestedAgent:    "summarizer",
		Input:             json.RawMessage(`{"text": "ünïcødé", "n": [1, 2.5, null], "nested": {"ok": true}}`),
		MinTier:           "governed",
		Tags:              []string{"nlp", "eu"},
		Priority:          1,
		Timeout:           1500 * time.Millisecond,
		MaxAttempts:       5,
		WaitForAgentUntil: oddTime(time.Hour),
		IdempotencyKey:    "tester:key-1",
		RequestHash:       "sha256:abc",
		CreatedBy:         "tester",
		ContextID:         "ctx-1",
		Message:           "queued",
		// Progress fields a new task normally leaves empty must round-trip too.
		Artifacts: json.RawMessage(`[{"name": "a"}]`),
		JobID:     42,
	}
	task := *in
	before := time.Now()
	require.NoError(t, s.Tasks().Create(t.Context(), []*storage.Task{&task}, nil))

	parsed, err := uuid.Parse(task.ID)
	require.NoError(t, err, "generated ID %q", task.ID)
	require.Equal(t, uuid.Version(7), parsed.Version())
	require.Equal(t, storage.TaskSubmitted, task.State, "an empty state is submitted")
	require.EqualValues(t, 1, task.EventSeq, "the first event is recorded")
	require.WithinDuration(t, before, task.CreatedAt, time.Minute)
	require.Equal(t, time.UTC, task.CreatedAt.Location())
	require.Equal(t, task.CreatedAt, task.UpdatedAt)
	require.True(t, task.FinishedAt.IsZero())

	want := *in
	want.ID, want.State, want.EventSeq, want.CreatedAt, want.UpdatedAt = task.ID, storage.TaskSubmitted, 1, task.CreatedAt, task.UpdatedAt
	want.WaitForAgentUntil = in.WaitForAgentUntil.UTC().Truncate(time.Microsecond)
	want.FailedAgents = []string{}
	requireSameTask(t, &want, &task, "Create must leave in *t what it stored")
	got, err := s.Tasks().Get(t.Context(), task.ID)
	require.NoError(t, err)
	requireSameTask(t, &want, got, "Get")

	events, err := s.Tasks().Events(t.Context(), task.ID, 0, 0)
	require.NoError(t, err)
	require.Len(t, events, 1)
	require.Equal(t, storage.TaskEvent{TaskID: task.ID, Seq: 1, Kind: storage.TaskEventStatus,
		State: storage.TaskSubmitted, Message: "queued", CreatedAt: task.CreatedAt}, events[0])

	bare := mustCreateTask(t, s, &storage.Task{Capability: "x", Priority: 2, MaxAttempts: 1})
	require.NotNil(t, bare.Tags, "empty lists read back non-nil")
	require.NotNil(t, bare.FailedAgents)
	require.Nil(t, bare.Input, "no input reads back nil")
	require.Nil(t, bare.Output)
	require.JSONEq(t, `[]`, string(bare.Artifacts), "no artifacts read back as []")
	require.Zero(t, bare.JobID)
}

func testTaskCreateHook(t *testing.T, s storage.Store) {
	task := newTask("summarize")
	var sawID string
	err := s.Tasks().Create(t.Context(), []*storage.Task{task}, func(_ context.Context, tx storage.TaskTx, cs []*storage.Task) error {
		dtx, err := tx.Driver(t.Context())
		require.NoError(t, err)
		require.NotNil(t, dtx, "the hook gets the driver's transaction")
		require.Len(t, cs, 1)
		require.Equal(t, "summarize", cs[0].Capability)
		sawID = cs[0].ID
		cs[0].JobID = 77
		return nil
	})
	require.NoError(t, err)
	require.NotEmpty(t, sawID, "the ID is set before the hook runs")
	require.Equal(t, sawID, task.ID)
	require.EqualValues(t, 77, task.JobID, "the hook may set the job ID")

	boom := errors.New("queue down")
	failing := newTask("summarize")
	failing.IdempotencyKey = "k-hook"
	err = s.Tasks().Create(t.Context(), []*storage.Task{failing}, func(context.Context, storage.TaskTx, []*storage.Task) error { return boom })
	require.ErrorIs(t, err, boom)
	_, err = s.Tasks().GetByIdempotencyKey(t.Context(), "k-hook")
	require.ErrorIs(t, err, storage.ErrNotFound, "a failed hook creates nothing")
}

func testTaskIdempotencyKey(t *testing.T, s storage.Store) {
	first := newTask("summarize")
	first.IdempotencyKey = "tester:abc"
	mustCreateTask(t, s, first)

	hookRan := false
	second := newTask("translate")
	second.IdempotencyKey = "tester:abc"
	err := s.Tasks().Create(t.Context(), []*storage.Task{second}, func(context.Context, storage.TaskTx, []*storage.Task) error { hookRan = true; return nil })
	require.ErrorIs(t, err, storage.ErrConflict)
	require.True(t, hookRan)
	require.Empty(t, second.ID, "a failed Create leaves *t unchanged")

	got, err := s.Tasks().GetByIdempotencyKey(t.Context(), "tester:abc")
	require.NoError(t, err)
	require.Equal(t, first.ID, got.ID)
	require.Equal(t, "summarize", got.Capability)
	page, err := s.Tasks().List(t.Context(), storage.TaskFilter{})
	require.NoError(t, err)
	require.Len(t, page.Tasks, 1, "the conflicting task was not stored")

	// Tasks without a key never clash.
	mustCreateTask(t, s, newTask("a"))
	mustCreateTask(t, s, newTask("b"))
}

func testTaskCreateMany(t *testing.T, s storage.Store) {
	ctx := t.Context()
	batch := []*storage.Task{newTask("a"), newTask("b"), newTask("c")}
	batch[1].Message = "second"
	var hooked []string
	err := s.Tasks().Create(ctx, batch, func(_ context.Context, _ storage.TaskTx, cs []*storage.Task) error {
		for i, c := range cs {
			hooked = append(hooked, c.ID)
			c.JobID = int64(100 + i)
		}
		return nil
	})
	require.NoError(t, err)
	for i, task := range batch {
		require.Equal(t, hooked[i], task.ID, "the hook saw each task with its ID, in order")
		got, err := s.Tasks().Get(ctx, task.ID)
		require.NoError(t, err)
		require.Equal(t, task, got, "each task is as Get returns it")
		require.EqualValues(t, 100+i, got.JobID)
		events, err := s.Tasks().Events(ctx, task.ID, 0, 0)
		require.NoError(t, err)
		require.Len(t, events, 1, "each task has its first event")
		require.Equal(t, task.Message, events[0].Message)
	}

	// One taken idempotency key fails the whole batch: nothing is stored
	// and no task changes.
	taken := newTask("d")
	taken.IdempotencyKey = "tester:many"
	mustCreateTask(t, s, taken)
	fresh, clash := newTask("e"), newTask("f")
	clash.IdempotencyKey = "tester:many"
	err = s.Tasks().Create(ctx, []*storage.Task{fresh, clash}, nil)
	require.ErrorIs(t, err, storage.ErrConflict)
	require.Empty(t, fresh.ID, "a failed Create leaves every task unchanged")
	require.Empty(t, clash.ID)
	page, err := s.Tasks().List(ctx, storage.TaskFilter{Capability: "e"})
	require.NoError(t, err)
	require.Empty(t, page.Tasks, "the batch's other task was not stored either")

	require.NoError(t, s.Tasks().Create(ctx, nil, nil), "no tasks is nothing to do")
}

func testTaskUnknownIsNotFound(t *testing.T, s storage.Store) {
	ctx := t.Context()
	_, err := s.Tasks().Get(ctx, "no-such-task")
	require.ErrorIs(t, err, storage.ErrNotFound)
	_, err = s.Tasks().GetByIdempotencyKey(ctx, "no-such-key")
	require.ErrorIs(t, err, storage.ErrNotFound)
	called := false
	_, err = s.Tasks().Modify(ctx, "no-such-task", func(context.Context, storage.TaskTx, *storage.Task) ([]storage.TaskEvent, error) {
		called = true
		return nil, nil
	})
	require.ErrorIs(t, err, storage.ErrNotFound)
	require.False(t, called)
	events, err := s.Tasks().Events(ctx, "no-such-task", 0, 0)
	require.NoError(t, err)
	require.Empty(t, events)
	_, err = s.Tasks().Claim(ctx, "agent-1", nil, func(context.Context, storage.TaskTx, *storage.Task) ([]storage.TaskEvent, error) {
		return nil, nil
	})
	require.ErrorIs(t, err, storage.ErrNotFound, "nothing offered")
}

func testTaskModify(t *testing.T, s storage.Store) {
	task := mustCreateTask(t, s, newTask("summarize"))
	created := *task

	lease := oddTime(time.Minute)
	working := modify(t, s, task.ID, func(tk *storage.Task) []storage.TaskEvent {
		tk.State, tk.Message = storage.TaskWorking, "attempt 1 on agent-1"
		tk.Attempts, tk.AgentID, tk.AgentName, tk.RunningOn = 1, "agent-1", "summarizer", "agent-1"
		tk.Offered, tk.LeaseExpiresAt, tk.AttemptError, tk.RemoteID = true, lease, "oops", "remote-9"
		tk.FailedAgents, tk.JobID = []string{"agent-0"}, 99
		tk.Input, tk.RequestedAgent, tk.WaitForAgentUntil = json.RawMessage(`{"more": 1}`), "agent-1", oddTime(0)
		// Request fields other than those three cannot change.
		tk.Capability, tk.Priority, tk.MaxAttempts, tk.IdempotencyKey, tk.CreatedAt = "other", 4, 99, "stolen", time.Time{}
		return []storage.TaskEvent{{Kind: storage.TaskEventStatus, State: storage.TaskWorking, Message: "attempt 1 on agent-1"}}
	})
	require.Equal(t, "summarize", working.Capability)
	require.Equal(t, created.Priority, working.Priority)
	require.Equal(t, created.MaxAttempts, working.MaxAttempts)
	require.Empty(t, working.IdempotencyKey)
	require.Equal(t, created.CreatedAt, working.CreatedAt)
	require.EqualValues(t, 2, working.EventSeq)
	require.True(t, working.FinishedAt.IsZero())
	require.False(t, working.UpdatedAt.Before(created.UpdatedAt))

	got, err := s.Tasks().Get(t.Context(), task.ID)
	require.NoError(t, err)
	requireSameTask(t, working, got, "Modify returns what it stored")
	require.Equal(t, lease.UTC().Truncate(time.Microsecond), got.LeaseExpiresAt)
	require.Equal(t, "agent-1", got.RunningOn)
	require.True(t, got.Offered)
	require.JSONEq(t, `{"more": 1}`, string(got.Input))

	done := modify(t, s, task.ID, func(tk *storage.Task) []storage.TaskEvent {
		tk.State, tk.Message, tk.Output = storage.TaskCompleted, "", json.RawMessage(`{"summary": "hi"}`)
		tk.Artifacts = json.RawMessage(`[{"name": "report", "text": "…"}]`)
		tk.RunningOn, tk.Offered, tk.LeaseExpiresAt = "", false, time.Time{}
		return []storage.TaskEvent{
			{Kind: storage.TaskEventArtifact, State: storage.TaskWorking, Artifact: json.RawMessage(`{"name": "report"}`)},
			{Kind: storage.TaskEventStatus, State: storage.TaskCompleted},
		}
	})
	require.EqualValues(t, 4, done.EventSeq)
	require.False(t, done.FinishedAt.IsZero(), "FinishedAt is set on the first terminal state")
	require.Empty(t, done.RunningOn)
	require.True(t, done.LeaseExpiresAt.IsZero())

	again := modify(t, s, task.ID, func(tk *storage.Task) []storage.TaskEvent { tk.Message = "noted"; return nil })
	require.Equal(t, done.FinishedAt, again.FinishedAt, "FinishedAt keeps the first terminal time")
	require.EqualValues(t, 4, again.EventSeq, "no events, no sequence numbers")

	events, err := s.Tasks().Events(t.Context(), task.ID, 0, 0)
	require.NoError(t, err)
	require.Len(t, events, 4)
	for i, e := range events {
		require.EqualValues(t, i+1, e.Seq)
	}
	require.Equal(t, storage.TaskEventArtifact, events[2].Kind)
	require.JSONEq(t, `{"name": "report"}`, string(events[2].Artifact))
	require.Equal(t, storage.TaskCompleted, events[3].State)
	require.Nil(t, events[3].Artifact)
}

func testTaskModifyErrorRollsBack(t *testing.T, s storage.Store) {
	task := mustCreateTask(t, s, newTask("summarize"))
	boom := errors.New("not now")
	_, err := s.Tasks().Modify(t.Context(), task.ID, func(_ context.Context, _ storage.TaskTx, tk *storage.Task) ([]storage.TaskEvent, error) {
		tk.State = storage.TaskFailed
		return []storage.TaskEvent{{Kind: storage.TaskEventStatus, State: storage.TaskFailed}}, boom
	})
	require.ErrorIs(t, err, boom, "fn's error comes back")
	got, err := s.Tasks().Get(t.Context(), task.ID)
	require.NoError(t, err)
	requireSameTask(t, task, got, "nothing changed")

	_, err = s.Tasks().Modify(t.Context(), task.ID, func(_ context.Context, _ storage.TaskTx, tk *storage.Task) ([]storage.TaskEvent, error) {
		tk.State = "paused"
		return nil, nil
	})
	require.Error(t, err, "an invalid state is refused")
	_, err = s.Tasks().Modify(t.Context(), task.ID, func(_ context.Context, _ storage.TaskTx, tk *storage.Task) ([]storage.TaskEvent, error) {
		tk.Message = "changed"
		return []storage.TaskEvent{{Kind: storage.TaskEventArtifact, State: storage.TaskWorking, Artifact: json.RawMessage(`{`)}}, nil
	})
	require.Error(t, err, "invalid artifact JSON is refused")
	got, err = s.Tasks().Get(t.Context(), task.ID)
	require.NoError(t, err)
	require.Empty(t, got.Message, "a refused write changes nothing")
	require.EqualValues(t, 1, got.EventSeq)
}

func testTaskModifyConcurrent(t *testing.T, s storage.Store) {
	task := mustCreateTask(t, s, newTask("summarize"))
	const writers = 16
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for i := range writers {
		wg.Go(func() {
			_, err := s.Tasks().Modify(t.Context(), task.ID, func(_ context.Context, _ storage.TaskTx, tk *storage.Task) ([]storage.TaskEvent, error) {
				tk.Attempts++
				tk.FailedAgents = append(tk.FailedAgents, fmt.Sprintf("agent-%d", i))
				return []storage.TaskEvent{{Kind: storage.TaskEventStatus, State: storage.TaskWorking, Message: fmt.Sprint(i)}}, nil
			})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	got, err := s.Tasks().Get(t.Context(), task.ID)
	require.NoError(t, err)
	require.Equal(t, writers, got.Attempts, "no write was lost")
	require.Len(t, got.FailedAgents, writers)
	require.EqualValues(t, writers+1, got.EventSeq)
	events, err := s.Tasks().Events(t.Context(), task.ID, 0, 0)
	require.NoError(t, err)
	require.Len(t, events, writers+1)
	for i, e := range events {
		require.EqualValues(t, i+1, e.Seq)
	}
}

// testTaskModifyManyTasksAtOnce writes many tasks at once, several writers
// per task, as task workers do: a driver that shares transactions between
// writers must keep each write's outcome its own.
func testTaskModifyManyTasksAtOnce(t *testing.T, s storage.Store) {
	const tasks, writersPerTask = 40, 3
	created := make([]*storage.Task, tasks)
	for i := range created {
		created[i] = mustCreateTask(t, s, newTask("summarize"))
	}
	var wg sync.WaitGroup
	errs := make(chan error, tasks*writersPerTask)
	for _, task := range created {
		for w := range writersPerTask {
			wg.Go(func() {
				// All start from the same copy: all but one lose the first
				// race and must be applied again on the task as it stands.
				_, err := s.Tasks().ModifyFrom(t.Context(), task, func(_ context.Context, _ storage.TaskTx, tk *storage.Task) ([]storage.TaskEvent, error) {
					tk.Attempts++
					tk.State = storage.TaskWorking
					return []storage.TaskEvent{{Kind: storage.TaskEventStatus, State: tk.State, Message: fmt.Sprint(w)}}, nil
				})
				errs <- err
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	for _, task := range created {
		got, err := s.Tasks().Get(t.Context(), task.ID)
		require.NoError(t, err)
		require.Equal(t, writersPerTask, got.Attempts, "task %s: no write lost or applied twice", task.ID)
		events, err := s.Tasks().Events(t.Context(), task.ID, 0, 0)
		require.NoError(t, err)
		require.Len(t, events, writersPerTask+1)
	}
}

// testTaskModifyFromStaleCopy starts from a copy another writer has since
// outdated: the change must apply to the task as it now stands.
func testTaskModifyFromStaleCopy(t *testing.T, s storage.Store) {
	stale := mustCreateTask(t, s, newTask("summarize"))
	modify(t, s, stale.ID, func(tk *storage.Task) []storage.TaskEvent {
		tk.Attempts = 5
		return []storage.TaskEvent{{Kind: storage.TaskEventStatus, State: tk.State, Message: "other"}}
	})
	var seen []int
	got, err := s.Tasks().ModifyFrom(t.Context(), stale, func(_ context.Context, _ storage.TaskTx, tk *storage.Task) ([]storage.TaskEvent, error) {
		seen = append(seen, tk.Attempts)
		tk.Attempts++
		return []storage.TaskEvent{{Kind: storage.TaskEventStatus, State: tk.State, Message: "mine"}}, nil
	})
	require.NoError(t, err)
	require.Equal(t, 5, seen[len(seen)-1], "fn last ran on the task as it stands")
	require.Equal(t, 6, got.Attempts)
	require.EqualValues(t, 3, got.EventSeq)
	fresh, err := s.Tasks().ModifyFrom(t.Context(), got, func(_ context.Context, _ storage.TaskTx, tk *storage.Task) ([]storage.TaskEvent, error) {
		tk.Message = "from a fresh copy"
		return nil, nil
	})
	require.NoError(t, err)
	require.Equal(t, "from a fresh copy", fresh.Message)
	require.Equal(t, 6, fresh.Attempts)
	events, err := s.Tasks().Events(t.Context(), stale.ID, 0, 0)
	require.NoError(t, err)
	require.Len(t, events, 3)
	require.Equal(t, "mine", events[2].Message)
}

// testTaskCountRunningIsAtomic reserves slots on one agent from many
// goroutines at once; a check-then-set that is not atomic overshoots.
func testTaskCountRunningIsAtomic(t *testing.T, s storage.Store) {
	const tasks, limit = 12, 3
	ids := make([]string, tasks)
	for i := range ids {
		ids[i] = mustCreateTask(t, s, newTask("summarize")).ID
	}
	var wg sync.WaitGroup
	errs := make(chan error, tasks)
	for _, id := range ids {
		wg.Go(func() {
			_, err := s.Tasks().Modify(t.Context(), id, func(ctx context.Context, tx storage.TaskTx, tk *storage.Task) ([]storage.TaskEvent, error) {
				n, err := tx.CountRunning(ctx, "agent-1")
				if err != nil {
					return nil, err
				}
				if n < limit {
					tk.RunningOn = "agent-1"
				}
				return nil, nil
			})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	counts, err := s.Tasks().RunningCounts(t.Context(), []string{"agent-1", "agent-2"})
	require.NoError(t, err)
	require.Equal(t, map[string]int{"agent-1": limit}, counts)
	counts, err = s.Tasks().RunningCounts(t.Context(), nil)
	require.NoError(t, err)
	require.Empty(t, counts)
}

// testTaskRelaxDurability checks that a relaxed transaction still commits
// whole, and that the relaxation ends with it.
func testTaskRelaxDurability(t *testing.T, s storage.Store) {
	task := mustCreateTask(t, s, newTask("summarize"))
	got, err := s.Tasks().Modify(t.Context(), task.ID, func(ctx context.Context, tx storage.TaskTx, tk *storage.Task) ([]storage.TaskEvent, error) {
		if err := tx.RelaxDurability(ctx); err != nil {
			return nil, err
		}
		tk.Message = "relaxed"
		return []storage.TaskEvent{{Kind: storage.TaskEventStatus, State: tk.State, Message: "relaxed"}}, nil
	})
	require.NoError(t, err)
	require.Equal(t, "relaxed", got.Message)
	modify(t, s, task.ID, func(tk *storage.Task) []storage.TaskEvent { tk.Message = "durable"; return nil })
	stored, err := s.Tasks().Get(t.Context(), task.ID)
	require.NoError(t, err)
	require.Equal(t, "durable", stored.Message)
	events, err := s.Tasks().Events(t.Context(), task.ID, 1, 0)
	require.NoError(t, err)
	require.Len(t, events, 1)
	require.Equal(t, "relaxed", events[0].Message)
}

func offer(t *testing.T, s storage.Store, capability, agentID string, priority int) *storage.Task {
	t.Helper()
	task := newTask(capability)
	task.Priority = priority
	mustCreateTask(t, s, task)
	return modify(t, s, task.ID, func(tk *storage.Task) []storage.TaskEvent {
		tk.RunningOn, tk.Offered = agentID, true
		return nil
	})
}

// claimFn takes the task the way the service does.
func claimFn(lease time.Time) storage.ModifyFunc {
	return func(_ context.Context, _ storage.TaskTx, tk *storage.Task) ([]storage.TaskEvent, error) {
		tk.Offered, tk.LeaseExpiresAt, tk.State = false, lease, storage.TaskWorking
		return []storage.TaskEvent{{Kind: storage.TaskEventStatus, State: storage.TaskWorking, Message: "claimed"}}, nil
	}
}

func testTaskClaim(t *testing.T, s storage.Store) {
	low := offer(t, s, "summarize", "agent-1", 3)
	urgent := offer(t, s, "translate", "agent-1", 1)
	offer(t, s, "summarize", "agent-2", 1) // someone else's
	mustCreateTask(t, s, newTask("summarize"))
	lease := oddTime(time.Minute)

	got, err := s.Tasks().Claim(t.Context(), "agent-1", []string{"summarize"}, claimFn(lease))
	require.NoError(t, err)
	require.Equal(t, low.ID, got.ID, "the capability filter passes over the urgent translate task")
	require.False(t, got.Offered)
	require.Equal(t, storage.TaskWorking, got.State)
	require.Equal(t, lease.UTC().Truncate(time.Microsecond), got.LeaseExpiresAt)
	require.EqualValues(t, 2, got.EventSeq)

	got, err = s.Tasks().Claim(t.Context(), "agent-1", nil, claimFn(lease))
	require.NoError(t, err)
	require.Equal(t, urgent.ID, got.ID)

	_, err = s.Tasks().Claim(t.Context(), "agent-1", nil, claimFn(lease))
	require.ErrorIs(t, err, storage.ErrNotFound, "a claimed task is no longer offered")

	boom := errors.New("refused")
	other := offer(t, s, "summarize", "agent-3", 2)
	_, err = s.Tasks().Claim(t.Context(), "agent-3", nil, func(context.Context, storage.TaskTx, *storage.Task) ([]storage.TaskEvent, error) {
		return nil, boom
	})
	require.ErrorIs(t, err, boom)
	still, err := s.Tasks().Get(t.Context(), other.ID)
	require.NoError(t, err)
	require.True(t, still.Offered, "a refused claim changes nothing")

	// Priority orders before age.
	a := offer(t, s, "x", "agent-4", 2)
	b := offer(t, s, "x", "agent-4", 2)
	c := offer(t, s, "x", "agent-4", 1)
	var order []string
	for range 3 {
		got, err := s.Tasks().Claim(t.Context(), "agent-4", nil, claimFn(lease))
		require.NoError(t, err)
		order = append(order, got.ID)
	}
	require.Equal(t, []string{c.ID, a.ID, b.ID}, order)
}

func testTaskClaimConcurrent(t *testing.T, s storage.Store) {
	const tasks = 8
	for range tasks {
		offer(t, s, "summarize", "agent-1", 2)
	}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		claimed []string
	)
	errs := make(chan error, tasks+4)
	for range tasks + 4 {
		wg.Go(func() {
			got, err := s.Tasks().Claim(t.Context(), "agent-1", nil, claimFn(time.Now().Add(time.Minute)))
			if errors.Is(err, storage.ErrNotFound) {
				return
			}
			if err != nil {
				errs <- err
				return
			}
			mu.Lock()
			claimed = append(claimed, got.ID)
			mu.Unlock()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	// Under SKIP LOCKED a claim may pass over a row another is taking and
	// find nothing; what must never happen is one task claimed twice.
	slices.Sort(claimed)
	require.Equal(t, len(claimed), len(slices.Compact(slices.Clone(claimed))), "a task was claimed twice")
	for {
		got, err := s.Tasks().Claim(t.Context(), "agent-1", nil, claimFn(time.Now().Add(time.Minute)))
		if errors.Is(err, storage.ErrNotFound) {
			break
		}
		require.NoError(t, err)
		claimed = append(claimed, got.ID)
	}
	require.Len(t, claimed, tasks, "every offered task is claimed exactly once")
}

func testTaskListFiltersAndPages(t *testing.T, s storage.Store) {
	var all []*storage.Task
	for i := range 7 {
		task := newTask([]string{"summarize", "translate"}[i%2])
		mustCreateTask(t, s, task)
		if i%3 == 0 {
			task = modify(t, s, task.ID, func(tk *storage.Task) []storage.TaskEvent {
				tk.State, tk.AgentID, tk.AgentName = storage.TaskCompleted, "agent-1", "summarizer"
				return nil
			})
		}
		all = append(all, task)
	}
	newestFirst := make([]string, len(all))
	for i, task := range all {
		newestFirst[len(all)-1-i] = task.ID
	}

	tests := []struct {
		name   string
		filter storage.TaskFilter
		want   func(*storage.Task) bool
	}{
		{"all", storage.TaskFilter{}, func(*storage.Task) bool { return true }},
		{"state", storage.TaskFilter{States: []storage.TaskState{storage.TaskCompleted}},
			func(tk *storage.Task) bool { return tk.State == storage.TaskCompleted }},
		{"states", storage.TaskFilter{States: []storage.TaskState{storage.TaskCompleted, storage.TaskSubmitted}},
			func(*storage.Task) bool { return true }},
		{"capability", storage.TaskFilter{Capability: "translate"},
			func(tk *storage.Task) bool { return tk.Capability == "translate" }},
		{"agent id", storage.TaskFilter{Agent: "agent-1"}, func(tk *storage.Task) bool { return tk.AgentID == "agent-1" }},
		{"agent name", storage.TaskFilter{Agent: "summarizer"}, func(tk *storage.Task) bool { return tk.AgentID == "agent-1" }},
		{"combined", storage.TaskFilter{Capability: "summarize", States: []storage.TaskState{storage.TaskSubmitted}},
			func(tk *storage.Task) bool { return tk.Capability == "summarize" && tk.State == storage.TaskSubmitted }},
		{"none", storage.TaskFilter{Capability: "nope"}, func(*storage.Task) bool { return false }},
	}
	for _, tc := range tests {
		var want []string
		for _, id := range newestFirst {
			i := slices.IndexFunc(all, func(tk *storage.Task) bool { return tk.ID == id })
			if tc.want(all[i]) {
				want = append(want, id)
			}
		}
		for _, limit := range []int{0, 1, 2} {
			f := tc.filter
			f.Limit = limit
			var got []string
			for pages := 0; ; pages++ {
				require.Less(t, pages, 100, "pagination does not end")
				page, err := s.Tasks().List(t.Context(), f)
				require.NoError(t, err, tc.name)
				require.NotNil(t, page.Tasks, tc.name)
				for _, tk := range page.Tasks {
					got = append(got, tk.ID)
				}
				if page.NextCursor == "" {
					break
				}
				require.Len(t, page.Tasks, limit, "%s: a page before the last must be full", tc.name)
				f.Cursor = page.NextCursor
			}
			if want == nil {
				require.Empty(t, got, tc.name)
				continue
			}
			require.Equal(t, want, got, "%s (limit %d): newest first", tc.name, limit)
		}
	}
	_, err := s.Tasks().List(t.Context(), storage.TaskFilter{Cursor: "%%%"})
	require.ErrorIs(t, err, storage.ErrInvalidCursor)
}

func testTaskEvents(t *testing.T, s storage.Store) {
	task := mustCreateTask(t, s, newTask("summarize"))
	for i := range 5 {
		modify(t, s, task.ID, func(*storage.Task) []storage.TaskEvent {
			return []storage.TaskEvent{{Kind: storage.TaskEventStatus, State: storage.TaskWorking, Message: fmt.Sprint(i)}}
		})
	}
	events, err := s.Tasks().Events(t.Context(), task.ID, 2, 0)
	require.NoError(t, err)
	require.Len(t, events, 4)
	require.EqualValues(t, 3, events[0].Seq)
	require.Equal(t, "1", events[0].Message)
	require.Equal(t, time.UTC, events[0].CreatedAt.Location())

	events, err = s.Tasks().Events(t.Context(), task.ID, 2, 2)
	require.NoError(t, err)
	require.Len(t, events, 2, "limit")
	require.EqualValues(t, 4, events[1].Seq)

	events, err = s.Tasks().Events(t.Context(), task.ID, 6, 0)
	require.NoError(t, err)
	require.NotNil(t, events)
	require.Empty(t, events, "nothing after the last")
}
