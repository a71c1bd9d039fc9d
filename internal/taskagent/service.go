// Package taskagent is the task service of ossa: it accepts tasks, queues
// them durably on River, routes each attempt to the best healthy agent that
// discovery knows for the task's capability, dispatches it over the agent's
// protocol (or waits for a pull-mode agent to claim it), retries with
// backoff, times out, cancels, records every state change as an event and
// streams those events. It also serves the platform as one A2A agent.
//
// The task row is the system of record and River the engine: a task and its
// job commit in one transaction, and every outcome is written with a
// conditional update, so a task whose worker crashed is retried by River's
// rescuer and its result is still recorded once. See docs/tasks.md.
package taskagent

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ossa-platform/ossa/internal/dispatch"
	"github.com/ossa-platform/ossa/internal/groupcommit"
	"github.com/ossa-platform/ossa/internal/storage"
)

// Deps are what the task service needs from the process.
type Deps struct {
	// Store is the system of record; required. It must be the sqlite or
	// postgres driver, whose connection River shares.
	Store storage.Store
	// Finder answers which agents may run a task; required.
	Finder Finder
	// Dispatcher delivers attempts to push-mode agents; required.
	Dispatcher dispatch.Dispatcher
	// Logger defaults to discarding logs.
	Logger *slog.Logger
	// Metrics, when set, receives the service's metrics.
	Metrics prometheus.Registerer
	// Clock stamps leases and deadlines; nil means time.Now. River's own
	// timing is real time regardless.
	Clock func() time.Time
}

// Service is the task service.
type Service struct {
	cfg        Config
	tasks      storage.TaskStore
	queue      queue
	finder     Finder
	dispatcher dispatch.Dispatcher
	log        *slog.Logger
	clock      func() time.Time
	metrics    *metrics
	limits     limits
	// load counts attempts in flight per agent in this process, for
	// ranking agents without a concurrency limit.
	load load
	// hub wakes streams, claims and pull-mode waits when this process
	// changes a task; other replicas' changes are found by polling.
	hub *hub
	// attempts holds the cancel function of every attempt this process is
	// running, so a cancellation reaches it at once.
	attempts attemptSet
	a2a      http.Handler
	// creates group-commits submissions: tasks submitted at once share
	// one transaction that inserts them and their River jobs, as River's
	// completer shares one among the jobs it marks done.
	creates *groupcommit.Batcher[*storage.Task, struct{}]

	// draining is closed when the HTTP server begins to shut down, ending
	// streams and long polls so the server can drain.
	draining  chan struct{}
	drainOnce sync.Once
	running   atomic.Bool
}

// Submission group commit bounds: a batch is one transaction on one
// connection; a few at once keep the database busy without taking the pool.
const (
	createMaxBatch   = 64
	createMaxLeaders = 4
	createTimeout    = 30 * time.Second
)

//go:embed openapi.yaml
var openAPISpec []byte

// New builds the service. It does not start the queue; Run does.
func New(cfg Config, deps Deps) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("task-agent config: %w", err)
	}
	switch {
	case deps.Store == nil:
		return nil, errors.New("task-agent: Deps.Store is required")
	case deps.Finder == nil:
		return nil, errors.New("task-agent: Deps.Finder is required")
	case deps.Dispatcher == nil:
		return nil, errors.New("task-agent: Deps.Dispatcher is required")
	}
	s := &Service{
		cfg:        cfg,
		tasks:      deps.Store.Tasks(),
		finder:     deps.Finder,
		dispatcher: deps.Dispatcher,
		log:        deps.Logger,
		clock:      deps.Clock,
		hub:        newHub(),
		draining:   make(chan struct{}),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.clock == nil {
		s.clock = time.Now
	}
	m, err := newMetrics(deps.Metrics)
	if err != nil {
		return nil, fmt.Errorf("task-agent metrics: %w", err)
	}
	s.metrics = m
	q, err := newQueue(deps.Store, queueSettings{
		Workers:           cfg.Workers,
		FetchCooldown:     cfg.FetchCooldown,
		FetchPollInterval: cfg.FetchPollInterval,
		RescueAfter:       cfg.RescueAfter,
		SoftStopTimeout:   cfg.ShutdownGrace,
		Retry:             newBackoff(cfg.RetryBase, cfg.RetryMax),
		Logger:            s.log.With("component", "river"),
	}, &worker{s: s})
	if err != nil {
		return nil, err
	}
	s.queue = q
	s.creates = groupcommit.New(groupcommit.Options{
		MaxBatch: createMaxBatch, MaxLeaders: createMaxLeaders, Timeout: createTimeout,
	}, s.createBatch)
	s.a2a = s.newA2AServer()
	return s, nil
}

// Run works the queue until ctx is cancelled, then stops fetching, lets
// running attempts finish for a grace period, interrupts the rest (they are
// retried later) and returns.
func (s *Service) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("task-agent: Run called twice")
	}
	// River gets a context of its own: cancelling the one passed to Start
	// would cancel running attempts at once instead of letting them finish.
	if err := s.queue.start(context.WithoutCancel(ctx)); err != nil {
		return err
	}
	<-ctx.Done()
	s.BeginDrain()
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownGrace+recordGrace)
	defer cancel()
	return s.queue.stop(stopCtx)
}

// BeginDrain ends open event streams and claim long-polls, so that the HTTP
// server, which waits for requests in flight, can shut down. The app calls
// it when shutdown begins; it is idempotent.
func (s *Service) BeginDrain() {
	s.drainOnce.Do(func() { close(s.draining) })
}

// Ready reports whether the task store answers.
func (s *Service) Ready(ctx context.Context) error {
	if _, err := s.tasks.List(ctx, storage.TaskFilter{Limit: 1}); err != nil {
		return fmt.Errorf("task store: %w", err)
	}
	return nil
}

// OpenAPI returns the OpenAPI 3.1 fragment documenting Routes.
func (s *Service) OpenAPI() []byte { return openAPISpec }

// attemptSet maps each task with an attempt running in this process to the
// function that cancels that attempt.
type attemptSet struct {
	mu sync.Mutex
	m  map[string]context.CancelCauseFunc
}

func (a *attemptSet) add(taskID string, cancel context.CancelCauseFunc) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.m == nil {
		a.m = map[string]context.CancelCauseFunc{}
	}
	a.m[taskID] = cancel
}

func (a *attemptSet) remove(taskID string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.m, taskID)
}

// cancel cancels the task's running attempt, if this process runs one.
func (a *attemptSet) cancel(taskID string, cause error) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	c, ok := a.m[taskID]
	if ok {
		c(cause)
	}
	return ok
}
