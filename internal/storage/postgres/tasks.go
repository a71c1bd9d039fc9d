package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ossa-platform/ossa/internal/storage"
)

// Tasks returns the task store.
func (s *Store) Tasks() storage.TaskStore { return taskStore{pool: s.pool} }

// taskStore writes a task optimistically: it reads the task, lets the
// caller's function change it, and writes it back with one statement that
// succeeds only if the task's event sequence is still the one read (and
// records the events in the same statement). A task changed in between is
// read again and the function run again. Most changes thus cost two round
// trips, or one when the caller already holds the task (ModifyFrom), with no
// explicit transaction; a transaction is begun only when the function needs
// one (TaskTx.Driver, CountRunning).
type taskStore struct {
	pool *pgxpool.Pool
}

// maxModifyRetries bounds how often Modify reads again after losing a race,
// so that a task hammered by writers fails loudly instead of spinning.
const maxModifyRetries = 100

// taskColumns is the select list scanTask reads, in its order.
const taskColumns = `id, capability, requested_agent, input, min_tier, tags, priority, timeout_ms, max_attempts,
	wait_for_agent_until, idempotency_key, request_hash, created_by, context_id,
	state, message, output, artifacts, attempts, agent_id, agent_name, running_on, offered, lease_expires_at,
	attempt_error, remote_id, failed_agents, job_id, event_seq, created_at, updated_at, finished_at`

// pgTx is the storage.TaskTx of a change: it begins a transaction on the
// pool when a method first needs one.
type pgTx struct {
	pool    *pgxpool.Pool
	tx      pgx.Tx
	relaxed bool
}

func (t *pgTx) begin(ctx context.Context) (pgx.Tx, error) {
	if t.tx == nil {
		tx, err := t.pool.Begin(ctx)
		if err != nil {
			return nil, fmt.Errorf("begin: %w", err)
		}
		t.tx = tx
	}
	return t.tx, nil
}

// rollback ends a transaction that was begun, if any.
func (t *pgTx) rollback(ctx context.Context) {
	if t.tx != nil {
		// The caller's error is the one to report; a failed rollback
		// commits nothing and the pool discards the connection.
		_ = t.tx.Rollback(context.WithoutCancel(ctx))
		t.tx = nil
	}
}

// Driver implements storage.TaskTx.
func (t *pgTx) Driver(ctx context.Context) (any, error) { return t.begin(ctx) }

// CountRunning implements storage.TaskTx. A transaction-scoped advisory lock
// per agent serialises the transactions that count the same agent: under
// READ COMMITTED two of them could otherwise both see room for one more.
func (t *pgTx) CountRunning(ctx context.Context, agentID string) (int, error) {
	tx, err := t.begin(ctx)
	if err != nil {
		return 0, err
	}
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('ossa.task-agent.running:' || $1, 0))`, agentID); err != nil {
		return 0, fmt.Errorf("lock agent %s: %w", agentID, err)
	}
	var n int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM tasks WHERE running_on = $1`, agentID).Scan(&n); err != nil {
		return 0, fmt.Errorf("count tasks running on %s: %w", agentID, err)
	}
	return n, nil
}

// RelaxDurability implements storage.TaskTx: the write that ends the change
// sets synchronous_commit off for its transaction.
func (t *pgTx) RelaxDurability(context.Context) error {
	t.relaxed = true
	return nil
}

