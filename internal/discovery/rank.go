package discovery

import (
	"math"

	"github.com/ossa-platform/ossa/internal/storage"
)

// Weights of the quality term of the score. They sum to 1 so quality stays in
// [0, 1] and can never lift an agent into the next health band.
const (
	weightUptime   = 0.35
	weightSuccess  = 0.25
	weightLatency  = 0.20
	weightPriority = 0.20
	// loadPenalty is the share of quality a fully loaded agent (load 1) loses.
	loadPenalty = 0.25
	// latencyHalfScoreMS is the probe latency at which the latency term is 0.5.
	latencyHalfScoreMS = 100.0
	// neutral stands in for a figure discovery has no evidence for yet, so an
	// agent is neither rewarded nor punished for being new.
	neutral = 0.5
	// defaultPriority is the UADP priority of a manifest that sets none.
	defaultPriority = 50
	// bandGap scales quality so the best agent of a band still scores below
	// the worst of the band above, even after floating-point rounding.
	bandGap = 0.99
)

// rankInputs are the per-agent figures the score is computed from. A has*
// flag is false while discovery has no evidence for that figure.
type rankInputs struct {
	health     storage.Health
	uptime     float64
	hasUptime  bool
	success    float64
	hasSuccess bool
	latencyMS  float64
	hasLatency bool
	// priority is the UADP priority on its 0–100 scale.
	priority float64
	// load is the agent's self-reported utilisation, 0..1.
	load float64
}

// score ranks an agent for discovery. It depends only on the agent, never on
// the query, so the index computes it when the agent's evidence changes and
// queries only compare numbers:
//
//	score   = band(health) + 0.99 · quality
//	band    = healthy 3, degraded 2, unknown 1, unhealthy 0
//	quality = (0.35·U + 0.25·S + 0.20·L + 0.20·P) · (1 − 0.25·load), in [0, 1]
//	U       = uptime, the time-weighted fraction of observed time the agent was up (0..1)
//	S       = probe success rate, an EWMA over probes (0..1)
//	L       = 1 / (1 + latency_ms/100), from the probe latency EWMA (1 at 0 ms, 0.5 at 100 ms)
//	P       = UADP priority (spec.discovery.uadp.priority) clamped to 0..100, divided by 100; 50 when unset
//	load    = the load last reported by heartbeat, clamped to 0..1; 0 when never reported
//
// U, S and L are 0.5 while there is no evidence for them. Because 0.99 ·
// quality is below 1, every healthy agent outranks every degraded one, and
// so on down the bands. Equal scores are ordered by ID (see better), so results are
// deterministic.
func score(in rankInputs) float64 {
	u, s, l := neutral, neutral, neutral
	if in.hasUptime {
		u = clamp01(in.uptime)
	}
	if in.hasSuccess {
		s = clamp01(in.success)
	}
	if in.hasLatency {
		l = 1 / (1 + math.Max(in.latencyMS, 0)/latencyHalfScoreMS)
	}
	p := math.Min(math.Max(in.priority, 0), 100) / 100
	quality := weightUptime*u + weightSuccess*s + weightLatency*l + weightPriority*p
	quality *= 1 - loadPenalty*clamp01(in.load)
	return band(in.health) + bandGap*quality
}

// band is the integer part of the score for each health.
func band(h storage.Health) float64 {
	switch h {
	case storage.HealthHealthy:
		return 3
	case storage.HealthDegraded:
		return 2
	case storage.HealthUnknown:
		return 1
	default:
		return 0
	}
}

// better reports whether (scoreA, idA) ranks before (scoreB, idB): higher
// score first, then lower ID.
func better(scoreA float64, idA string, scoreB float64, idB string) bool {
	if scoreA != scoreB {
		return scoreA > scoreB
	}
	return idA < idB
}

func clamp01(v float64) float64 {
	return math.Min(math.Max(v, 0), 1)
}
