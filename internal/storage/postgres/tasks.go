package postgres

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ossa-platform/ossa/internal/groupcommit"
	"github.com/ossa-platform/ossa/internal/storage"
)

// Tasks returns the task store.
func (s *Store) Tasks() storage.TaskStore { return taskStore{pool: s.pool, writes: s.taskWrites} }

// taskStore writes a task optimistically: it reads the task, lets the
// caller's function change it, and writes it back with one statement that
// succeeds only if the task's event sequence is still the one read (and
// records the events in the same statement). A task changed in between is
// read again and the function run again. Most changes thus cost two round
// trips, or one when the caller already holds the task (ModifyFrom), with no
// explicit transaction; a transaction is begun only when the function needs
// one (TaskTx.Driver, CountRunning). Writes that need no transaction of
// their own and wait for the disk are group-committed: the task workers'
// outcomes, written at once by many of them, share transactions.
type taskStore struct {
	pool   *pgxpool.Pool
	writes *groupcommit.Batcher[statement, int]
}

// maxModifyRetries bounds how often Modify reads again after losing a race,
// so that a task hammered by writers fails loudly instead of spinning.
const maxModifyRetries = 100

// taskColumns is the select list scanTask reads, in its order.
const taskColumns = `id, capability, requested_agent, input, min_tier, tags, priority, timeout_ms, max_attempts,
	wait_for_agent_until, idempotency_key, request_hash, created_by, context_id,
	state, message, output, artifacts, attempts, agent_id, agent_name, running_on, offered, lease_expires_at,
	attempt_error, remote_id, failed_agents, job_id, event_seq, created_at, updated_at, finished_at`

// createStatement inserts a task (taskColumns, in order) and its first
// event. It returns only the JSON columns, which PostgreSQL normalises;
// createdTask derives the rest.
var createStatement = `WITH t AS (INSERT INTO tasks (` + taskColumns + `) VALUES (` +
	placeholders(1, strings.Count(taskColumns, ",")+1) + `) RETURNING id, state, message, created_at, input, output, artifacts),
	e AS (INSERT INTO task_events (task_id, seq, kind, state, message, artifact, created_at)
		SELECT id, 1, 'status', state, message, NULL, created_at FROM t)
	SELECT input, output, artifacts FROM t`

// createdTask returns c as createStatement stored it, given the JSON
// columns it returned: what reading it back would return.
func createdTask(c *storage.Task, row pgx.Row) (*storage.Task, error) {
	var input, output, artifacts []byte
	if err := row.Scan(&input, &output, &artifacts); err != nil {
		return nil, err
	}
	t := *c
	t.Input, t.Output, t.Artifacts = nil, nil, artifacts
	if input != nil {
		t.Input = input
	}
	if output != nil {
		t.Output = output
	}
	t.Tags, t.FailedAgents = nonNil(t.Tags), nonNil(t.FailedAgents)
	t.Timeout = t.Timeout.Truncate(time.Millisecond)
	for _, at := range []*time.Time{&t.WaitForAgentUntil, &t.LeaseExpiresAt, &t.CreatedAt, &t.UpdatedAt, &t.FinishedAt} {
		if !at.IsZero() {
			*at = at.UTC().Truncate(time.Microsecond)
		}
	}
	return &t, nil
}

// pgTx is the storage.TaskTx of a change: it opens a transaction (a
// pipeTx) when a method first needs one.
type pgTx struct {
	pool    *pgxpool.Pool
	writes  *groupcommit.Batcher[statement, int]
	tx      *pipeTx
	relaxed bool
}

func (t *pgTx) begin(ctx context.Context) (*pipeTx, error) {
	if t.tx == nil {
		conn, err := t.pool.Acquire(ctx)
		if err != nil {
			return nil, fmt.Errorf("begin: %w", err)
		}
		t.tx = &pipeTx{conn: conn}
	}
	return t.tx, nil
}

// rollback ends a transaction that was opened, if any.
func (t *pgTx) rollback(ctx context.Context) {
	if t.tx != nil {
		// The caller's error is the one to report; a failed rollback
		// commits nothing and the pool discards the connection.
		_ = t.tx.Rollback(context.WithoutCancel(ctx))
		t.tx = nil
	}
}