// Create implements storage.TaskStore. The task and its first event are one
// statement; with a hook, that and the hook's writes are one transaction.
func (s taskStore) Create(ctx context.Context, t *storage.Task, hook func(context.Context, storage.TaskTx, *storage.Task) error) error {
	c := *t
	if c.ID == "" {
		u, err := uuid.NewV7()
		if err != nil {
			return fmt.Errorf("create task: new id: %w", err)
		}
		c.ID = u.String()
	}
	if c.State == "" {
		c.State = storage.TaskSubmitted
	}
	at := now()
	c.CreatedAt, c.UpdatedAt, c.EventSeq = at, at, 1
	if c.State.Terminal() {
		c.FinishedAt = at
	}
	tx := &pgTx{pool: s.pool}
	got, err := func() (*storage.Task, error) {
		if hook != nil {
			if err := hook(ctx, tx, &c); err != nil {
				return nil, err
			}
		}
		args, err := encodeTask(&c)
		if err != nil {
			return nil, err
		}
		q := `WITH t AS (INSERT INTO tasks (` + taskColumns + `) VALUES (` + placeholders(1, len(args)) + `) RETURNING ` + taskColumns + `),
			e AS (INSERT INTO task_events (task_id, seq, kind, state, message, artifact, created_at)
				SELECT id, 1, 'status', state, message, NULL, created_at FROM t)
			SELECT ` + taskColumns + ` FROM t`
		var row pgx.Row
		if tx.tx != nil {
			row = tx.tx.QueryRow(ctx, q, args...)
		} else {
			row = s.pool.QueryRow(ctx, q, args...)
		}
		got, err := scanTask(row)
		if err != nil {
			return nil, err
		}
		if tx.tx != nil {
			if err := tx.tx.Commit(ctx); err != nil {
				return nil, err
			}
			tx.tx = nil
		}
		return got, nil
	}()
	if err != nil {
		tx.rollback(ctx)
		if detail, ok := uniqueViolationDetail(err); ok {
			return fmt.Errorf("create task %s: %w: %s", c.ID, storage.ErrConflict, detail)
		}
		return fmt.Errorf("create task: %w", err)
	}
	*t = *got
	return nil
}

