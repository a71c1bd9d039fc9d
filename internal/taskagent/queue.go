package taskagent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"

	"github.com/ossa-platform/ossa/internal/storage"
	"github.com/ossa-platform/ossa/internal/storage/postgres"
	"github.com/ossa-platform/ossa/internal/storage/sqlite"
)

// queueName is the River queue tasks run on.
const queueName = "ossa_tasks"

// recordGrace is how long a job may run past its task's timeout: time for
// the worker to tell the agent to stop and record the attempt. River's
// rescuer waits at least this long past the timeout before it retries a job
// whose worker died.
const recordGrace = 5 * time.Second

// jobArgs are the arguments of the River job that runs a task. The timeout
// travels with the job so that River knows it without reading the task.
type jobArgs struct {
	TaskID    string `json:"task_id"`
	TimeoutMS int64  `json:"timeout_ms"`
}

// Kind implements river.JobArgs.
func (jobArgs) Kind() string { return "ossa_task" }

// queue is the durable queue that runs tasks: River on the store's own
// database, so a task and its job commit together.
type queue interface {
	// enqueue inserts the jobs that run ts within tx, the transaction that
	// writes them, in one statement, and sets each task's JobID.
	enqueue(ctx context.Context, tx storage.TaskTx, ts []*storage.Task) error
	// cancel cancels a job: a queued one will not run; a running one has
	// its context cancelled by the River client running it, in whichever
	// process that is.
	cancel(ctx context.Context, jobID int64) error
	start(ctx context.Context) error
	// stop stops fetching, lets running jobs finish for up to the soft-stop
	// timeout, then cancels them and returns once they have.
	stop(ctx context.Context) error
}

// riverQueue is a queue on River with driver transaction type TTx.
type riverQueue[TTx any] struct {
	client *river.Client[TTx]
}

// queueSettings are the River settings the service and its benchmark share.
type queueSettings struct {
	Workers           int
	FetchCooldown     time.Duration
	FetchPollInterval time.Duration
	RescueAfter       time.Duration
	SoftStopTimeout   time.Duration
	Retry             river.ClientRetryPolicy
	Logger            *slog.Logger
}

// riverConfig is the River client configuration for s running workers.
func riverConfig(s queueSettings, workers *river.Workers) *river.Config {
	return &river.Config{
		Queues: map[string]river.QueueConfig{queueName: {
			MaxWorkers: s.Workers, FetchCooldown: s.FetchCooldown, FetchPollInterval: s.FetchPollInterval,
		}},
		FetchCooldown:        s.FetchCooldown,
		FetchPollInterval:    s.FetchPollInterval,
		Workers:              workers,
		RescueStuckJobsAfter: s.RescueAfter,
		// Each job's timeout comes from its task (worker.Timeout); there
		// is no client-wide one.
		JobTimeout:      -1,
		RetryPolicy:     s.Retry,
		SoftStopTimeout: s.SoftStopTimeout,
		Logger:          s.Logger,
	}
}

// newQueue builds the River client for the store's driver. River needs the
// driver's own connection: the SQLite store's single write connection (so
// River's writes queue with the store's instead of fighting for the lock) or
// the PostgreSQL pool.
func newQueue(store storage.Store, s queueSettings, w river.Worker[jobArgs]) (queue, error) {
	workers := river.NewWorkers()
	if err := river.AddWorkerSafely(workers, w); err != nil {
		return nil, fmt.Errorf("register task worker: %w", err)
	}
	cfg := riverConfig(s, workers)
	switch st := store.(type) {
	case *sqlite.Store:
		return newRiverQueue(riversqlite.New(st.DB()), cfg)
	case *postgres.Store:
		return newRiverQueue(riverpgxv5.New(st.Pool()), cfg)
	default:
		return nil, fmt.Errorf("task queue: unsupported store %T (want the sqlite or postgres driver)", store)
	}
}

func newRiverQueue[TTx any](driver riverdriver.Driver[TTx], cfg *river.Config) (*riverQueue[TTx], error) {
	client, err := river.NewClient(driver, cfg)
	if err != nil {
		return nil, fmt.Errorf("task queue: %w", err)
	}
	return &riverQueue[TTx]{client: client}, nil
}

