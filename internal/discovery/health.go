package discovery

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/ossa-platform/ossa/internal/storage"
)

// Probe outcomes, the values of the outcome label of the probe metric.
const (
	outcomeOK        = "ok"
	outcomeHTTPError = "http_status"
	outcomeTimeout   = "timeout"
	outcomeError     = "error"
)

// probeBodyLimit caps how much of a health answer is read; the status code
// is the verdict, the body is drained only so connections can be reused.
const probeBodyLimit = 64 << 10

// probeJob is one probe to run.
type probeJob struct {
	id, url string
}

// healthTick is how often health is evaluated and due probes started: a
// tenth of the shorter of the heartbeat TTL and the probe interval, between
// 50ms and 1s, so expiry is noticed promptly without busy looping.
func (s *Service) healthTick() time.Duration {
	d := s.cfg.HeartbeatTTL
	if s.cfg.ProbeInterval > 0 {
		d = min(d, s.cfg.ProbeInterval)
	}
	return min(max(d/10, 50*time.Millisecond), time.Second)
}

// flushEvery is how long a status change that is not a health change may
// wait before it is written: half the heartbeat TTL, so other replicas
// reading the store see a heartbeat well before it would expire.
func (s *Service) flushEvery() time.Duration { return s.cfg.HeartbeatTTL / 2 }

// checkHealth is one pass of the health loop: expire heartbeats, start due
// probes (up to the free probe slots) and write due statuses.
func (s *Service) checkHealth(ctx context.Context) {
	now := s.clock()
	free := cap(s.probeSlots) - len(s.probeSlots)
	jobs, persist := s.idx.sweep(now, s.cfg, s.flushEvery(), free)
	for _, j := range jobs {
		s.startProbe(ctx, j)
	}
	for _, id := range persist {
		if err := s.persistStatus(ctx, id, false); err != nil && ctx.Err() == nil {
			s.log.Warn("save agent status failed", "agent_id", id, "err", err)
		}
	}
}

// startProbe runs j in the background once a probe slot is free.
func (s *Service) startProbe(ctx context.Context, j probeJob) {
	select {
	case s.probeSlots <- struct{}{}:
	case <-ctx.Done():
		s.idx.cancelProbe(j.id)
		return
	}
	s.probes.Go(func() {
		defer func() { <-s.probeSlots }()
		s.probe(ctx, j)
	})
}

// probe calls the agent's health endpoint and records the outcome.
func (s *Service) probe(ctx context.Context, j probeJob) {
	pctx, cancel := context.WithTimeout(ctx, s.cfg.ProbeTimeout)
	defer cancel()
	start := time.Now()
	outcome, detail := s.fetchHealth(pctx, j.url)
	elapsed := time.Since(start)
	if ctx.Err() != nil {
		// Stopping: an interrupted probe says nothing about the agent.
		s.idx.cancelProbe(j.id)
		return
	}
	s.metrics.probe(outcome, elapsed)
	if !s.idx.recordProbe(j, s.clock(), outcome == outcomeOK, elapsed, detail, s.cfg) {
		return
	}
	if outcome != outcomeOK {
		s.log.Debug("agent health probe failed", "agent_id", j.id, "url", j.url, "outcome", outcome, "detail", detail)
	}
	if err := s.persistStatus(ctx, j.id, false); err != nil && ctx.Err() == nil {
		s.log.Warn("save agent status failed", "agent_id", j.id, "err", err)
	}
}

// fetchHealth GETs url; any 2xx answer is a success.
func (s *Service) fetchHealth(ctx context.Context, url string) (outcome, detail string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return outcomeError, err.Error()
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "ossa-discovery-probe")
	resp, err := s.hc.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return outcomeTimeout, fmt.Sprintf("no answer from %s within %s", url, s.cfg.ProbeTimeout)
		}
		return outcomeError, err.Error()
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, probeBodyLimit))
	_ = resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return outcomeHTTPError, fmt.Sprintf("%s answered HTTP %d", url, resp.StatusCode)
	}
	return outcomeOK, ""
}

// persistStatus writes the agent's live status to the store when the
// tracker says it is due (see tracker.persistDue) or, with force, whenever
// it differs from what was last written. Writes are serialised, and each
// writes the status as it is when the write starts, so the store never goes
// back to an older status.
func (s *Service) persistStatus(ctx context.Context, id string, force bool) error {
	s.persistMu.Lock()
	defer s.persistMu.Unlock()
	now := s.clock()
	st, version, due := s.idx.persistCandidate(id, now, s.flushEvery(), force)
	if !due {
		return nil
	}
	if err := s.store.UpdateStatus(ctx, id, st); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			// Deleted through another replica; follow the store.
			s.idx.forget(id)
		}
		return fmt.Errorf("save status of agent %s: %w", id, err)
	}
	s.idx.markPersisted(id, version, st, now)
	return nil
}

