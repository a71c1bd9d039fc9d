package storage

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// TaskState is where a task is in its lifecycle; the values and their
// meaning are A2A's task states.
type TaskState string

// Task states. Submitted, working, input-required and auth-required are live;
// the other four are terminal: a task in one never changes again.
const (
	TaskSubmitted     TaskState = "submitted"
	TaskWorking       TaskState = "working"
	TaskInputRequired TaskState = "input-required"
	TaskAuthRequired  TaskState = "auth-required"
	TaskCompleted     TaskState = "completed"
	TaskFailed        TaskState = "failed"
	TaskCanceled      TaskState = "canceled"
	TaskRejected      TaskState = "rejected"
)

// TaskStates lists every state, live ones first.
var TaskStates = []TaskState{
	TaskSubmitted, TaskWorking, TaskInputRequired, TaskAuthRequired,
	TaskCompleted, TaskFailed, TaskCanceled, TaskRejected,
}

// Valid reports whether s is one of the defined states.
func (s TaskState) Valid() bool {
	for _, v := range TaskStates {
		if s == v {
			return true
		}
	}
	return false
}

// Terminal reports whether s is completed, failed, canceled or rejected.
func (s TaskState) Terminal() bool {
	switch s {
	case TaskCompleted, TaskFailed, TaskCanceled, TaskRejected:
		return true
	}
	return false
}

// Interrupted reports whether the task waits for its client: input-required
// or auth-required.
func (s TaskState) Interrupted() bool {
	return s == TaskInputRequired || s == TaskAuthRequired
}

// Task is one unit of work the task service routes to an agent.
//
// The request fields (Capability through ContextID) are fixed by Create; the
// rest is the task's progress, which only Modify and Claim change. Drivers
// store times in UTC at microsecond precision; zero times are "never". Tags,
// FailedAgents and Artifacts read back non-nil.
type Task struct {
	ID string
	// Capability is what the task asks for; RequestedAgent pins it to one
	// agent (ID or name) when not empty.
	Capability     string
	RequestedAgent string
	// Input is the JSON handed to the agent; nil means none.
	Input json.RawMessage
	// MinTier and Tags constrain which agents may run the task.
	MinTier string
	Tags    []string
	// Priority orders work: 1 is the most urgent, 4 the least.
	Priority int
	// Timeout bounds one attempt; MaxAttempts bounds how many are made.
	Timeout     time.Duration
	MaxAttempts int
	// WaitForAgentUntil, when set, keeps the task submitted while no capable
	// agent is available, until then.
	WaitForAgentUntil time.Time
	// IdempotencyKey, when set, is unique among tasks; RequestHash is the
	// digest of the request that created the task under it.
	IdempotencyKey string
	RequestHash    string
	// CreatedBy is the subject of the caller that submitted the task.
	CreatedBy string
	// ContextID groups related tasks (A2A's contextId).
	ContextID string

	State TaskState
	// Message explains the state: the agent's answer or the error that
	// failed the task.
	Message string
	// Output is the agent's result; Artifacts is a JSON array of the
	// artifacts it produced.
	Output    json.RawMessage
	Artifacts json.RawMessage
	// Attempts counts dispatch attempts begun.
	Attempts int
	// AgentID and AgentName name the agent of the current or last attempt.
	AgentID   string
	AgentName string
	// RunningOn is the agent ID of the attempt in flight, empty between
	// attempts; it is what per-agent concurrency counts.
	RunningOn string
	// Offered is true while a pull-mode attempt waits for its agent to claim
	// the task; LeaseExpiresAt is when a claim lapses unless heartbeated.
	Offered        bool
	LeaseExpiresAt time.Time
	// AttemptError is a failure a pull-mode agent reported for the attempt in
	// flight, handed back to the worker that runs the attempt.
	AttemptError string
	// RemoteID is the agent's own ID for the task, when it has one.
	RemoteID string
	// FailedAgents lists agents whose attempts failed, in order; routing
	// avoids them while others are available.
	FailedAgents []string
	// JobID is the queue job that runs the task.
	JobID int64
	// EventSeq is the sequence number of the task's last event.
	EventSeq int64

	CreatedAt time.Time
	UpdatedAt time.Time
	// FinishedAt is when the task reached a terminal state.
	FinishedAt time.Time
}

