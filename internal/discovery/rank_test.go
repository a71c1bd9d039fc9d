package discovery

import (
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ossa-platform/ossa/internal/storage"
)

func TestScoreOrdering(t *testing.T) {
	t.Parallel()
	perfect := rankInputs{health: storage.HealthHealthy, uptime: 1, hasUptime: true, success: 1, hasSuccess: true,
		latencyMS: 0, hasLatency: true, priority: 100}
	worst := rankInputs{health: storage.HealthHealthy, uptime: 0, hasUptime: true, success: 0, hasSuccess: true,
		latencyMS: 1e9, hasLatency: true, priority: 0, load: 1}
	with := func(base rankInputs, change func(*rankInputs)) rankInputs {
		change(&base)
		return base
	}
	for _, tc := range []struct {
		name          string
		better, worse rankInputs
	}{
		{"the worst healthy beats the best degraded", worst, with(perfect, func(in *rankInputs) { in.health = storage.HealthDegraded })},
		{"the worst degraded beats the best unknown",
			with(worst, func(in *rankInputs) { in.health = storage.HealthDegraded }),
			with(perfect, func(in *rankInputs) { in.health = storage.HealthUnknown })},
		{"the worst unknown beats the best unhealthy",
			with(worst, func(in *rankInputs) { in.health = storage.HealthUnknown }),
			with(perfect, func(in *rankInputs) { in.health = storage.HealthUnhealthy })},
		{"higher uptime", perfect, with(perfect, func(in *rankInputs) { in.uptime = 0.9 })},
		{"higher success rate", perfect, with(perfect, func(in *rankInputs) { in.success = 0.9 })},
		{"lower latency", with(perfect, func(in *rankInputs) { in.latencyMS = 10 }), with(perfect, func(in *rankInputs) { in.latencyMS = 200 })},
		{"higher priority", perfect, with(perfect, func(in *rankInputs) { in.priority = 95 })},
		{"lower load", perfect, with(perfect, func(in *rankInputs) { in.load = 0.5 })},
		{"proven beats unproven", perfect, rankInputs{health: storage.HealthHealthy, priority: 100}},
	} {
		require.Greater(t, score(tc.better), score(tc.worse), tc.name)
	}
	require.InDelta(t, 3+0.99*0.5, score(rankInputs{health: storage.HealthHealthy, priority: 50}), 1e-9,
		"an agent with no evidence sits mid-band")
	require.Less(t, score(perfect), 4.0)
}

func TestDiscoverRanking(t *testing.T) {
	t.Parallel()
	f := newFixture(t, testConfig(t))
	reg := func(name string, priority int) string {
		return f.register(t, spec{name: name, caps: []string{"x"}, priority: priority}.yaml(), "")
	}
	low := reg("low", 10)
	high := reg("high", 90)
	tieA := reg("tie-a", 50)
	tieB := reg("tie-b", 50)
	busy := reg("busy", 90)
	sick := reg("sick", 100)
	silent := reg("silent", 100)
	one := 1.0
	for id, hb := range map[string]Heartbeat{
		low: {}, high: {}, tieA: {}, tieB: {}, busy: {Load: &one}, sick: {Status: storage.HealthDegraded},
	} {
		_, err := f.svc.Heartbeat(t.Context(), id, hb)
		require.NoError(t, err)
	}
	ties := []string{tieA, tieB}
	slices.Sort(ties)

	got := f.svc.Discover(t.Context(), Query{Capabilities: []string{"x"}, IncludeUnhealthy: true})
	var order []string
	for i, r := range got {
		order = append(order, r.ID)
		if i > 0 {
			require.LessOrEqual(t, r.Score, got[i-1].Score)
		}
	}
	// busy: priority 90 but fully loaded, so its quality drops by a quarter,
	// below the idle priority-50 pair.
	require.Equal(t, []string{high, ties[0], ties[1], busy, low, sick, silent}, order)

	// Limit keeps the best, and the answer does not depend on the limit.
	for k := 1; k <= len(order); k++ {
		top := f.svc.Discover(t.Context(), Query{Capabilities: []string{"x"}, IncludeUnhealthy: true, Limit: k})
		require.Len(t, top, k)
		for i := range top {
			require.Equal(t, order[i], top[i].ID, fmt.Sprintf("limit %d", k))
		}
	}
}

func TestDiscoverReturnsCopies(t *testing.T) {
	t.Parallel()
	f := newFixture(t, testConfig(t))
	id := f.register(t, spec{name: "copy", caps: []string{"x"}}.yaml(), "")
	got := f.svc.Discover(t.Context(), Query{IncludeUnhealthy: true})
	require.Len(t, got, 1)
	got[0].Capabilities[0] = "mutated"
	a, err := f.svc.Get(t.Context(), id)
	require.NoError(t, err)
	require.Equal(t, []string{"x"}, a.Capabilities)
}