// flushAll writes every status with unsaved changes.
func (s *Service) flushAll(ctx context.Context) {
	for _, id := range s.idx.unpersisted() {
		if err := s.persistStatus(ctx, id, true); err != nil && !errors.Is(err, storage.ErrNotFound) {
			s.log.Warn("save agent status failed", "agent_id", id, "err", err)
		}
	}
}

// sweep evaluates health at now and returns the probes to start (at most
// maxProbes, each marked in flight) and the agents whose status is due to
// be written. It scans under the read lock and takes the write lock only
// for the agents that change, so queries are not held up by a full pass.
func (x *index) sweep(now time.Time, cfg Config, flushEvery time.Duration, maxProbes int) ([]probeJob, []string) {
	var stale []*entry
	var persist []string
	x.mu.RLock()
	for _, e := range x.byID {
		switch {
		case e.probeURL != "" && e.tr.probeDue(now), e.tr.expiryPending(now, cfg):
			stale = append(stale, e)
		case e.tr.persistDue(now, flushEvery):
			persist = append(persist, e.agent.ID)
		}
	}
	x.mu.RUnlock()
	if len(stale) == 0 {
		return nil, persist
	}
	var jobs []probeJob
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, e := range stale {
		if x.byID[e.agent.ID] != e {
			continue // removed since the scan
		}
		if e.tr.evaluate(now, cfg) {
			x.refreshLocked(e)
		}
		if e.probeURL != "" && e.tr.probeDue(now) && len(jobs) < maxProbes {
			e.tr.probing = true
			jobs = append(jobs, probeJob{id: e.agent.ID, url: e.probeURL})
		}
		if e.tr.persistDue(now, flushEvery) {
			persist = append(persist, e.agent.ID)
		}
	}
	return jobs, persist
}

// recordProbe applies a probe outcome. It reports false when the agent is
// gone or its probe URL changed while the probe ran, since the outcome then
// describes nothing current.
func (x *index) recordProbe(j probeJob, now time.Time, ok bool, latency time.Duration, detail string, cfg Config) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	e, found := x.byID[j.id]
	if !found {
		return false
	}
	if e.probeURL != j.url {
		e.tr.probing = false
		return false
	}
	e.tr.probeResult(now, ok, latency, detail, cfg)
	e.tr.evaluate(now, cfg)
	x.refreshLocked(e)
	return true
}

// cancelProbe clears the in-flight mark of a probe that did not run.
func (x *index) cancelProbe(id string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if e, ok := x.byID[id]; ok {
		e.tr.probing = false
	}
}

// heartbeat records a heartbeat and returns the resulting status; false if
// the agent is not in the index.
func (x *index) heartbeat(id string, now time.Time, claim storage.Health, load float64, cfg Config) (storage.AgentStatus, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	e, ok := x.byID[id]
	if !ok {
		return storage.AgentStatus{}, false
	}
	e.tr.heartbeat(now, claim, load)
	e.tr.evaluate(now, cfg)
	x.refreshLocked(e)
	return e.tr.st, true
}

// persistCandidate returns the status to write for id and its version, and
// whether a write is due.
func (x *index) persistCandidate(id string, now time.Time, flushEvery time.Duration, force bool) (storage.AgentStatus, uint64, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	e, ok := x.byID[id]
	if !ok {
		return storage.AgentStatus{}, 0, false
	}
	due := e.tr.persistDue(now, flushEvery)
	if force {
		due = e.tr.version != e.tr.persistedVersion
	}
	return e.tr.st, e.tr.version, due
}

// markPersisted records that version's status st is in the store.
func (x *index) markPersisted(id string, version uint64, st storage.AgentStatus, now time.Time) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if e, ok := x.byID[id]; ok && version > e.tr.persistedVersion {
		e.tr.persisted, e.tr.persistedVersion, e.tr.persistedAt = st, version, now
	}
}

// unpersisted lists the agents whose status has unsaved changes.
func (x *index) unpersisted() []string {
	x.mu.RLock()
	defer x.mu.RUnlock()
	var ids []string
	for id, e := range x.byID {
		if e.tr.version != e.tr.persistedVersion {
			ids = append(ids, id)
		}
	}
	return ids
}

// adopt adds an agent read from the store outside a reload, unless the
// index already has it, and returns it with its live status.
func (x *index) adopt(a storage.Agent, now time.Time, cfg Config) storage.Agent {
	d := derive(&a, cfg)
	x.mu.Lock()
	defer x.mu.Unlock()
	e, ok := x.byID[a.ID]
	if !ok {
		e = x.upsertLocked(a, d, now, cfg)
	}
	return cloneAgent(&e.agent)
}
