package discovery

import (
	"slices"

	"github.com/ossa-platform/ossa/internal/manifest"
	"github.com/ossa-platform/ossa/internal/storage"
)

// Discovery result sizes.
const (
	defaultDiscoverLimit = 10
	maxDiscoverLimit     = 500
)

// Query asks for the agents best able to do something.
type Query struct {
	// Capabilities requires every listed capability (exact match); empty
	// matches every agent.
	Capabilities []string
	// Tags requires every listed tag (metadata.tags or UADP tags).
	Tags []string
	// MinTier requires the verified tier (TierReached) at or above it; empty
	// does not filter.
	MinTier manifest.Tier
	// Limit caps the results: 0 or less means 10, more than 500 means 500.
	Limit int
	// IncludeUnhealthy also returns unhealthy and unknown agents, ranked
	// below the rest. By default only healthy and degraded agents match.
	IncludeUnhealthy bool
}

// DiscoverQuery is Query under the name the client API uses.
type DiscoverQuery = Query

// Ranked is an agent with its discovery score (see score); higher is better.
type Ranked struct {
	storage.Agent
	Score float64 `json:"score"`
}

func (q Query) limit() int {
	switch {
	case q.Limit <= 0:
		return defaultDiscoverLimit
	case q.Limit > maxDiscoverLimit:
		return maxDiscoverLimit
	}
	return q.Limit
}

// discover returns the best q.limit() agents matching q, best first, and how
// many matched in all. It reads only memory: it intersects the sorted slot
// postings of the requested capabilities and tags, smallest first, filters
// the survivors on the compact hot records, and keeps the best in a bounded
// heap, so its cost grows with the rarest requirement, not the registry, and
// only the returned agents are dereferenced.
func (x *index) discover(q Query) ([]Ranked, int) {
	minRank := int8(q.MinTier.Rank())
	maxSeverity := int8(severity(storage.HealthDegraded))
	if q.IncludeUnhealthy {
		maxSeverity = int8(severity(storage.HealthUnhealthy))
	}
	x.mu.RLock()
	defer x.mu.RUnlock()

	candidates, ok := x.candidates(q)
	if !ok {
		return []Ranked{}, 0
	}
	top := topK{k: q.limit(), slots: x.slots}
	total := 0
	for _, slot := range candidates {
		h := &x.hot[slot]
		if h.severity > maxSeverity || h.tierRank < minRank {
			continue
		}
		total++
		top.offer(candidate{slot: slot, score: h.score})
	}
	// Sort the small candidates, not the large results.
	slices.SortFunc(top.heap, func(a, b candidate) int {
		if top.before(a, b) {
			return -1
		}
		return 1 // slots are distinct, so no two candidates are equal
	})
	out := make([]Ranked, len(top.heap))
	for i, c := range top.heap {
		out[i] = Ranked{Agent: cloneAgent(&x.slots[c.slot].agent), Score: c.score}
	}
	return out, total
}

// candidates returns the slots having every requested capability and tag,
// or false when one of them has no agent at all. The result may be a
// posting itself: callers must not modify it.
func (x *index) candidates(q Query) (posting, bool) {
	if len(q.Capabilities)+len(q.Tags) == 0 {
		return x.all, true
	}
	lists := make([]posting, 0, len(q.Capabilities)+len(q.Tags))
	for _, src := range []struct {
		keys     []string
		postings map[string]*posting
	}{{q.Capabilities, x.byCap}, {q.Tags, x.byTag}} {
		for _, k := range src.keys {
			p, ok := src.postings[k]
			if !ok {
				return nil, false
			}
			lists = append(lists, *p)
		}
	}
	slices.SortFunc(lists, func(a, b posting) int { return len(a) - len(b) })
	out := lists[0]
	for _, other := range lists[1:] {
		if len(out) == 0 {
			break
		}
		out = intersect(out, other)
	}
	return out, true
}

// intersect returns the slots in both sorted postings, in a new slice.
func intersect(a, b posting) posting {
	out := make(posting, 0, min(len(a), len(b)))
	for i, j := 0, 0; i < len(a) && j < len(b); {
		switch {
		case a[i] < b[j]:
			i++
		case a[i] > b[j]:
			j++
		default:
			out = append(out, a[i])
			i++
			j++
		}
	}
	return out
}

// candidate is a match awaiting ranking.
type candidate struct {
	slot  uint32
	score float64
}

// topK keeps the k best candidates seen. heap is a binary min-heap by rank:
// the worst kept candidate is at the root, so a better newcomer replaces it
// in O(log k).
type topK struct {
	k     int
	slots []*entry // to break score ties by ID
	heap  []candidate
}

func (t *topK) offer(c candidate) {
	if len(t.heap) < t.k {
		t.heap = append(t.heap, c)
		t.up(len(t.heap) - 1)
		return
	}
	if !t.before(c, t.heap[0]) {
		return
	}
	t.heap[0] = c
	t.down(0)
}

// before reports whether a ranks before b in results (see better).
func (t *topK) before(a, b candidate) bool {
	if a.score != b.score {
		return a.score > b.score
	}
	return better(a.score, t.slots[a.slot].agent.ID, b.score, t.slots[b.slot].agent.ID)
}

func (t *topK) up(i int) {
	for i > 0 {
		parent := (i - 1) / 2
		if !t.before(t.heap[parent], t.heap[i]) {
			return
		}
		t.heap[parent], t.heap[i] = t.heap[i], t.heap[parent]
		i = parent
	}
}

func (t *topK) down(i int) {
	n := len(t.heap)
	for {
		worst := i
		for _, c := range []int{2*i + 1, 2*i + 2} {
			if c < n && t.before(t.heap[worst], t.heap[c]) {
				worst = c
			}
		}
		if worst == i {
			return
		}
		t.heap[i], t.heap[worst] = t.heap[worst], t.heap[i]
		i = worst
	}
}
