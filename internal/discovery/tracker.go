package discovery

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/ossa-platform/ossa/internal/storage"
)

const (
	// uptimeWindow is the time constant of the uptime average: evidence
	// from an hour ago weighs 1/e of evidence from now.
	uptimeWindow = time.Hour
	// restoredUptimeWeight is how much observed time a stored uptime counts
	// for when an agent is loaded from the store, so a restart neither
	// forgets an agent's record nor lets it outweigh fresh evidence for long.
	restoredUptimeWeight = 15 * time.Minute
	// successAlpha and latencyAlpha are the EWMA weights of the newest probe.
	successAlpha = 0.1
	latencyAlpha = 0.2
)

// Reasons that do not depend on the evidence. Reasons name the evidence,
// never a duration that grows, so they change only when the evidence does.
const (
	reasonNoEvidence = "no heartbeat or health probe yet"
	reasonHeartbeat  = "heartbeat received"
	reasonDegraded   = "agent reported degraded in its heartbeat"
	reasonProbeOK    = "health probe succeeded"
	// probeFailuresSep ends the counting part of a probe-failure reason;
	// the probe error follows it.
	probeFailuresSep = " health probe failures: "
)

// tracker holds the health evidence of one agent and derives its status. It
// is a plain value guarded by the index lock; its methods do no I/O. The
// model (docs/discovery.md, "Health"):
//
//   - A heartbeat is fresh for HeartbeatTTL. While fresh it says healthy, or
//     degraded if the agent said so.
//   - Once an agent has been probed, the probe verdict is healthy after a
//     success, degraded after 1..UnhealthyAfter-1 consecutive failures and
//     unhealthy after UnhealthyAfter or more.
//   - Health is the worse of the fresh heartbeat's and the probe's verdicts.
//     With neither, an agent whose last heartbeat expired is unhealthy and
//     one never heard from is unknown.
type tracker struct {
	// st is the published status.
	st storage.AgentStatus
	// hbClaim is what the last heartbeat said: healthy or degraded.
	hbClaim storage.Health
	// load is the utilisation the last heartbeat reported, 0..1.
	load float64

	// probed is true once a probe verdict exists for the current probe URL.
	probed       bool
	consecFail   int
	lastProbeErr string
	success      float64
	hasSuccess   bool
	hasLatency   bool
	// probing is true while a probe is in flight; nextProbeAt is when the
	// next one is due.
	probing     bool
	nextProbeAt time.Time
	// hbFresh is whether the heartbeat was fresh at the last evaluation.
	hbFresh bool

	// upHealthy and upObserved are exponentially decayed seconds of up time
	// and of observed time; uptime is their ratio. upAt is when they were
	// last advanced.
	upHealthy, upObserved float64
	upAt                  time.Time

	// version counts status changes; persistedVersion is the version last
	// written to the store, persisted that status and persistedAt when.
	version          uint64
	persistedVersion uint64
	persisted        storage.AgentStatus
	persistedAt      time.Time
}

// newTracker seeds a tracker from a stored status, which is what the store
// holds (so nothing needs persisting yet). probeable says whether this
// process will probe the agent; only then does the stored health count as
// a probe verdict.
func newTracker(stored storage.AgentStatus, probeable bool, now time.Time, cfg Config) tracker {
	t := tracker{st: stored, hbClaim: claimOf(stored), upAt: now, persisted: stored, persistedAt: now}
	if !stored.Health.Valid() {
		t.st.Health = storage.HealthUnknown
	}
	if stored.ProbesTotal > 0 {
		t.success = float64(stored.ProbesOK) / float64(stored.ProbesTotal)
		t.hasSuccess = true
		t.hasLatency = stored.LatencyMS > 0
	}
	if stored.ProbesTotal > 0 || !stored.LastHeartbeatAt.IsZero() {
		t.upObserved = restoredUptimeWeight.Seconds()
		t.upHealthy = clamp01(stored.Uptime) * t.upObserved
	}
	if probeable && !stored.LastProbeAt.IsZero() {
		// Rebuild the probe verdict the stored status implies, so a restart
		// does not turn a failing agent healthy before it is probed again.
		t.probed = true
		t.nextProbeAt = stored.LastProbeAt.Add(cfg.ProbeInterval)
		if msg, failing := probeFailureOf(stored.Reason); failing {
			t.lastProbeErr = msg
			t.consecFail = 1
			if stored.Health == storage.HealthUnhealthy {
				t.consecFail = cfg.UnhealthyAfter
			}
		}
	}
	return t
}

