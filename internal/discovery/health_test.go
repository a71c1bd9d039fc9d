package discovery

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ossa-platform/ossa/internal/storage"
)

// Modes of a flakyAgent's health endpoint.
const (
	answerOK int32 = iota
	answerError
	answerHang
)

// flakyAgent is an agent whose health endpoint answers as told.
type flakyAgent struct {
	mode atomic.Int32
	srv  *httptest.Server
}

func newFlakyAgent(t *testing.T) *flakyAgent {
	t.Helper()
	a := &flakyAgent{}
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch a.mode.Load() {
		case answerError:
			http.Error(w, "boom", http.StatusInternalServerError)
		case answerHang:
			<-r.Context().Done() // until the probe gives up
		default:
			_, _ = w.Write([]byte(`{"status":"ok"}`))
		}
	}))
	t.Cleanup(a.srv.Close)
	return a
}

func probeConfig(t *testing.T) Config {
	cfg := testConfig(t)
	cfg.ProbeInterval = 10 * time.Second
	cfg.ProbeTimeout = 200 * time.Millisecond
	cfg.UnhealthyAfter = 3
	cfg.HeartbeatTTL = 30 * time.Second
	require.NoError(t, cfg.Validate())
	return cfg
}

// probeRound advances the clock one probe interval, runs a health pass and
// waits for the probes it started.
func (f *fixture) probeRound(t *testing.T) {
	t.Helper()
	f.clock.Advance(f.svc.cfg.ProbeInterval)
	f.svc.checkHealth(t.Context())
	f.svc.probes.Wait()
}

func (f *fixture) status(t *testing.T, id string) storage.AgentStatus {
	t.Helper()
	st, ok := f.svc.idx.status(id)
	require.True(t, ok)
	return st
}

func (f *fixture) storedHealth(t *testing.T, id string) storage.Health {
	t.Helper()
	a, err := f.store.Get(t.Context(), id)
	require.NoError(t, err)
	return a.Status.Health
}

func TestHeartbeatTTL(t *testing.T) {
	t.Parallel()
	f := newFixture(t, testConfig(t))
	ttl := f.svc.cfg.HeartbeatTTL
	id := f.register(t, spec{name: "beater"}.yaml(), "")
	require.Equal(t, storage.HealthUnknown, f.status(t, id).Health)

	_, err := f.svc.Heartbeat(t.Context(), id, Heartbeat{})
	require.NoError(t, err)
	require.Equal(t, storage.HealthHealthy, f.status(t, id).Health)
	require.Equal(t, f.clock.Now(), f.status(t, id).HealthySince)

	f.clock.Advance(ttl)
	f.svc.checkHealth(t.Context())
	require.Equal(t, storage.HealthHealthy, f.status(t, id).Health, "a heartbeat is fresh for exactly the TTL")

	f.clock.Advance(time.Second)
	f.svc.checkHealth(t.Context())
	st := f.status(t, id)
	require.Equal(t, storage.HealthUnhealthy, st.Health)
	require.Contains(t, st.Reason, "heartbeat expired at")
	require.True(t, st.HealthySince.IsZero())
	require.Equal(t, storage.HealthUnhealthy, f.storedHealth(t, id), "expiry is saved")

	_, err = f.svc.Heartbeat(t.Context(), id, Heartbeat{Status: storage.HealthDegraded})
	require.NoError(t, err)
	require.Equal(t, storage.HealthDegraded, f.status(t, id).Health)
	require.Equal(t, storage.HealthDegraded, f.storedHealth(t, id))
}

func TestProbeTransitions(t *testing.T) {
	t.Parallel()
	agent := newFlakyAgent(t)
	f := newFixture(t, probeConfig(t))
	id := f.register(t, spec{name: "probed", health: "/health"}.yaml(), agent.srv.URL)

	for i, step := range []struct {
		mode   int32
		health storage.Health
		reason string
	}{
		{answerOK, storage.HealthHealthy, reasonProbeOK},
		{answerError, storage.HealthDegraded, "1 of 3 allowed consecutive health probe failures"},
		{answerError, storage.HealthDegraded, "2 of 3"},
		{answerError, storage.HealthUnhealthy, "3 or more consecutive health probe failures"},
		{answerHang, storage.HealthUnhealthy, "no answer from"},
		{answerOK, storage.HealthHealthy, reasonProbeOK},
	} {
		agent.mode.Store(step.mode)
		f.probeRound(t)
		st := f.status(t, id)
		require.Equal(t, step.health, st.Health, "step %d: %s", i, st.Reason)
		require.Contains(t, st.Reason, step.reason, "step %d", i)
		require.Equal(t, step.health, f.storedHealth(t, id), "step %d: health changes are saved", i)
		require.Equal(t, int64(i+1), st.ProbesTotal)
		require.Equal(t, f.clock.Now(), st.LastProbeAt)
	}
	st := f.status(t, id)
	require.Equal(t, int64(2), st.ProbesOK)
	require.Positive(t, st.LatencyMS)
	require.Equal(t, f.clock.Now(), st.HealthySince)
	require.Greater(t, st.Uptime, 0.0)
	require.Less(t, st.Uptime, 1.0)
}