// commit commits a transaction that was opened, if any.
func (t *pgTx) commit(ctx context.Context) error {
	if t.tx == nil {
		return nil
	}
	err := t.tx.Commit(ctx)
	t.tx = nil
	if err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// Driver implements storage.TaskTx.
func (t *pgTx) Driver(ctx context.Context) (any, error) {
	tx, err := t.begin(ctx)
	if err != nil {
		return nil, err
	}
	return tx, nil
}

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

// Create implements storage.TaskStore. Each task and its first event are
// one statement. Without a hook, one task is one statement on its own; with
// a hook or more tasks, the inserts and the commit are one round trip after
// the hook's.
func (s taskStore) Create(ctx context.Context, ts []*storage.Task, hook func(context.Context, storage.TaskTx, []*storage.Task) error) error {
	if len(ts) == 0 {
		return nil
	}
	cs, err := storage.NewTasks(ts)
	if err != nil {
		return fmt.Errorf("create task: %w", err)
	}
	tx := &pgTx{pool: s.pool}
	got := make([]*storage.Task, len(cs))
	err = func() error {
		if hook != nil {
			if err := hook(ctx, tx, cs); err != nil {
				return err
			}
		}
		inserts := make([]statement, len(cs))
		for i, c := range cs {
			args, err := encodeTask(c)
			if err != nil {
				return err
			}
			inserts[i] = statement{sql: createStatement, args: args}
		}
		ptx, err := tx.begin(ctx)
		if err != nil {
			return err
		}
		tx.tx = nil // commitWith ends it
		return ptx.commitWith(ctx, inserts, func(i int, row pgx.Row) (err error) {
			got[i], err = createdTask(cs[i], row)
			return err
		})
	}()
	if err != nil {
		tx.rollback(ctx)
		if detail, ok := uniqueViolationDetail(err); ok {
			return fmt.Errorf("create task: %w: %s", storage.ErrConflict, detail)
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
	var q pageQuery
	if err := q.cursor(f.Cursor, "<"); err != nil {
		return storage.TaskPage{}, fmt.Errorf("list tasks: %w", err)
	}
	if len(f.States) > 0 {
		states := make([]string, len(f.States))
		for i, st := range f.States {
			states[i] = string(st)
		}
		q.cond("state = ANY(" + q.param(states) + ")")
	}
	if f.Capability != "" {
		q.cond("capability = " + q.param(f.Capability))
	}
	if f.Agent != "" {
		p := q.param(f.Agent)
		q.cond("(agent_id = " + p + " OR agent_name = " + p + ")")
	}
	limit := storage.PageLimit(f.Limit)
	rows, err := s.pool.Query(ctx, q.sql(`SELECT `+taskColumns+` FROM tasks`, "DESC", limit), q.args...)
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
	var page storage.TaskPage
	page.Tasks, page.NextCursor = storage.TrimPage(tasks, limit, func(v storage.Task) string { return v.ID })
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
		tx := &pgTx{pool: s.pool, writes: s.writes}
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
	q, args, err := writeStatement(&before, t, events, tx.relaxed)
	if err != nil {
		return nil, false, err
	}
	var n int
	switch {
	case tx.tx != nil:
		err = tx.tx.QueryRow(ctx, q, args...).Scan(&n)
	case tx.relaxed || tx.writes == nil:
		// A relaxed write does not wait for the disk: sharing a commit
		// would gain it nothing and make the others' commit relaxed.
		err = tx.pool.QueryRow(ctx, q, args...).Scan(&n)
	default:
		n, err = tx.writes.Do(ctx, statement{key: t.ID, sql: q, args: args})
	}
	if err != nil || n == 0 {
		return nil, false, err
	}
	// Committed apart from the write: a write that lost the race (n == 0)
	// must roll back what fn did in the transaction.
	if err := tx.commit(ctx); err != nil {
		return nil, false, err
	}
	return t, true, nil
}

// writeStatement builds the one statement that writes t back, if its event
// sequence is still before's, and inserts its events; it returns how many
// rows it updated (0 or 1). It writes only the columns a change may write,
// and the request columns among them only when they changed, so that the
// input is not sent (and stored) again with every change. relaxed commits
// it without waiting for the disk.
func writeStatement(before, t *storage.Task, events []storage.TaskEvent, relaxed bool) (string, []any, error) {
	values, err := encodeProgress(t)
	if err != nil {
		return "", nil, err
	}
	// $1 is the id, $2 the sequence read; the columns follow, in order.
	args := append(make([]any, 0, 2+len(values)+3+6), t.ID, before.EventSeq)
	args = append(args, values...)
	continued := !bytes.Equal(before.Input, t.Input) || before.RequestedAgent != t.RequestedAgent ||
		!before.WaitForAgentUntil.Equal(t.WaitForAgentUntil)
	if continued {
		more, err := encodeContinued(t)
		if err != nil {
			return "", nil, err
		}
		args = append(args, more...)
	}
	for i := range events {
		if err := events[i].Check(); err != nil {
			return "", nil, err
		}
	}
	shape := min(len(events), maxRowEvents+1)
	if shape <= maxRowEvents {
		// A few events (the usual one to three) go as plain parameters,
		// which are cheaper to encode than arrays.
		for _, e := range events {
			args = append(args, e.Seq, string(e.Kind), string(e.State), e.Message, optionalArtifact(e.Artifact), e.CreatedAt)
		}
	} else {
		var (
			seqs                = make([]int64, len(events))
			kinds, states, msgs = make([]string, len(events)), make([]string, len(events)), make([]string, len(events))
			artifacts           = make([]*string, len(events))
			created             = make([]time.Time, len(events))
		)
		for i, e := range events {
			seqs[i], kinds[i], states[i], msgs[i], artifacts[i], created[i] = e.Seq, string(e.Kind), string(e.State),
				e.Message, optionalArtifact(e.Artifact), e.CreatedAt
		}
		args = append(args, seqs, kinds, states, msgs, artifacts, created)
	}
	return writeStatements[writeVariant(continued, relaxed)][shape], args, nil
}

// optionalArtifact is an event's artifact as a parameter: its JSON text, or
// NULL.
func optionalArtifact(a json.RawMessage) *string {
	if len(a) == 0 {
		return nil
	}
	s := string(a)
	return &s
}

func writeVariant(continued, relaxed bool) int {
	v := 0
	if continued {
		v |= 1
	}
	if relaxed {
		v |= 2
	}
	return v
}

// maxRowEvents is the most events writeStatement passes as plain
// parameters; more go as arrays.
const maxRowEvents = 4

// writeStatements are writeStatement's statements, built once, indexed by
// writeVariant and then by the number of events (maxRowEvents+1: more).
var writeStatements = func() (qs [4][maxRowEvents + 2]string) {
	for _, continued := range []bool{false, true} {
		cols := strings.Split(progressColumns, ",")
		if continued {
			cols = append(cols, strings.Split(continuedColumns, ",")...)
		}
		sets := make([]string, len(cols))
		for i, c := range cols {
			sets[i] = strings.TrimSpace(c) + " = $" + strconv.Itoa(i+3)
		}
		p := func(i int) string { return "$" + strconv.Itoa(len(cols)+2+i) }
		for n := range maxRowEvents + 2 {
			q := `WITH u AS (UPDATE tasks SET ` + strings.Join(sets, ", ") + ` WHERE id = $1 AND event_seq = $2 RETURNING id)`
			const insert = `, e AS (INSERT INTO task_events (task_id, seq, kind, state, message, artifact, created_at)
				SELECT u.id, x.seq, x.kind, x.state, x.message, x.artifact::jsonb, x.created_at FROM u, `
			switch {
			case n == 0:
			case n <= maxRowEvents:
				rows := make([]string, n)
				for i := range rows {
					rows[i] = "(" + p(6*i+1) + "::bigint, " + p(6*i+2) + "::text, " + p(6*i+3) + "::text, " + p(6*i+4) +
						"::text, " + p(6*i+5) + "::text, " + p(6*i+6) + "::timestamptz)"
				}
				q += insert + `(VALUES ` + strings.Join(rows, ", ") + `) AS x(seq, kind, state, message, artifact, created_at))`
			default:
				q += insert + `unnest(` + p(1) + `::bigint[], ` + p(2) + `::text[], ` + p(3) + `::text[], ` + p(4) + `::text[], ` +
					p(5) + `::text[], ` + p(6) + `::timestamptz[]) AS x(seq, kind, state, message, artifact, created_at))`
			}
			qs[writeVariant(continued, false)][n] = q + ` SELECT count(*) FROM u`
			// The relaxed one sets synchronous_commit for the statement's
			// own transaction: read when it commits, reset after.
			qs[writeVariant(continued, true)][n] = q + `, r AS (SELECT set_config('synchronous_commit', 'off', true))
				SELECT (SELECT count(*) FROM u) FROM r`
		}
	}
	return qs
}()

// placeholders returns "$from, …, $(from+n-1)".
func placeholders(from, n int) string {
	ps := make([]string, n)
	for i := range ps {
		ps[i] = "$" + strconv.Itoa(from+i)
	}
	return strings.Join(ps, ", ")
}

// pipeTx is a transaction on one pooled connection whose BEGIN is sent in
// one pipeline with its first statement, and whose COMMIT may be sent with
// its last (commitWith), so that a transaction of n statements costs n round
// trips instead of n + 2. It is a pgx.Tx, so that River can insert a job in
// it. It is not safe for concurrent use, and ends with Commit, commitWith or
// Rollback, which release the connection.
type pipeTx struct {
	conn  *pgxpool.Conn
	begun bool
	done  bool
}

var _ pgx.Tx = (*pipeTx)(nil)

var errTxDone = fmt.Errorf("task transaction: %w", pgx.ErrTxClosed)

// send sends sql, preceded by BEGIN when the transaction has not begun, and
// returns the results positioned at sql's.
func (t *pipeTx) send(ctx context.Context, sql string, args []any) (pgx.BatchResults, error) {
	b := &pgx.Batch{}
	if !t.begun {
		b.Queue("begin")
	}
	b.Queue(sql, args...)
	br := t.conn.SendBatch(ctx, b)
	if !t.begun {
		if _, err := br.Exec(); err != nil {
			_ = br.Close()
			return nil, err
		}
		t.begun = true
	}
	return br, nil
}

// Exec implements pgx.Tx.
func (t *pipeTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if t.done {
		return pgconn.CommandTag{}, errTxDone
	}
	if t.begun {
		return t.conn.Exec(ctx, sql, args...)
	}
	br, err := t.send(ctx, sql, args)
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	tag, err := br.Exec()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return tag, err
}

// Query implements pgx.Tx.
func (t *pipeTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if t.done {
		return nil, errTxDone
	}
	if t.begun {
		return t.conn.Query(ctx, sql, args...)
	}
	br, err := t.send(ctx, sql, args)
	if err != nil {
		return nil, err
	}
	rows, err := br.Query()
	if err != nil {
		_ = br.Close()
		return nil, err
	}
	return &batchRows{Rows: rows, br: br}, nil
}

// QueryRow implements pgx.Tx.
func (t *pipeTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	rows, err := t.Query(ctx, sql, args...)
	return rowOf{rows: rows, err: err}
}

// commitWith runs stmts as the transaction's last statements and commits in
// the same round trip, scanning each statement's one row with scan. A
// transaction not begun with one statement runs it on its own, which commits
// it. On error the transaction is rolled back; either way the connection is
// released.
func (t *pipeTx) commitWith(ctx context.Context, stmts []statement, scan func(i int, row pgx.Row) error) error {
	if t.done {
		return errTxDone
	}
	defer t.release(ctx)
	if !t.begun && len(stmts) == 1 {
		return scan(0, t.conn.QueryRow(ctx, stmts[0].sql, stmts[0].args...))
	}
	b := &pgx.Batch{}
	if !t.begun {
		b.Queue("begin")
	}
	for _, st := range stmts {
		b.Queue(st.sql, st.args...)
	}
	b.Queue("commit")
	br := t.conn.SendBatch(ctx, b)
	err := func() error {
		if !t.begun {
			if _, err := br.Exec(); err != nil {
				return err
			}
		}
		for i := range stmts {
			if err := scan(i, br.QueryRow()); err != nil {
				return err
			}
		}
		tag, err := br.Exec()
		if err == nil && tag.String() == "ROLLBACK" {
			err = pgx.ErrTxCommitRollback
		}
		return err
	}()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return err
}

// Commit implements pgx.Tx.
func (t *pipeTx) Commit(ctx context.Context) error {
	if t.done {
		return errTxDone
	}
	var err error
	if t.begun {
		var tag pgconn.CommandTag
		if tag, err = t.conn.Exec(ctx, "commit"); err == nil && tag.String() == "ROLLBACK" {
			err = pgx.ErrTxCommitRollback
		}
	}
	t.release(ctx)
	return err
}

// Rollback implements pgx.Tx.
func (t *pipeTx) Rollback(ctx context.Context) error {
	if t.done {
		return errTxDone
	}
	t.release(ctx)
	return nil
}

// release ends the transaction: a connection still in one (the commit was
// not reached, or failed) is rolled back, or closed when that fails, before
// it goes back to the pool.
func (t *pipeTx) release(ctx context.Context) {
	t.done = true
	if t.conn.Conn().PgConn().TxStatus() != 'I' {
		if _, err := t.conn.Exec(context.WithoutCancel(ctx), "rollback"); err != nil {
			_ = t.conn.Conn().Close(context.WithoutCancel(ctx))
		}
	}
	t.conn.Release()
}

// begin sends BEGIN on its own, for the methods that cannot carry it.
func (t *pipeTx) begin(ctx context.Context) error {
	if t.done {
		return errTxDone
	}
	if !t.begun {
		if _, err := t.conn.Exec(ctx, "begin"); err != nil {
			return err
		}
		t.begun = true
	}
	return nil
}

// Begin implements pgx.Tx: nested transactions are not supported.
func (t *pipeTx) Begin(context.Context) (pgx.Tx, error) {
	return nil, errors.New("task transaction: nested transactions are not supported")
}

// CopyFrom implements pgx.Tx.
func (t *pipeTx) CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error) {
	if err := t.begin(ctx); err != nil {
		return 0, err
	}
	return t.conn.CopyFrom(ctx, table, columns, src)
}

// SendBatch implements pgx.Tx.
func (t *pipeTx) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	if err := t.begin(ctx); err != nil {
		return pgx.FailedBatchResults(b, err)
	}
	return t.conn.SendBatch(ctx, b)
}

// LargeObjects implements pgx.Tx; task transactions do not use them.
func (t *pipeTx) LargeObjects() pgx.LargeObjects { return pgx.LargeObjects{} }

// Prepare implements pgx.Tx.
func (t *pipeTx) Prepare(ctx context.Context, name, sql string) (*pgconn.StatementDescription, error) {
	return t.conn.Conn().Prepare(ctx, name, sql)
}

// Conn implements pgx.Tx.
func (t *pipeTx) Conn() *pgx.Conn { return t.conn.Conn() }

// batchRows are the rows of the statement that began a pipeTx; closing
// them finishes the pipeline.
type batchRows struct {
	pgx.Rows
	br     pgx.BatchResults
	closed bool
	err    error
}

func (r *batchRows) Close() {
	r.Rows.Close()
	if !r.closed {
		r.closed = true
		r.err = r.br.Close()
	}
}

func (r *batchRows) Err() error {
	if err := r.Rows.Err(); err != nil {
		return err
	}
	return r.err
}

// rowOf is the pgx.Row of a query's first row.
type rowOf struct {
	rows pgx.Rows
	err  error
}

func (r rowOf) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	defer r.rows.Close()
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return err
		}
		return pgx.ErrNoRows
	}
	if err := r.rows.Scan(dest...); err != nil {
		return err
	}
	r.rows.Close()
	return r.rows.Err()
}