// claimOf is what the last heartbeat behind a stored status said, as far as
// the status shows it.
func claimOf(st storage.AgentStatus) storage.Health {
	if st.Reason == reasonDegraded {
		return storage.HealthDegraded
	}
	return storage.HealthHealthy
}

// heartbeat records a heartbeat received at now.
func (t *tracker) heartbeat(now time.Time, claim storage.Health, load float64) {
	t.advanceUptime(now)
	t.st.LastHeartbeatAt = now
	t.hbClaim = claim
	t.load = clamp01(load)
	t.version++
}

// probeResult records the outcome of a probe that finished at now.
func (t *tracker) probeResult(now time.Time, ok bool, latency time.Duration, errMsg string, cfg Config) {
	t.advanceUptime(now)
	t.probing = false
	t.nextProbeAt = now.Add(cfg.ProbeInterval)
	t.probed = true
	t.st.LastProbeAt = now
	t.st.ProbesTotal++
	sample := 0.0
	if ok {
		sample = 1
		t.st.ProbesOK++
		t.consecFail = 0
		t.lastProbeErr = ""
		ms := float64(latency) / float64(time.Millisecond)
		if t.hasLatency {
			t.st.LatencyMS += latencyAlpha * (ms - t.st.LatencyMS)
		} else {
			t.st.LatencyMS, t.hasLatency = ms, true
		}
	} else {
		t.consecFail++
		t.lastProbeErr = errMsg
	}
	if t.hasSuccess {
		t.success += successAlpha * (sample - t.success)
	} else {
		t.success, t.hasSuccess = sample, true
	}
	t.version++
}

// resetProbes forgets probe evidence that described another probe URL.
func (t *tracker) resetProbes(now time.Time) {
	t.probed = false
	t.consecFail = 0
	t.lastProbeErr = ""
	t.nextProbeAt = now
	t.version++
}

// mergeStored folds in evidence another replica wrote to the store: a newer
// heartbeat. Probe evidence is not merged; every replica probes for itself.
// It reports whether the status changed.
func (t *tracker) mergeStored(stored storage.AgentStatus, now time.Time, cfg Config) bool {
	if !stored.LastHeartbeatAt.After(t.st.LastHeartbeatAt) {
		return false
	}
	clean := t.version == t.persistedVersion
	t.advanceUptime(now)
	t.st.LastHeartbeatAt = stored.LastHeartbeatAt
	t.hbClaim = claimOf(stored)
	t.version++
	t.evaluate(now, cfg)
	// The store already holds this heartbeat; only a health change made
	// here, or changes that were unsaved before, need writing back.
	if clean && t.st.Health == t.persisted.Health {
		t.persisted, t.persistedVersion = t.st, t.version
	}
	return true
}

// evaluate derives health and reason from the evidence at now and reports
// whether they changed.
func (t *tracker) evaluate(now time.Time, cfg Config) bool {
	t.advanceUptime(now)
	health, reason := t.verdict(now, cfg)
	if t.hasObserved() {
		t.st.Uptime = t.upHealthy / t.upObserved
	}
	if health == t.st.Health && reason == t.st.Reason {
		return false
	}
	if health == storage.HealthHealthy && t.st.Health != storage.HealthHealthy {
		t.st.HealthySince = now
	} else if health != storage.HealthHealthy {
		t.st.HealthySince = time.Time{}
	}
	t.st.Health, t.st.Reason = health, reason
	t.version++
	return true
}

// verdict applies the health model (see tracker).
func (t *tracker) verdict(now time.Time, cfg Config) (storage.Health, string) {
	hbSeen := !t.st.LastHeartbeatAt.IsZero()
	hbFresh := hbSeen && t.heartbeatFresh(now, cfg)
	t.hbFresh = hbFresh
	var probeHealth storage.Health
	var probeReason string
	if t.probed {
		probeHealth, probeReason = t.probeVerdict(cfg)
	}
	switch {
	case hbFresh && t.probed:
		hbHealth, hbReason := t.heartbeatVerdict()
		if severity(probeHealth) > severity(hbHealth) {
			return probeHealth, probeReason
		}
		return hbHealth, hbReason
	case hbFresh:
		return t.heartbeatVerdict()
	case t.probed:
		return probeHealth, probeReason
	case hbSeen:
		expired := t.st.LastHeartbeatAt.Add(cfg.HeartbeatTTL).UTC().Format(time.RFC3339)
		return storage.HealthUnhealthy, "heartbeat expired at " + expired
	default:
		return storage.HealthUnknown, reasonNoEvidence
	}
}

