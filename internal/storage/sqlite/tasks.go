package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ossa-platform/ossa/internal/storage"
	"github.com/ossa-platform/ossa/internal/storage/sqlval"
)

// Tasks returns the task store.
func (s *Store) Tasks() storage.TaskStore {
	return taskStore{write: s.write, read: s.read, stmts: s.stmts}
}

// taskStore writes through the one-connection write pool, so every write
// transaction holds SQLite's lock from BEGIN IMMEDIATE to COMMIT: a task read
// and rewritten within one is never changed by anyone else in between.
type taskStore struct {
	write *sql.DB
	read  *sql.DB
	stmts *stmtCache
}

// The task store's fixed statements, prepared once (see stmtCache).
var (
	selectTaskSQL = `SELECT ` + taskColumns + ` FROM tasks WHERE id = ?`
	insertTaskSQL = `INSERT INTO tasks (` + taskColumns + `) VALUES (?` + strings.Repeat(", ?", strings.Count(taskColumns, ",")) + `) RETURNING ` + taskColumns
	updateTaskSQL = func() string {
		cols := strings.Split(taskColumns, ",")[1:] // every column but id
		for i, c := range cols {
			cols[i] = strings.TrimSpace(c) + " = ?"
		}
		return `UPDATE tasks SET ` + strings.Join(cols, ", ") + ` WHERE id = ?`
	}()
	insertEventSQL  = `INSERT INTO task_events (task_id, seq, kind, state, message, artifact, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`
	selectEventsSQL = `SELECT seq, kind, state, message, artifact, created_at
		FROM task_events WHERE task_id = ? AND seq > ? ORDER BY seq LIMIT ?`
	// writeStatements are used inside write transactions, so they are
	// prepared before one begins (see stmtCache.inTx).
	writeStatements = []string{selectTaskSQL, insertTaskSQL, updateTaskSQL, insertEventSQL}
)

// taskColumns is the select list scanTask reads, in its order.
const taskColumns = `id, capability, requested_agent, input, min_tier, tags, priority, timeout_ms, max_attempts,
	wait_for_agent_until, idempotency_key, request_hash, created_by, context_id,
	state, message, output, artifacts, attempts, agent_id, agent_name, running_on, offered, lease_expires_at,
	attempt_error, remote_id, failed_agents, job_id, event_seq, created_at, updated_at, finished_at`

// sqliteTx is the storage.TaskTx of a write transaction.
type sqliteTx struct{ tx *sql.Tx }

func (t sqliteTx) Driver(context.Context) (any, error) { return t.tx, nil }

// CountRunning implements storage.TaskTx. The transaction already holds the
// database's write lock, which is what makes a check and set atomic.
func (t sqliteTx) CountRunning(ctx context.Context, agentID string) (int, error) {
	var n int
	if err := t.tx.QueryRowContext(ctx, `SELECT count(*) FROM tasks WHERE running_on = ?`, agentID).Scan(&n); err != nil {
		return 0, fmt.Errorf("count tasks running on %s: %w", agentID, err)
	}
	return n, nil
}

// RelaxDurability implements storage.TaskTx. synchronous is a setting of
// the connection, which every writer shares, so it stays as it is.
func (sqliteTx) RelaxDurability(context.Context) error { return nil }

