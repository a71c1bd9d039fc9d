package discovery

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ossa-platform/ossa/internal/manifest"
	"github.com/ossa-platform/ossa/internal/storage"
)

// benchRegistry fills an index with n agents spread over caps capabilities
// (three each), five tags and the three tiers, with a mix of health states
// and evidence, and returns a service around it.
func benchRegistry(b *testing.B, n, caps int) *Service {
	b.Helper()
	cfg := testConfig(b)
	svc, err := New(context.Background(), cfg, Deps{Agents: newStore(b)})
	require.NoError(b, err)
	rng := rand.New(rand.NewPCG(1, 2))
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	tiers := []string{"core", "governed", "advanced"}
	for i := range n {
		var agentCaps []string
		for len(agentCaps) < 3 {
			c := fmt.Sprintf("cap-%02d", rng.IntN(caps))
			if !slices.Contains(agentCaps, c) {
				agentCaps = append(agentCaps, c)
			}
		}
		doc, err := json.Marshal(map[string]any{"spec": map[string]any{
			"discovery": map[string]any{"uadp": map[string]any{"priority": rng.IntN(101)}},
		}})
		require.NoError(b, err)
		a := storage.Agent{
			ID:           fmt.Sprintf("agent-%05d", i),
			Name:         fmt.Sprintf("agent-%05d", i),
			Version:      "1.0.0",
			Tier:         tiers[i%3],
			TierReached:  tiers[i%3],
			Class:        "nlp",
			Capabilities: agentCaps,
			Tags:         []string{fmt.Sprintf("tag-%d", i%5)},
			Protocol:     ProtocolHTTP,
			Manifest:     doc,
			Status:       storage.AgentStatus{Health: storage.HealthUnknown},
		}
		svc.idx.put(a, now, cfg)
		switch i % 10 {
		case 0: // unknown: never heard from
		case 1:
			svc.idx.heartbeat(a.ID, now, storage.HealthDegraded, rng.Float64(), cfg)
		default:
			svc.idx.heartbeat(a.ID, now, storage.HealthHealthy, rng.Float64(), cfg)
		}
	}
	return svc
}

// BenchmarkDiscover10k measures discovery queries over 10,000 agents and 50
// capabilities (about 600 agents per capability) and reports the latency
// distribution of single queries.
func BenchmarkDiscover10k(b *testing.B) {
	svc := benchRegistry(b, 10_000, 50)
	ctx := context.Background()
	for _, bc := range []struct {
		name  string
		query func(i int) Query
	}{
		{"one-capability", func(i int) Query {
			return Query{Capabilities: []string{fmt.Sprintf("cap-%02d", i%50)}}
		}},
		{"two-capabilities", func(i int) Query {
			return Query{Capabilities: []string{fmt.Sprintf("cap-%02d", i%50), fmt.Sprintf("cap-%02d", (i+7)%50)}}
		}},
		{"capability-tier-tag", func(i int) Query {
			return Query{Capabilities: []string{fmt.Sprintf("cap-%02d", i%50)}, MinTier: manifest.TierGoverned,
				Tags: []string{fmt.Sprintf("tag-%d", i%5)}}
		}},
		{"all-agents", func(int) Query { return Query{} }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			queries := make([]Query, 1024)
			for i := range queries {
				queries[i] = bc.query(i)
			}
			var samples []time.Duration
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				start := time.Now()
				got := svc.Discover(ctx, queries[i%len(queries)])
				samples = append(samples, time.Since(start))
				if len(got) == 0 {
					b.Fatal("no agents found")
				}
			}
			reportPercentiles(b, samples)
		})
	}
}

// reportPercentiles adds p50 and p99 of the samples to the benchmark line.
func reportPercentiles(b *testing.B, samples []time.Duration) {
	if len(samples) == 0 {
		return
	}
	slices.Sort(samples)
	at := func(p float64) float64 { return float64(samples[int(p*float64(len(samples)-1))].Nanoseconds()) }
	b.ReportMetric(at(0.50), "p50-ns")
	b.ReportMetric(at(0.99), "p99-ns")
}

// BenchmarkRegister measures registration through validation, the SQLite
// store and the index.
func BenchmarkRegister(b *testing.B) {
	svc, err := New(context.Background(), testConfig(b), Deps{Agents: newStore(b)})
	require.NoError(b, err)
	ctx := context.Background()
	var samples []time.Duration
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		m := []byte(spec{name: fmt.Sprintf("bench-%d", i), caps: []string{"summarization", "translation"},
			tags: []string{"nlp"}, tier: "governed"}.yaml())
		start := time.Now()
		if _, err := svc.Register(ctx, RegisterRequest{Manifest: m, Endpoint: "http://agent.local:8080"}); err != nil {
			b.Fatal(err)
		}
		samples = append(samples, time.Since(start))
	}
	reportPercentiles(b, samples)
}