func (t *tracker) heartbeatFresh(now time.Time, cfg Config) bool {
	return now.Sub(t.st.LastHeartbeatAt) <= cfg.HeartbeatTTL
}

func (t *tracker) heartbeatVerdict() (storage.Health, string) {
	if t.hbClaim == storage.HealthDegraded {
		return storage.HealthDegraded, reasonDegraded
	}
	return storage.HealthHealthy, reasonHeartbeat
}

func (t *tracker) probeVerdict(cfg Config) (storage.Health, string) {
	switch {
	case t.consecFail == 0:
		return storage.HealthHealthy, reasonProbeOK
	case t.consecFail < cfg.UnhealthyAfter:
		return storage.HealthDegraded, fmt.Sprintf("%d of %d allowed consecutive%s%s",
			t.consecFail, cfg.UnhealthyAfter, probeFailuresSep, t.lastProbeErr)
	default:
		return storage.HealthUnhealthy, fmt.Sprintf("%d or more consecutive%s%s",
			cfg.UnhealthyAfter, probeFailuresSep, t.lastProbeErr)
	}
}

// probeFailureOf recovers the probe error from a stored reason, if the
// reason is a probe failure (see probeVerdict), so the reason rebuilt after
// a restart is the stored one rather than a nested copy.
func probeFailureOf(reason string) (string, bool) {
	_, msg, ok := strings.Cut(reason, probeFailuresSep)
	return msg, ok
}

// severity orders health from best (0) to worst.
func severity(h storage.Health) int {
	switch h {
	case storage.HealthHealthy:
		return 0
	case storage.HealthDegraded:
		return 1
	case storage.HealthUnknown:
		return 2
	default:
		return 3
	}
}

// advanceUptime accounts the time since upAt under the current health:
// healthy and degraded count as up, unhealthy as down, unknown is not
// observed at all. Both sums decay with uptimeWindow, so uptime is a
// time-weighted moving fraction that exactly integrates the health history.
func (t *tracker) advanceUptime(now time.Time) {
	if !now.After(t.upAt) {
		return
	}
	dt := now.Sub(t.upAt).Seconds()
	t.upAt = now
	if t.st.Health == storage.HealthUnknown || !t.st.Health.Valid() {
		return
	}
	tau := uptimeWindow.Seconds()
	decay := math.Exp(-dt / tau)
	gained := tau * (1 - decay) // ∫ e^{-(now-s)/τ} ds over the interval
	t.upObserved = t.upObserved*decay + gained
	t.upHealthy *= decay
	if t.st.Health == storage.HealthHealthy || t.st.Health == storage.HealthDegraded {
		t.upHealthy += gained
	}
}

func (t *tracker) hasObserved() bool { return t.upObserved > 0 }

// rankInputs returns the figures the score is computed from.
func (t *tracker) rankInputs(priority float64) rankInputs {
	in := rankInputs{
		health:     t.st.Health,
		success:    t.success,
		hasSuccess: t.hasSuccess,
		latencyMS:  t.st.LatencyMS,
		hasLatency: t.hasLatency,
		priority:   priority,
		load:       t.load,
	}
	if t.hasObserved() {
		in.uptime, in.hasUptime = t.upHealthy/t.upObserved, true
	}
	return in
}

// persistDue reports whether the status should be written to the store now:
// at once when health changed since the last write, otherwise once
// flushEvery has passed since it if anything else (reason, heartbeat time,
// probe figures) changed.
func (t *tracker) persistDue(now time.Time, flushEvery time.Duration) bool {
	if t.version == t.persistedVersion {
		return false
	}
	if t.st.Health != t.persisted.Health {
		return true
	}
	return now.Sub(t.persistedAt) >= flushEvery
}

// expiryPending reports whether a heartbeat that was fresh at the last
// evaluation has since expired, so evaluate would change something.
func (t *tracker) expiryPending(now time.Time, cfg Config) bool {
	return t.hbFresh && !t.heartbeatFresh(now, cfg)
}

// probeDue reports whether a probe should start at now.
func (t *tracker) probeDue(now time.Time) bool {
	return !t.probing && !now.Before(t.nextProbeAt)
}