func TestHeartbeatAndProbeCombine(t *testing.T) {
	t.Parallel()
	agent := newFlakyAgent(t)
	f := newFixture(t, probeConfig(t))
	id := f.register(t, spec{name: "both", health: "/health"}.yaml(), agent.srv.URL)

	// A failing probe outweighs a fresh heartbeat.
	agent.mode.Store(answerError)
	f.probeRound(t)
	_, err := f.svc.Heartbeat(t.Context(), id, Heartbeat{})
	require.NoError(t, err)
	require.Equal(t, storage.HealthDegraded, f.status(t, id).Health)

	// A degraded heartbeat outweighs a passing probe.
	agent.mode.Store(answerOK)
	f.probeRound(t)
	_, err = f.svc.Heartbeat(t.Context(), id, Heartbeat{Status: storage.HealthDegraded})
	require.NoError(t, err)
	require.Equal(t, storage.HealthDegraded, f.status(t, id).Health)
	require.Equal(t, reasonDegraded, f.status(t, id).Reason)

	// Once the heartbeat expires, passing probes alone keep the agent healthy.
	f.clock.Advance(f.svc.cfg.HeartbeatTTL)
	f.probeRound(t)
	require.Equal(t, storage.HealthHealthy, f.status(t, id).Health)
	require.Equal(t, reasonProbeOK, f.status(t, id).Reason)
}

// TestStatusWrites checks that unchanged health is not written on every
// probe or heartbeat, only every half TTL.
func TestStatusWrites(t *testing.T) {
	t.Parallel()
	agent := newFlakyAgent(t)
	f := newFixture(t, probeConfig(t)) // probe every 10s, flush every 15s
	id := f.register(t, spec{name: "steady", health: "/health"}.yaml(), agent.srv.URL)

	f.probeRound(t) // unknown → healthy: written at once
	require.Equal(t, int64(1), f.store.statusWrites.Load())
	for range 3 {
		_, err := f.svc.Heartbeat(t.Context(), id, Heartbeat{})
		require.NoError(t, err)
	}
	f.probeRound(t) // 10s after the write: not yet due
	require.Equal(t, int64(1), f.store.statusWrites.Load())
	f.probeRound(t) // 20s after the write: due
	require.Equal(t, int64(2), f.store.statusWrites.Load())
	a, err := f.store.Get(t.Context(), id)
	require.NoError(t, err)
	// The due write may run before or after this round's probe lands.
	require.GreaterOrEqual(t, a.Status.ProbesTotal, int64(2))
	require.Equal(t, f.status(t, id).LastHeartbeatAt, a.Status.LastHeartbeatAt)

	agent.mode.Store(answerError)
	f.probeRound(t) // healthy → degraded: written at once
	require.Equal(t, int64(3), f.store.statusWrites.Load())
}

func TestProbeConcurrencyBound(t *testing.T) {
	t.Parallel()
	agent := newFlakyAgent(t)
	cfg := probeConfig(t)
	cfg.ProbeConcurrency = 2
	f := newFixture(t, cfg)
	var ids []string
	for _, name := range []string{"p1", "p2", "p3", "p4", "p5"} {
		ids = append(ids, f.register(t, spec{name: name, health: "/health"}.yaml(), agent.srv.URL))
	}
	f.svc.checkHealth(t.Context())
	f.svc.probes.Wait()
	probed := 0
	for _, id := range ids {
		if f.status(t, id).ProbesTotal > 0 {
			probed++
		}
	}
	require.Equal(t, 2, probed, "one pass starts no more probes than there are slots")
	// The rest are still due and go in later passes.
	for range 2 {
		f.svc.checkHealth(t.Context())
		f.svc.probes.Wait()
	}
	for _, id := range ids {
		require.Equal(t, int64(1), f.status(t, id).ProbesTotal)
	}
}

func TestNoProbeWithoutTarget(t *testing.T) {
	t.Parallel()
	cfg := probeConfig(t)
	f := newFixture(t, cfg)
	for i, tc := range []struct {
		name, health, endpoint string
	}{
		{"no health endpoint", "", "http://agent.local"},
		{"relative health without endpoint", "/health", ""},
	} {
		id := f.register(t, spec{name: fmt.Sprintf("np-%d", i), health: tc.health}.yaml(), tc.endpoint)
		f.probeRound(t)
		require.Zero(t, f.status(t, id).ProbesTotal, tc.name)
		require.Equal(t, storage.HealthUnknown, f.status(t, id).Health, tc.name)
	}
}

func TestResolveProbeURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ endpoint, health, want string }{
		{"http://h:1/base/", "/health", "http://h:1/health"},
		{"http://h:1/base/", "health", "http://h:1/base/health"},
		{"http://h:1", "/health", "http://h:1/health"},
		{"", "https://elsewhere/healthz", "https://elsewhere/healthz"},
		{"http://h", "ftp://h/health", ""},
		{"", "/health", ""},
		{"http://h", "", ""},
	} {
		require.Equal(t, tc.want, resolveProbeURL(tc.endpoint, tc.health), "%q + %q", tc.endpoint, tc.health)
	}
}

func TestUptime(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	tr := newTracker(storage.AgentStatus{Health: storage.HealthUnknown}, false, now, cfg)
	require.False(t, tr.rankInputs(50).hasUptime, "no evidence yet")

	// Unknown time is not observed.
	now = now.Add(time.Hour)
	tr.heartbeat(now, storage.HealthHealthy, 0)
	tr.evaluate(now, cfg)
	require.False(t, tr.hasObserved())

	// Healthy for 30 minutes (kept alive by heartbeats), then silent.
	for range 30 {
		now = now.Add(time.Minute)
		tr.heartbeat(now, storage.HealthHealthy, 0)
		tr.evaluate(now, cfg)
	}
	require.InDelta(t, 1.0, tr.st.Uptime, 1e-9)
	now = now.Add(cfg.HeartbeatTTL + time.Second)
	tr.evaluate(now, cfg)
	require.Equal(t, storage.HealthUnhealthy, tr.st.Health)
	now = now.Add(30*time.Minute - cfg.HeartbeatTTL - time.Second)
	tr.evaluate(now, cfg)

	// Half an hour up then half an hour down, weighted toward the recent
	// down half: (1-e^-½)e^-½ / (1-e^-1) ≈ 0.3775.
	want := (1 - math.Exp(-0.5)) * math.Exp(-0.5) / (1 - math.Exp(-1))
	require.InDelta(t, want, tr.st.Uptime, 0.01)
}

func TestTrackerRestoredFromStore(t *testing.T) {
	t.Parallel()
	cfg := probeConfig(t)
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	stored := storage.AgentStatus{
		Health:      storage.HealthUnhealthy,
		Reason:      "3 or more consecutive health probe failures: http://x/health answered HTTP 500",
		LastProbeAt: now.Add(-time.Second), ProbesTotal: 10, ProbesOK: 7, LatencyMS: 12, Uptime: 0.9,
	}
	tr := newTracker(stored, true, now, cfg)
	require.False(t, tr.evaluate(now, cfg), "restoring changes neither health nor reason")
	require.Equal(t, stored.Health, tr.st.Health)
	require.Equal(t, stored.Reason, tr.st.Reason)
	require.False(t, tr.persistDue(now, time.Hour), "nothing to write back")
	in := tr.rankInputs(50)
	require.InDelta(t, 0.7, in.success, 1e-9)
	require.InDelta(t, 0.9, in.uptime, 1e-9)
	require.True(t, in.hasLatency)
}

func TestEndpointChangeResetsProbes(t *testing.T) {
	t.Parallel()
	failing, passing := newFlakyAgent(t), newFlakyAgent(t)
	failing.mode.Store(answerError)
	f := newFixture(t, probeConfig(t))
	m := spec{name: "moving", health: "/health"}.yaml()
	id := f.register(t, m, failing.srv.URL)
	for range 3 {
		f.probeRound(t)
	}
	require.Equal(t, storage.HealthUnhealthy, f.status(t, id).Health)

	_, err := f.svc.Update(t.Context(), id, RegisterRequest{Manifest: []byte(m), Endpoint: passing.srv.URL})
	require.NoError(t, err)
	require.Equal(t, storage.HealthUnknown, f.status(t, id).Health, "old probe evidence described another endpoint")
	f.svc.checkHealth(t.Context()) // due at once, without waiting an interval
	f.svc.probes.Wait()
	require.Equal(t, storage.HealthHealthy, f.status(t, id).Health)
}

func TestStopFlushesUnsavedStatus(t *testing.T) {
	t.Parallel()
	f := newFixture(t, testConfig(t))
	id := f.register(t, spec{name: "flushed"}.yaml(), "")
	_, err := f.svc.Heartbeat(t.Context(), id, Heartbeat{}) // health change: saved at once
	require.NoError(t, err)
	f.clock.Advance(time.Second)
	_, err = f.svc.Heartbeat(t.Context(), id, Heartbeat{}) // same health: saved later
	require.NoError(t, err)
	a, err := f.store.Get(t.Context(), id)
	require.NoError(t, err)
	require.NotEqual(t, f.clock.Now(), a.Status.LastHeartbeatAt)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.NoError(t, f.svc.Run(ctx))
	a, err = f.store.Get(t.Context(), id)
	require.NoError(t, err)
	require.True(t, f.clock.Now().Equal(a.Status.LastHeartbeatAt), "stopping saves the last heartbeat")
}