// TaskEventKind says what a task event reports.
type TaskEventKind string

// Task event kinds.
const (
	// TaskEventStatus reports a state, or news within one (an attempt
	// starting, failing, being retried).
	TaskEventStatus TaskEventKind = "status"
	// TaskEventArtifact delivers an artifact the agent produced.
	TaskEventArtifact TaskEventKind = "artifact"
)

// TaskEvent is one entry of a task's history. Seq numbers a task's events
// 1, 2, 3, … in the order they were committed.
type TaskEvent struct {
	TaskID string
	Seq    int64
	Kind   TaskEventKind
	// State is the task's state after the event.
	State   TaskState
	Message string
	// Artifact is the artifact of an artifact event, as JSON.
	Artifact  json.RawMessage
	CreatedAt time.Time
}

// Check reports what makes e unfit to store: an unknown kind, or an
// artifact that is not JSON. Drivers call it before writing an event.
func (e *TaskEvent) Check() error {
	if e.Kind != TaskEventStatus && e.Kind != TaskEventArtifact {
		return fmt.Errorf("event %d: invalid kind %q", e.Seq, e.Kind)
	}
	if len(e.Artifact) > 0 && !json.Valid(e.Artifact) {
		return fmt.Errorf("event %d: artifact is not valid JSON", e.Seq)
	}
	return nil
}

// TaskTx is a task write transaction, as Create and Modify hand it to their
// callbacks. A driver may begin the transaction only when a method needs it.
type TaskTx interface {
	// Driver returns the driver's own transaction, *sql.Tx (sqlite) or
	// pgx.Tx (postgres), for writes that must commit with the task's, such
	// as inserting its queue job.
	Driver(ctx context.Context) (any, error)
	// CountRunning returns how many tasks are running on the agent
	// (RunningOn). It first waits for any other transaction that counted
	// the same agent to end, so a limit check followed by setting RunningOn
	// is atomic across processes.
	CountRunning(ctx context.Context, agentID string) (int, error)
	// RelaxDurability lets the driver commit the transaction without
	// waiting for it to reach disk (PostgreSQL: synchronous_commit off for
	// this transaction; SQLite: no effect, its setting is per connection).
	// A database crash may then lose the transaction whole, never part of
	// it: use it only for writes whose loss is harmless.
	RelaxDurability(ctx context.Context) error
}

// ModifyFunc changes t in place and returns the events to record with the
// change. Returning an error rolls the change back; Modify and Claim return
// that error (wrapped). A ModifyFunc may be called more than once, each time
// with the task as it then stands, when another writer changed the task
// concurrently: it must decide from t alone, and have no effect outside tx.
type ModifyFunc func(ctx context.Context, tx TaskTx, t *Task) ([]TaskEvent, error)

// TaskFilter selects tasks. Zero fields do not filter; set fields combine
// with AND.
type TaskFilter struct {
	// States requires any one of the listed states.
	States     []TaskState
	Capability string
	// Agent matches the agent of the current or last attempt, by ID or name.
	Agent string
	// Cursor is a previous page's NextCursor; ErrInvalidCursor otherwise.
	Cursor string
	// Limit caps the page: 0 or less means 50, more than 500 means 500.
	Limit int
}

// TaskPage is one page of tasks, newest first; Tasks is empty, not nil, when
// nothing matches. NextCursor is empty on the last page.
type TaskPage struct {
	Tasks      []Task
	NextCursor string
}

