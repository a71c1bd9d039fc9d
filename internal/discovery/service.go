// Package discovery is the agent registry of ossa: it stores OSSA manifests
// with where to reach each agent, judges agent health from heartbeats and
// active probes, and answers capability queries from an in-memory index,
// ranked by a documented score. It can also register the manifests of a
// UADP workspace (.agents/**/agent.yml) and follow their changes.
//
// The store is the system of record. Every write goes to the store first and
// then to the index; the index reloads from the store every SyncInterval to
// see other replicas' writes. Queries never touch the store. See
// docs/discovery.md for the API, the health model and the score.
package discovery

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ossa-platform/ossa/internal/storage"
)

// Deps are what the discovery service needs from the process.
type Deps struct {
	// Agents is the system of record; required.
	Agents storage.AgentStore
	// Logger defaults to discarding logs.
	Logger *slog.Logger
	// Metrics, when set, receives the service's metrics.
	Metrics prometheus.Registerer
	// HTTPClient makes health probes; each probe also has its own
	// ProbeTimeout. Defaults to a client without a global timeout.
	HTTPClient *http.Client
	// Clock stamps heartbeats, probes and health transitions; nil means
	// time.Now. Tests set it to control time without sleeping. Probe
	// timeouts and latencies are real durations regardless.
	Clock func() time.Time
}

// Service is the discovery service.
type Service struct {
	cfg     Config
	store   storage.AgentStore
	log     *slog.Logger
	hc      *http.Client
	clock   func() time.Time
	metrics *metrics
	idx     *index

	// probeSlots bounds probes in flight; probes tracks them for shutdown.
	probeSlots chan struct{}
	probes     sync.WaitGroup
	// persistMu serialises status writes so they reach the store in order
	// and each writes the latest status.
	persistMu sync.Mutex
	// syncMu serialises index reloads.
	syncMu   sync.Mutex
	lastSync atomic.Pointer[syncResult]
	running  atomic.Bool
}

type syncResult struct {
	at  time.Time
	err error
}

// openAPISpec documents Routes; the app merges it into /openapi.json.
//
//go:embed openapi.yaml
var openAPISpec []byte

// New builds the service and loads every agent from the store into the
// index, so it answers queries as soon as it returns. Background work (sync,
// health, workspace scan) starts with Run.
func New(ctx context.Context, cfg Config, deps Deps) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("discovery config: %w", err)
	}
	if deps.Agents == nil {
		return nil, errors.New("discovery: Deps.Agents is required")
	}
	if cfg.Scan != "" {
		fi, err := os.Stat(cfg.Scan)
		if err != nil {
			return nil, fmt.Errorf("discovery scan directory: %w", err)
		}
		if !fi.IsDir() {
			return nil, fmt.Errorf("discovery scan directory %s: not a directory", cfg.Scan)
		}
	}
	s := &Service{
		cfg:        cfg,
		store:      deps.Agents,
		log:        deps.Logger,
		hc:         deps.HTTPClient,
		clock:      deps.Clock,
		idx:        newIndex(),
		probeSlots: make(chan struct{}, cfg.ProbeConcurrency),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.hc == nil {
		s.hc = &http.Client{}
	}
	if s.clock == nil {
		s.clock = time.Now
	}
	m, err := newMetrics(deps.Metrics, s.idx)
	if err != nil {
		return nil, fmt.Errorf("discovery metrics: %w", err)
	}
	s.metrics = m
	if err := s.syncIndex(ctx); err != nil {
		return nil, fmt.Errorf("discovery: load agents: %w", err)
	}
	return s, nil
}

