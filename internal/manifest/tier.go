package manifest

import "fmt"

// Tier is an OSSA conformance tier. The tiers are ordered:
// core < governed < advanced.
type Tier string

// The conformance tiers of OSSA 0.1.8.
const (
	TierCore     Tier = "core"
	TierGoverned Tier = "governed"
	TierAdvanced Tier = "advanced"
)

// tiers lists the known tiers in ascending order.
var tiers = []Tier{TierCore, TierGoverned, TierAdvanced}

// Rank orders tiers: core is 1, governed 2, advanced 3 and any unknown
// value (including the empty tier) 0, so "reaches at least t" is
// reached.Rank() >= t.Rank().
func (t Tier) Rank() int {
	switch t {
	case TierCore:
		return 1
	case TierGoverned:
		return 2
	case TierAdvanced:
		return 3
	default:
		return 0
	}
}

// ParseTier returns the tier named s. Names are case-sensitive, as in the
// manifest schema.
func ParseTier(s string) (Tier, error) {
	t := Tier(s)
	if t.Rank() == 0 {
		return "", fmt.Errorf("unknown conformance tier %q: want core, governed or advanced", s)
	}
	return t, nil
}