// TaskStore persists tasks and their events.
type TaskStore interface {
	// Create stores new tasks in one transaction, each with its first event
	// (a status event for its State, submitted when empty, carrying its
	// Message). It sets each one's ID (when empty, to a UUIDv7), EventSeq,
	// CreatedAt and UpdatedAt. hook, when not nil, runs first inside the
	// transaction with the tasks about to be inserted (IDs set), and may set
	// their JobIDs. A taken ID or IdempotencyKey is ErrConflict; on any
	// error nothing is stored, nothing hook wrote is kept, and the tasks are
	// unchanged. On success each *ts[i] is what Get returns.
	Create(ctx context.Context, ts []*Task, hook func(ctx context.Context, tx TaskTx, ts []*Task) error) error
	// Get returns the task or ErrNotFound.
	Get(ctx context.Context, id string) (*Task, error)
	// GetByIdempotencyKey returns the task created under key, or ErrNotFound.
	GetByIdempotencyKey(ctx context.Context, key string) (*Task, error)
	// List returns tasks matching f, newest first, a page at a time.
	List(ctx context.Context, f TaskFilter) (TaskPage, error)
	// Events returns up to limit of the task's events with Seq > afterSeq,
	// in order (limit ≤ 0 means 500). An unknown task has none.
	Events(ctx context.Context, taskID string, afterSeq int64, limit int) ([]TaskEvent, error)
	// Modify reads the task, lets fn change it, and writes back its
	// progress fields with the events fn returns (numbered from
	// EventSeq+1), atomically and only if no other writer changed the task
	// in between (else it reads the task again and calls fn again). It sets
	// UpdatedAt, and FinishedAt when the state first becomes terminal; the
	// request fields cannot change, except Input, RequestedAgent and
	// WaitForAgentUntil, which a continued task updates. ErrNotFound if the
	// task does not exist. It returns the task as stored.
	Modify(ctx context.Context, id string, fn ModifyFunc) (*Task, error)
	// ModifyFrom is Modify starting from cur, the task as the caller last
	// got it from this store: when no one changed the task since, the
	// driver may skip reading it again. fn gets a copy of cur.
	ModifyFrom(ctx context.Context, cur *Task, fn ModifyFunc) (*Task, error)
	// Claim picks the most urgent task (lowest Priority, then oldest) that
	// is Offered to agentID and, when capabilities is not empty, asks for
	// one of them, and applies fn to it as Modify does. Concurrent claims
	// get different tasks. ErrNotFound when none is waiting.
	Claim(ctx context.Context, agentID string, capabilities []string, fn ModifyFunc) (*Task, error)
	// RunningCounts returns how many tasks run on each of the agents; agents
	// with none are absent from the map.
	RunningCounts(ctx context.Context, agentIDs []string) (map[string]int, error)
}

// NewTasks returns copies of ts as Create is to store them: the ID a UUIDv7
// when empty, the state submitted when empty, CreatedAt and UpdatedAt now,
// EventSeq 1 (the first event), FinishedAt now for a terminal state. Drivers
// call it first in Create, so that ts stay unchanged until it succeeds.
func NewTasks(ts []*Task) ([]*Task, error) {
	at := storedTime(time.Now())
	cs := make([]*Task, len(ts))
	for i, t := range ts {
		c := *t
		if c.ID == "" {
			u, err := uuid.NewV7()
			if err != nil {
				return nil, fmt.Errorf("new task id: %w", err)
			}
			c.ID = u.String()
		}
		if c.State == "" {
			c.State = TaskSubmitted
		}
		c.CreatedAt, c.UpdatedAt, c.EventSeq = at, at, 1
		if c.State.Terminal() {
			c.FinishedAt = at
		}
		cs[i] = &c
	}
	return cs, nil
}

// SettleModified prepares t, as a ModifyFunc left it, to be written back:
// it undoes changes to the fields Modify must not change, taking them from
// before (the task as read), and puts its times in the form drivers store
// (UTC, whole microseconds). Drivers call it before writing t.
func SettleModified(before, t *Task) {
	progress := *t
	*t = *before
	t.Input, t.RequestedAgent = progress.Input, progress.RequestedAgent
	t.WaitForAgentUntil = storedTime(progress.WaitForAgentUntil)
	t.State, t.Message, t.Output, t.Artifacts = progress.State, progress.Message, progress.Output, progress.Artifacts
	t.Attempts, t.AgentID, t.AgentName, t.RunningOn = progress.Attempts, progress.AgentID, progress.AgentName, progress.RunningOn
	t.Offered, t.LeaseExpiresAt, t.AttemptError = progress.Offered, storedTime(progress.LeaseExpiresAt), progress.AttemptError
	t.RemoteID, t.FailedAgents, t.JobID = progress.RemoteID, progress.FailedAgents, progress.JobID
	if t.FailedAgents == nil {
		t.FailedAgents = []string{}
	}
}

func storedTime(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Truncate(time.Microsecond)
}
