package manifest

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestTierRank(t *testing.T) {
	t.Parallel()
	tests := []struct {
		tier Tier
		want int
	}{
		{TierCore, 1},
		{TierGoverned, 2},
		{TierAdvanced, 3},
		{"", 0},
		{"gold", 0},
		{"Core", 0},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, tt.tier.Rank(), "tier %q", tt.tier)
	}
}

func TestParseTier(t *testing.T) {
	t.Parallel()
	for _, tier := range []Tier{TierCore, TierGoverned, TierAdvanced} {
		got, err := ParseTier(string(tier))
		require.NoError(t, err)
		require.Equal(t, tier, got)
	}
	for _, bad := range []string{"", "gold", "CORE", " core"} {
		_, err := ParseTier(bad)
		require.Error(t, err, "input %q", bad)
	}
}
