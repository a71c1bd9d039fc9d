package taskagent

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/riverqueue/river/rivertype"
	"github.com/spf13/pflag"
	"github.com/stretchr/testify/require"

	"github.com/ossa-platform/ossa/internal/storage"
)

func TestAdjustedScore(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name           string
		score          float64
		running, limit int
		want           float64
	}{
		{"idle", 3.8, 0, 0, 3.8},
		{"unlimited, 4 running: half loaded", 3.8, 4, 0, 3 + 0.8*0.75},
		{"limited, half full", 3.8, 1, 2, 3 + 0.8*0.75},
		{"limited, full", 3.8, 2, 2, 3 + 0.8*0.5},
		{"over the limit counts as full", 3.8, 5, 2, 3 + 0.8*0.5},
		{"degraded stays degraded", 2.9, 1000, 0, 2 + 0.9*(1-0.5*1000.0/1004)},
	}
	for _, tc := range tests {
		require.InDelta(t, tc.want, adjustedScore(tc.score, tc.running, tc.limit), 1e-9, tc.name)
	}
	require.Greater(t, adjustedScore(3.01, 1000, 1), adjustedScore(2.99, 0, 0), "load never lowers an agent below the health band under it")
}

func TestRankAndPreferUntried(t *testing.T) {
	t.Parallel()
	cand := func(id string, adjusted float64, running int) candidate {
		return candidate{agent: storage.Agent{ID: id}, adjusted: adjusted, running: running}
	}
	cands := []candidate{cand("c", 3.5, 0), cand("b", 3.7, 2), cand("a", 3.5, 0), cand("d", 3.5, 1)}
	rank(cands)
	var order []string
	for _, c := range cands {
		order = append(order, c.agent.ID)
	}
	require.Equal(t, []string{"b", "a", "c", "d"}, order, "score, then fewer running, then ID")

	fresh := preferUntried(cands, []string{"b", "a"})
	require.Len(t, fresh, 2)
	require.Equal(t, "c", fresh[0].agent.ID)
	require.Len(t, preferUntried(cands[:1], []string{"b"}), 1, "a failed agent is used when it is the only one")
	require.Len(t, cands, 4, "the input is not changed")
}

func TestConcurrencyLimitFromManifest(t *testing.T) {
	t.Parallel()
	var l limits
	a := storage.Agent{ID: "a", Revision: 1, Manifest: json.RawMessage(`{"spec": {"performance": {"concurrency": {"max_concurrent": 3}}}}`)}
	require.Equal(t, 3, l.of(&a))
	a.Manifest = json.RawMessage(`{"spec": {}}`)
	require.Equal(t, 3, l.of(&a), "cached by revision")
	a.Revision = 2
	require.Equal(t, 0, l.of(&a), "a new revision is read again")
	require.Equal(t, 0, l.of(&storage.Agent{ID: "b"}), "no manifest, no limit")
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, r := range []float64{0, 0.999999} {
		b := backoff{base: time.Second, limit: 10 * time.Second, now: func() time.Time { return now }, rand: func() float64 { return r }}
		for attempt, full := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 4: 8 * time.Second, 5: 10 * time.Second, 60: 10 * time.Second} {
			d := b.delay(attempt)
			require.GreaterOrEqual(t, d, full/2, "attempt %d", attempt)
			require.LessOrEqual(t, d, full, "attempt %d", attempt)
		}
	}
	b := newBackoff(time.Second, time.Minute)
	b.now = func() time.Time { return now }
	next := b.NextRetry(&rivertype.JobRow{Attempt: 3})
	require.WithinRange(t, next, now.Add(2*time.Second), now.Add(4*time.Second))
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	var c Config
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	c.RegisterFlags(fs, "task-agent.")
	require.NoError(t, fs.Parse(nil))
	require.NoError(t, c.Validate(), "the defaults are valid")
	require.Equal(t, 25*time.Second, c.MaxClaimWait)

	bad := c
	bad.URL, bad.Workers, bad.RetryBase, bad.DefaultMaxAttempts, bad.FetchCooldown = "ossa-task-agent", 0, time.Hour, 11, 2*time.Second
	err := bad.Validate()
	require.Error(t, err)
	for _, want := range []string{"url", "workers", "retry_base", "default_max_attempts", "fetch_cooldown"} {
		require.ErrorContains(t, err, want)
	}
}
