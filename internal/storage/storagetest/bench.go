package storagetest

import (
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ossa-platform/ossa/internal/storage"
)

// BenchCreateAgent measures registration: one Create of a new agent per
// iteration, one goroutine.
func BenchCreateAgent(b *testing.B, open func(b *testing.B) storage.Store) {
	s := setup(b, open)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		a := newAgent(fmt.Sprintf("bench-%09d", i), "1")
		a.Capabilities = []string{"search", "summarize", fmt.Sprintf("cap-%03d", i%100)}
		if err := s.Agents().Create(b.Context(), a); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// Shape of the BenchListByCapability registry.
const (
	benchAgents       = 10_000
	benchCapabilities = 100 // cap-000…cap-099, three per agent
)

// BenchListByCapability measures discovery's hot query, a first page of
// agents by capability, over 10,000 agents registered before the timer
// starts. Sub-benchmarks: a capability 3% of agents have, two capabilities
// 1% have both of (all-of), one every agent has, and one none has.
//
// analyze, if not nil, runs once the agents are registered. It stands in for
// the statistics upkeep a long-running database gets (PostgreSQL's
// autovacuum ANALYZE), without which a planner costs a fresh table blind.
func BenchListByCapability(b *testing.B, open func(b *testing.B) storage.Store, analyze func(b *testing.B, s storage.Store)) {
	s := setup(b, open)
	seed(b, s)
	if analyze != nil {
		analyze(b, s)
	}
	cases := []struct {
		name string
		caps []string
	}{
		{"3pct", []string{"cap-007"}},
		{"allof-1pct", []string{"cap-007", "cap-008"}},
		{"everyone", []string{"search"}},
		{"nobody", []string{"cap-missing"}},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			f := storage.AgentFilter{Capabilities: tc.caps, Limit: 50}
			page, err := s.Agents().List(b.Context(), f)
			require.NoError(b, err)
			b.ReportMetric(float64(len(page.Agents)), "agents/page")
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Agents().List(b.Context(), f); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// seed registers benchAgents agents: agent i has "search" and cap-(i%100),
// cap-((i+1)%100), cap-((i*7)%100).
func seed(b *testing.B, s storage.Store) {
	b.Helper()
	const workers = 4
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < benchAgents; i += workers {
				a := newAgent(fmt.Sprintf("seed-%05d", i), "1")
				a.Capabilities = []string{
					"search",
					fmt.Sprintf("cap-%03d", i%benchCapabilities),
					fmt.Sprintf("cap-%03d", (i+1)%benchCapabilities),
					fmt.Sprintf("cap-%03d", (i*7)%benchCapabilities),
				}
				if err := s.Agents().Create(b.Context(), a); err != nil {
					errs[w] = err
					return
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(b, err, "seed")
	}
}