func (q *riverQueue[TTx]) enqueue(ctx context.Context, tx storage.TaskTx, ts []*storage.Task) error {
	raw, err := tx.Driver(ctx)
	if err != nil {
		return fmt.Errorf("enqueue tasks: %w", err)
	}
	dtx, ok := raw.(TTx)
	if !ok {
		return fmt.Errorf("enqueue tasks: transaction is %T, not the queue's driver's", raw)
	}
	params := make([]river.InsertManyParams, len(ts))
	for i, t := range ts {
		params[i] = river.InsertManyParams{
			Args: jobArgs{TaskID: t.ID, TimeoutMS: t.Timeout.Milliseconds()},
			InsertOpts: &river.InsertOpts{
				Queue:    queueName,
				Priority: t.Priority,
				// One spare attempt: when the worker of the last attempt
				// dies, the rescued job still runs once to record the
				// failure.
				MaxAttempts: t.MaxAttempts + 1,
			},
		}
	}
	res, err := q.client.InsertManyTx(ctx, dtx, params)
	if err != nil {
		return fmt.Errorf("enqueue tasks: %w", err)
	}
	// River does not promise its results in the order of params: each job
	// is matched to its task by the task ID in its arguments.
	if len(res) != len(ts) {
		return fmt.Errorf("enqueue tasks: %d jobs inserted for %d tasks", len(res), len(ts))
	}
	byID := make(map[string]*storage.Task, len(ts))
	for _, t := range ts {
		byID[t.ID] = t
	}
	for _, r := range res {
		var args jobArgs
		if err := json.Unmarshal(r.Job.EncodedArgs, &args); err != nil {
			return fmt.Errorf("enqueue tasks: job %d: %w", r.Job.ID, err)
		}
		t := byID[args.TaskID]
		if t == nil {
			return fmt.Errorf("enqueue tasks: job %d is for task %q, not one enqueued", r.Job.ID, args.TaskID)
		}
		t.JobID = r.Job.ID
		delete(byID, args.TaskID) // one job per task
	}
	return nil
}

func (q *riverQueue[TTx]) cancel(ctx context.Context, jobID int64) error {
	if _, err := q.client.JobCancel(ctx, jobID); err != nil && !errors.Is(err, river.ErrNotFound) {
		return fmt.Errorf("cancel job %d: %w", jobID, err)
	}
	return nil
}

func (q *riverQueue[TTx]) start(ctx context.Context) error {
	if err := q.client.Start(ctx); err != nil {
		return fmt.Errorf("start task queue: %w", err)
	}
	return nil
}

func (q *riverQueue[TTx]) stop(ctx context.Context) error {
	if err := q.client.Stop(ctx); err != nil {
		return fmt.Errorf("stop task queue: %w", err)
	}
	return nil
}

// backoff is the retry policy: exponential from base, doubling per attempt
// up to limit, with "equal jitter" (a uniform draw from the upper half of
// the delay) so that tasks failing together do not retry together.
type backoff struct {
	base, limit time.Duration
	now         func() time.Time
	// rand returns a number in [0, 1).
	rand func() float64
}

// NextRetry implements river.ClientRetryPolicy. job.Attempt is the attempt
// that just failed, from 1.
func (b backoff) NextRetry(job *rivertype.JobRow) time.Time {
	return b.now().Add(b.delay(job.Attempt))
}

func (b backoff) delay(attempt int) time.Duration {
	d := b.base
	for i := 1; i < attempt && d < b.limit; i++ {
		d *= 2
	}
	d = min(d, b.limit)
	return d/2 + time.Duration(b.rand()*float64(d/2))
}

func newBackoff(base, limit time.Duration) backoff {
	return backoff{base: base, limit: limit, now: time.Now, rand: rand.Float64}
}

// Migrate applies River's own migrations to the store's database, after the
// store's: `ossa migrate up` and the embedded auto-migration both call it.
// On PostgreSQL, concurrent callers queue on an advisory lock, since River's
// migrator takes none.
func Migrate(ctx context.Context, store storage.Store, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg := &rivermigrate.Config{Logger: log}
	switch st := store.(type) {
	case *sqlite.Store:
		return migrateRiver(ctx, riversqlite.New(st.DB()), cfg)
	case *postgres.Store:
		conn, err := st.Pool().Acquire(ctx)
		if err != nil {
			return fmt.Errorf("migrate task queue: %w", err)
		}
		defer conn.Release()
		var schema string
		if err := conn.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
			return fmt.Errorf("migrate task queue: current schema: %w", err)
		}
		key := lockKey("ossa river migrate " + schema)
		if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, key); err != nil {
			return fmt.Errorf("migrate task queue: lock: %w", err)
		}
		defer unlock(conn, key)
		return migrateRiver(ctx, riverpgxv5.New(st.Pool()), cfg)
	default:
		return fmt.Errorf("migrate task queue: unsupported store %T", store)
	}
}

func migrateRiver[TTx any](ctx context.Context, driver riverdriver.Driver[TTx], cfg *rivermigrate.Config) error {
	m, err := rivermigrate.New(driver, cfg)
	if err != nil {
		return fmt.Errorf("migrate task queue: %w", err)
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("migrate task queue: %w", err)
	}
	return nil
}

// unlock releases the advisory lock on a fresh context, since the caller's
// may have ended. If that fails the connection is closed, which releases
// the lock too, rather than returned to the pool still holding it.
func unlock(conn *pgxpool.Conn, key int64) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_unlock($1)`, key); err != nil {
		_ = conn.Conn().Close(ctx)
	}
}

func lockKey(s string) int64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return int64(h.Sum64())
}