// Create implements storage.TaskStore.
func (s taskStore) Create(ctx context.Context, ts []*storage.Task, hook func(context.Context, storage.TaskTx, []*storage.Task) error) error {
	if len(ts) == 0 {
		return nil
	}
	cs, err := storage.NewTasks(ts)
	if err != nil {
		return fmt.Errorf("create task: %w", err)
	}
	if err := s.stmts.ensure(ctx, s.write, writeStatements...); err != nil {
		return fmt.Errorf("create task: %w", err)
	}
	got := make([]*storage.Task, len(cs))
	err = inTx(ctx, s.write, func(tx *sql.Tx) error {
		if hook != nil {
			if err := hook(ctx, sqliteTx{tx}, cs); err != nil {
				return err
			}
		}
		insert, err := s.stmts.inTx(ctx, s.write, tx, insertTaskSQL)
		if err != nil {
			return err
		}
		for i, c := range cs {
			args, err := encodeTask(c)
			if err != nil {
				return err
			}
			if got[i], err = scanTask(insert.QueryRowContext(ctx, args...)); err != nil {
				return err
			}
			if err := s.insertEvents(ctx, tx, c.ID, []storage.TaskEvent{{
				Seq: 1, Kind: storage.TaskEventStatus, State: c.State, Message: c.Message, CreatedAt: c.CreatedAt,
			}}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		if isUniqueViolation(err) {
			return fmt.Errorf("create task: %w: an ID or idempotency key is taken", storage.ErrConflict)
		}
		return fmt.Errorf("create task: %w", err)
	}
	for i, t := range ts {
		*t = *got[i]
	}
	return nil
}

// Get implements storage.TaskStore.
func (s taskStore) Get(ctx context.Context, id string) (*storage.Task, error) {
	get, err := s.stmts.get(ctx, s.read, selectTaskSQL)
	if err != nil {
		return nil, fmt.Errorf("get task %s: %w", id, err)
	}
	t, err := scanTask(get.QueryRowContext(ctx, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("get task %s: %w", id, storage.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get task %s: %w", id, err)
	}
	return t, nil
}

// GetByIdempotencyKey implements storage.TaskStore.
func (s taskStore) GetByIdempotencyKey(ctx context.Context, key string) (*storage.Task, error) {
	t, err := scanTask(s.read.QueryRowContext(ctx, `SELECT `+taskColumns+` FROM tasks WHERE idempotency_key = ?`, key))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("get task by idempotency key: %w", storage.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get task by idempotency key: %w", err)
	}
	return t, nil
}

// List implements storage.TaskStore.
func (s taskStore) List(ctx context.Context, f storage.TaskFilter) (storage.TaskPage, error) {
	var (
		where []string
		args  []any
	)
	if f.Cursor != "" {
		before, err := storage.DecodeCursor(f.Cursor)
		if err != nil {
			return storage.TaskPage{}, fmt.Errorf("list tasks: %w", err)
		}
		where, args = append(where, "id < ?"), append(args, before)
	}
	if len(f.States) > 0 {
		where = append(where, "state IN (?"+strings.Repeat(", ?", len(f.States)-1)+")")
		for _, st := range f.States {
			args = append(args, string(st))
		}
	}
	if f.Capability != "" {
		where, args = append(where, "capability = ?"), append(args, f.Capability)
	}
	if f.Agent != "" {
		where, args = append(where, "(agent_id = ? OR agent_name = ?)"), append(args, f.Agent, f.Agent)
	}
	limit := storage.PageLimit(f.Limit)
	q := `SELECT ` + taskColumns + ` FROM tasks`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	// One row more than the page tells whether another page follows.
	q += ` ORDER BY id DESC LIMIT ?`
	args = append(args, limit+1)

	rows, err := s.read.QueryContext(ctx, q, args...)
	if err != nil {
		return storage.TaskPage{}, fmt.Errorf("list tasks: %w", err)
	}
	defer rows.Close()
	page := storage.TaskPage{Tasks: []storage.Task{}}
	for rows.Next() {
		t, err := scanTask(rows)
		if err != nil {
			return storage.TaskPage{}, fmt.Errorf("list tasks: %w", err)
		}
		page.Tasks = append(page.Tasks, *t)
	}
	if err := rows.Err(); err != nil {
		return storage.TaskPage{}, fmt.Errorf("list tasks: %w", err)
	}
	page.Tasks, page.NextCursor = storage.TrimPage(page.Tasks, limit, func(v storage.Task) string { return v.ID })
	return page, nil
}

// Events implements storage.TaskStore.
func (s taskStore) Events(ctx context.Context, taskID string, afterSeq int64, limit int) ([]storage.TaskEvent, error) {
	if limit <= 0 {
		limit = storage.MaxPageLimit
	}
	query, err := s.stmts.get(ctx, s.read, selectEventsSQL)
	if err != nil {
		return nil, fmt.Errorf("task %s events: %w", taskID, err)
	}
	rows, err := query.QueryContext(ctx, taskID, afterSeq, limit)
	if err != nil {
		return nil, fmt.Errorf("task %s events: %w", taskID, err)
	}
	defer rows.Close()
	events := []storage.TaskEvent{}
	for rows.Next() {
		e := storage.TaskEvent{TaskID: taskID}
		var kind, state string
		var artifact []byte
		var created int64
		if err := rows.Scan(&e.Seq, &kind, &state, &e.Message, &artifact, &created); err != nil {
			return nil, fmt.Errorf("task %s events: %w", taskID, err)
		}
		e.Kind, e.State, e.CreatedAt = storage.TaskEventKind(kind), storage.TaskState(state), decodeTime(&created)
		if artifact != nil {
			e.Artifact = artifact
		}
		events = append(events, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("task %s events: %w", taskID, err)
	}
	return events, nil
}

// Modify implements storage.TaskStore.
func (s taskStore) Modify(ctx context.Context, id string, fn storage.ModifyFunc) (*storage.Task, error) {
	if err := s.stmts.ensure(ctx, s.write, writeStatements...); err != nil {
		return nil, fmt.Errorf("modify task %s: %w", id, err)
	}
	var got *storage.Task
	err := inTx(ctx, s.write, func(tx *sql.Tx) error {
		get, err := s.stmts.inTx(ctx, s.write, tx, selectTaskSQL)
		if err != nil {
			return err
		}
		t, err := scanTask(get.QueryRowContext(ctx, id))
		if errors.Is(err, sql.ErrNoRows) {
			return storage.ErrNotFound
		}
		if err != nil {
			return err
		}
		got, err = s.applyModify(ctx, tx, t, fn)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("modify task %s: %w", id, err)
	}
	return got, nil
}

// ModifyFrom implements storage.TaskStore. Reading the task again inside
// the write transaction costs next to nothing here (no network), so it does.
func (s taskStore) ModifyFrom(ctx context.Context, cur *storage.Task, fn storage.ModifyFunc) (*storage.Task, error) {
	return s.Modify(ctx, cur.ID, fn)
}

// Claim implements storage.TaskStore.
func (s taskStore) Claim(ctx context.Context, agentID string, capabilities []string, fn storage.ModifyFunc) (*storage.Task, error) {
	q := `SELECT ` + taskColumns + ` FROM tasks WHERE offered = 1 AND running_on = ?`
	args := []any{agentID}
	if len(capabilities) > 0 {
		q += ` AND capability IN (?` + strings.Repeat(", ?", len(capabilities)-1) + `)`
		for _, c := range capabilities {
			args = append(args, c)
		}
	}
	q += ` ORDER BY priority, id LIMIT 1`
	if err := s.stmts.ensure(ctx, s.write, writeStatements...); err != nil {
		return nil, fmt.Errorf("claim a task for agent %s: %w", agentID, err)
	}
	var got *storage.Task
	err := inTx(ctx, s.write, func(tx *sql.Tx) error {
		t, err := scanTask(tx.QueryRowContext(ctx, q, args...))
		if errors.Is(err, sql.ErrNoRows) {
			return storage.ErrNotFound
		}
		if err != nil {
			return err
		}
		got, err = s.applyModify(ctx, tx, t, fn)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("claim a task for agent %s: %w", agentID, err)
	}
	return got, nil
}

// RunningCounts implements storage.TaskStore.
func (s taskStore) RunningCounts(ctx context.Context, agentIDs []string) (map[string]int, error) {
	counts := map[string]int{}
	if len(agentIDs) == 0 {
		return counts, nil
	}
	args := make([]any, len(agentIDs))
	for i, id := range agentIDs {
		args[i] = id
	}
	rows, err := s.read.QueryContext(ctx, `SELECT running_on, count(*) FROM tasks
		WHERE running_on IN (?`+strings.Repeat(", ?", len(agentIDs)-1)+`) GROUP BY running_on`, args...)
	if err != nil {
		return nil, fmt.Errorf("count running tasks: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			return nil, fmt.Errorf("count running tasks: %w", err)
		}
		counts[id] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count running tasks: %w", err)
	}
	return counts, nil
}

// applyModify runs fn on t and writes the result with its events.
func (s taskStore) applyModify(ctx context.Context, tx *sql.Tx, t *storage.Task, fn storage.ModifyFunc) (*storage.Task, error) {
	before := *t
	events, err := fn(ctx, sqliteTx{tx}, t)
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	storage.SettleModified(&before, t)
	t.UpdatedAt = now
	if t.State.Terminal() && before.FinishedAt.IsZero() {
		t.FinishedAt = now
	}
	for i := range events {
		events[i].Seq = before.EventSeq + int64(i) + 1
		events[i].CreatedAt = now
	}
	t.EventSeq = before.EventSeq + int64(len(events))
	args, err := encodeTask(t)
	if err != nil {
		return nil, err
	}
	update, err := s.stmts.inTx(ctx, s.write, tx, updateTaskSQL)
	if err != nil {
		return nil, err
	}
	// encodeTask's order is taskColumns': the id goes last, to the WHERE.
	if _, err := update.ExecContext(ctx, append(args[1:], t.ID)...); err != nil {
		return nil, err
	}
	if err := s.insertEvents(ctx, tx, t.ID, events); err != nil {
		return nil, err
	}
	return t, nil
}

func (s taskStore) insertEvents(ctx context.Context, tx *sql.Tx, taskID string, events []storage.TaskEvent) error {
	if len(events) == 0 {
		return nil
	}
	insert, err := s.stmts.inTx(ctx, s.write, tx, insertEventSQL)
	if err != nil {
		return err
	}
	for _, e := range events {
		if err := e.Check(); err != nil {
			return err
		}
		artifact := sqlval.NullIfEmpty(string(e.Artifact))
		created, err := encodeTime(e.CreatedAt)
		if err != nil {
			return fmt.Errorf("event %d: %w", e.Seq, err)
		}
		if _, err := insert.ExecContext(ctx, taskID, e.Seq, string(e.Kind), string(e.State), e.Message, artifact, created); err != nil {
			return fmt.Errorf("record event %d: %w", e.Seq, err)
		}
	}
	return nil
}