// Get implements storage.TaskStore.
func (s taskStore) Get(ctx context.Context, id string) (*storage.Task, error) {
	t, err := scanTask(s.pool.QueryRow(ctx, `SELECT `+taskColumns+` FROM tasks WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("get task %s: %w", id, storage.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get task %s: %w", id, err)
	}
	return t, nil
}

// GetByIdempotencyKey implements storage.TaskStore.
func (s taskStore) GetByIdempotencyKey(ctx context.Context, key string) (*storage.Task, error) {
	t, err := scanTask(s.pool.QueryRow(ctx, `SELECT `+taskColumns+` FROM tasks WHERE idempotency_key = $1`, key))
	if errors.Is(err, pgx.ErrNoRows) {
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
	param := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if f.Cursor != "" {
		before, err := storage.DecodeCursor(f.Cursor)
		if err != nil {
			return storage.TaskPage{}, fmt.Errorf("list tasks: %w", err)
		}
		where = append(where, "id < "+param(before))
	}
	if len(f.States) > 0 {
		states := make([]string, len(f.States))
		for i, st := range f.States {
			states[i] = string(st)
		}
		where = append(where, "state = ANY("+param(states)+")")
	}
	if f.Capability != "" {
		where = append(where, "capability = "+param(f.Capability))
	}
	if f.Agent != "" {
		p := param(f.Agent)
		where = append(where, "(agent_id = "+p+" OR agent_name = "+p+")")
	}
	limit := storage.PageLimit(f.Limit)
	q := `SELECT ` + taskColumns + ` FROM tasks`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	// One row more than the page tells whether another page follows.
	q += ` ORDER BY id DESC LIMIT ` + param(limit+1)
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return storage.TaskPage{}, fmt.Errorf("list tasks: %w", err)
	}
	tasks, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (storage.Task, error) {
		t, err := scanTask(row)
		if err != nil {
			return storage.Task{}, err
		}
		return *t, nil
	})
	if err != nil {
		return storage.TaskPage{}, fmt.Errorf("list tasks: %w", err)
	}
	page := storage.TaskPage{Tasks: tasks}
	if page.Tasks == nil {
		page.Tasks = []storage.Task{}
	}
	if len(page.Tasks) > limit {
		page.Tasks = page.Tasks[:limit]
		page.NextCursor = storage.EncodeCursor(page.Tasks[limit-1].ID)
	}
	return page, nil
}

// Events implements storage.TaskStore.
func (s taskStore) Events(ctx context.Context, taskID string, afterSeq int64, limit int) ([]storage.TaskEvent, error) {
	if limit <= 0 {
		limit = storage.MaxPageLimit
	}
	rows, err := s.pool.Query(ctx, `SELECT seq, kind, state, message, artifact, created_at
		FROM task_events WHERE task_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`, taskID, afterSeq, limit)
	if err != nil {
		return nil, fmt.Errorf("task %s events: %w", taskID, err)
	}
	events, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (storage.TaskEvent, error) {
		e := storage.TaskEvent{TaskID: taskID}
		var kind, state string
		var artifact []byte
		if err := row.Scan(&e.Seq, &kind, &state, &e.Message, &artifact, &e.CreatedAt); err != nil {
			return e, err
		}
		e.Kind, e.State, e.CreatedAt = storage.TaskEventKind(kind), storage.TaskState(state), e.CreatedAt.UTC()
		if artifact != nil {
			e.Artifact = artifact
		}
		return e, nil
	})
	if err != nil {
		return nil, fmt.Errorf("task %s events: %w", taskID, err)
	}
	if events == nil {
		events = []storage.TaskEvent{}
	}
	return events, nil
}

// Modify implements storage.TaskStore.
func (s taskStore) Modify(ctx context.Context, id string, fn storage.ModifyFunc) (*storage.Task, error) {
	got, err := s.modify(ctx, id, nil, fn)
	if err != nil {
		return nil, fmt.Errorf("modify task %s: %w", id, err)
	}
	return got, nil
}

// ModifyFrom implements storage.TaskStore.
func (s taskStore) ModifyFrom(ctx context.Context, cur *storage.Task, fn storage.ModifyFunc) (*storage.Task, error) {
	c := *cur
	got, err := s.modify(ctx, cur.ID, &c, fn)
	if err != nil {
		return nil, fmt.Errorf("modify task %s: %w", cur.ID, err)
	}
	return got, nil
}

// modify runs the optimistic loop, starting from cur when given.
func (s taskStore) modify(ctx context.Context, id string, cur *storage.Task, fn storage.ModifyFunc) (*storage.Task, error) {
	for range maxModifyRetries {
		if cur == nil {
			t, err := scanTask(s.pool.QueryRow(ctx, `SELECT `+taskColumns+` FROM tasks WHERE id = $1`, id))
			if errors.Is(err, pgx.ErrNoRows) {
				return nil, storage.ErrNotFound
			}
			if err != nil {
				return nil, err
			}
			cur = t
		}
		tx := &pgTx{pool: s.pool}
		got, ok, err := applyModify(ctx, tx, cur, fn)
		if err != nil {
			tx.rollback(ctx)
			return nil, err
		}
		if ok {
			return got, nil
		}
		tx.rollback(ctx)
		cur = nil // another writer won: read the task again
	}
	return nil, fmt.Errorf("the task changed under %d attempts to modify it", maxModifyRetries)
}

// Claim implements storage.TaskStore. SKIP LOCKED lets concurrent claims of
// one agent pass over each other's rows instead of queueing for them; the
// row lock then keeps the optimistic write from failing.
func (s taskStore) Claim(ctx context.Context, agentID string, capabilities []string, fn storage.ModifyFunc) (*storage.Task, error) {
	q := `SELECT ` + taskColumns + ` FROM tasks WHERE offered AND running_on = $1`
	args := []any{agentID}
	if len(capabilities) > 0 {
		q += ` AND capability = ANY($2)`
		args = append(args, capabilities)
	}
	q += ` ORDER BY priority, id LIMIT 1 FOR UPDATE SKIP LOCKED`
	tx := &pgTx{pool: s.pool}
	got, err := func() (*storage.Task, error) {
		ptx, err := tx.begin(ctx)
		if err != nil {
			return nil, err
		}
		t, err := scanTask(ptx.QueryRow(ctx, q, args...))
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, storage.ErrNotFound
		}
		if err != nil {
			return nil, err
		}
		got, ok, err := applyModify(ctx, tx, t, fn)
		if err == nil && !ok {
			err = errors.New("a locked task changed")
		}
		return got, err
	}()
	if err != nil {
		tx.rollback(ctx)
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
	rows, err := s.pool.Query(ctx, `SELECT running_on, count(*) FROM tasks
		WHERE running_on = ANY($1) GROUP BY running_on`, agentIDs)
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

// applyModify runs fn on t and writes the result with its events if the
// task is unchanged since t was read; ok is false when it was changed. A
// transaction fn began is committed here.
func applyModify(ctx context.Context, tx *pgTx, t *storage.Task, fn storage.ModifyFunc) (_ *storage.Task, ok bool, _ error) {
	before := *t
	events, err := fn(ctx, tx, t)
	if err != nil {
		return nil, false, err
	}
	at := now()
	storage.SettleModified(&before, t)
	t.UpdatedAt = at
	if t.State.Terminal() && before.FinishedAt.IsZero() {
		t.FinishedAt = at
	}
	for i := range events {
		events[i].Seq = before.EventSeq + int64(i) + 1
		events[i].CreatedAt = at
	}
	t.EventSeq = before.EventSeq + int64(len(events))
	q, args, err := writeStatement(t, before.EventSeq, events, tx.relaxed)
	if err != nil {
		return nil, false, err
	}
	var n int
	if tx.tx != nil {
		err = tx.tx.QueryRow(ctx, q, args...).Scan(&n)
	} else {
		err = tx.pool.QueryRow(ctx, q, args...).Scan(&n)
	}
	if err != nil || n == 0 {
		return nil, false, err
	}
	if tx.tx != nil {
		if err := tx.tx.Commit(ctx); err != nil {
			return nil, false, fmt.Errorf("commit: %w", err)
		}
		tx.tx = nil
	}
	return t, true, nil
}

// writeStatement builds the one statement that writes t back, if its event
// sequence is still seq, and inserts its events; it returns how many rows
// it updated (0 or 1). relaxed commits it without waiting for the disk.
func writeStatement(t *storage.Task, seq int64, events []storage.TaskEvent, relaxed bool) (string, []any, error) {
	values, err := encodeTask(t)
	if err != nil {
		return "", nil, err
	}
	// $1 is the id, $2 the sequence read; the columns follow, in order.
	args := append([]any{t.ID, seq}, values[1:]...)
	cols := strings.Split(taskColumns, ",")[1:]
	sets := make([]string, len(cols))
	for i, c := range cols {
		sets[i] = strings.TrimSpace(c) + " = $" + strconv.Itoa(i+3)
	}
	var (
		seqs                = make([]int64, len(events))
		kinds, states, msgs = make([]string, len(events)), make([]string, len(events)), make([]string, len(events))
		artifacts           = make([]*string, len(events))
		created             = make([]time.Time, len(events))
	)
	for i, e := range events {
		if e.Kind != storage.TaskEventStatus && e.Kind != storage.TaskEventArtifact {
			return "", nil, fmt.Errorf("event %d: invalid kind %q", e.Seq, e.Kind)
		}
		if len(e.Artifact) > 0 {
			if !json.Valid(e.Artifact) {
				return "", nil, fmt.Errorf("event %d: artifact is not valid JSON", e.Seq)
			}
			a := string(e.Artifact)
			artifacts[i] = &a
		}
		seqs[i], kinds[i], states[i], msgs[i], created[i] = e.Seq, string(e.Kind), string(e.State), e.Message, e.CreatedAt
	}
	n := len(args)
	args = append(args, seqs, kinds, states, msgs, artifacts, created)
	q := `WITH u AS (UPDATE tasks SET ` + strings.Join(sets, ", ") + ` WHERE id = $1 AND event_seq = $2 RETURNING id),
		e AS (INSERT INTO task_events (task_id, seq, kind, state, message, artifact, created_at)
			SELECT u.id, x.seq, x.kind, x.state, x.message, x.artifact::jsonb, x.created_at
			FROM u, unnest($` + strconv.Itoa(n+1) + `::bigint[], $` + strconv.Itoa(n+2) + `::text[], $` + strconv.Itoa(n+3) +
		`::text[], $` + strconv.Itoa(n+4) + `::text[], $` + strconv.Itoa(n+5) + `::text[], $` + strconv.Itoa(n+6) +
		`::timestamptz[]) AS x(seq, kind, state, message, artifact, created_at))`
	if relaxed {
		// A setting local to the statement's own transaction: read when it
		// commits, reset after.
		q += `, r AS (SELECT set_config('synchronous_commit', 'off', true))
		SELECT (SELECT count(*) FROM u) FROM r`
	} else {
		q += ` SELECT count(*) FROM u`
	}
	return q, args, nil
}

// placeholders returns "$from, …, $(from+n-1)".
func placeholders(from, n int) string {
	ps := make([]string, n)
	for i := range ps {
		ps[i] = "$" + strconv.Itoa(from+i)
	}
	return strings.Join(ps, ", ")
}