// Run reloads the index every SyncInterval, evaluates health and probes
// agents, and follows the workspace scan directory, until ctx is cancelled.
// It then waits for probes in flight, writes unsaved statuses, and returns
// nil. It returns an error only if the workspace watch cannot start.
func (s *Service) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("discovery: Run called twice")
	}
	var sc *scanner
	if s.cfg.Scan != "" {
		var err error
		if sc, err = newScanner(s, s.cfg.Scan); err != nil {
			return fmt.Errorf("discovery: start workspace scan: %w", err)
		}
	}
	var wg sync.WaitGroup
	if sc != nil {
		wg.Go(func() { sc.run(ctx) })
	}
	wg.Go(func() {
		every(ctx, s.cfg.SyncInterval, func() {
			if err := s.syncIndex(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("agent index reload failed", "err", err)
			}
		})
	})
	wg.Go(func() { every(ctx, s.healthTick(), func() { s.checkHealth(ctx) }) })
	wg.Wait()
	s.probes.Wait()

	// The store may still take writes while the app drains; save what only
	// memory knows (recent heartbeats, probe counters).
	flushCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	s.flushAll(flushCtx)
	return nil
}

// every calls fn each interval until ctx is done.
func every(ctx context.Context, interval time.Duration, fn func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn()
		}
	}
}

// Ready reports an error while the index cannot reload from the store, since
// queries then answer from a stale view.
func (s *Service) Ready(context.Context) error {
	if r := s.lastSync.Load(); r != nil && r.err != nil {
		return fmt.Errorf("agent index reload failing since %s: %w", r.at.UTC().Format(time.RFC3339), r.err)
	}
	return nil
}

// OpenAPI returns the OpenAPI 3.1 fragment documenting Routes.
func (s *Service) OpenAPI() []byte { return openAPISpec }

// OpenAPISpec is the fragment OpenAPI returns, for a gateway that documents
// discovery running in another process.
func OpenAPISpec() []byte { return openAPISpec }

// Get returns the agent with its live status. An agent another replica
// registered and this one has not yet synced is read from the store. The
// error wraps storage.ErrNotFound for an unknown ID.
func (s *Service) Get(ctx context.Context, id string) (*storage.Agent, error) {
	if a, ok := s.idx.get(id); ok {
		return &a, nil
	}
	a, err := s.store.Get(ctx, id)
	if err != nil {
		return nil, notFoundOr(err, id, "get agent")
	}
	got := s.idx.adopt(*a, s.clock(), s.cfg)
	return &got, nil
}

// Discover returns the agents that best match q, best first (see score). It
// reads only memory.
func (s *Service) Discover(_ context.Context, q Query) []Ranked {
	out, _ := s.idx.discover(q)
	return out
}

// syncIndex reloads the index from a full read of the store.
func (s *Service) syncIndex(ctx context.Context) error {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	since := s.idx.beginSync()
	snapshot, err := s.loadAll(ctx)
	now := s.clock()
	s.lastSync.Store(&syncResult{at: now, err: err})
	s.metrics.sync(err)
	if err != nil {
		return err
	}
	added, changed, removed := s.idx.apply(snapshot, since, now, s.cfg)
	if added+changed+removed > 0 {
		s.log.Debug("agent index reloaded", "agents", len(snapshot), "added", added, "changed", changed, "removed", removed)
	}
	return nil
}

// loadAll reads every agent, a page at a time.
func (s *Service) loadAll(ctx context.Context) ([]storage.Agent, error) {
	var all []storage.Agent
	f := storage.AgentFilter{Limit: 500}
	for {
		page, err := s.store.List(ctx, f)
		if err != nil {
			return nil, fmt.Errorf("list agents: %w", err)
		}
		all = append(all, page.Agents...)
		if page.NextCursor == "" {
			return all, nil
		}
		f.Cursor = page.NextCursor
	}
}

// notFoundOr maps storage.ErrNotFound to a 404 error that still wraps it,
// and wraps anything else with op.
func notFoundOr(err error, id, op string) error {
	if errors.Is(err, storage.ErrNotFound) {
		return notFound(id)
	}
	return fmt.Errorf("%s %s: %w", op, id, err)
}
