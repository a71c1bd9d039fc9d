package discovery

import (
	"bytes"
	"encoding/json"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/ossa-platform/ossa/internal/manifest"
	"github.com/ossa-platform/ossa/internal/storage"
)

// entry is one agent in the index: the stored agent with its live status,
// the derived fields discovery needs, and its health tracker.
type entry struct {
	// slot numbers the entry in index.slots and index.hot.
	slot uint32
	// agent is the stored agent; agent.Status is kept equal to tr.st.
	agent    storage.Agent
	tierRank int8
	// priority is the UADP priority, 0..100.
	priority float64
	// probeURL is the absolute URL of the agent's health endpoint, or "" when
	// it cannot be probed.
	probeURL string
	tr       tracker
	// seq is the index sequence number of the last local definition write.
	seq uint64
}

// hot holds what a query filters and ranks on, per slot, in one compact
// array: a query over thousands of candidates reads these 16-byte records
// instead of chasing a pointer to each entry.
type hot struct {
	// score is the agent's rank (see score), recomputed whenever its
	// evidence changes.
	score    float64
	severity int8 // severity(health)
	tierRank int8
}

// posting is a set of slots kept sorted, so that postings intersect by a
// linear merge over contiguous memory. New entries take increasing slots,
// so adding is usually an append.
type posting []uint32

func (p *posting) add(slot uint32) {
	if i, found := slices.BinarySearch(*p, slot); !found {
		*p = slices.Insert(*p, i, slot)
	}
}

func (p *posting) remove(slot uint32) {
	if i, found := slices.BinarySearch(*p, slot); found {
		*p = slices.Delete(*p, i, i+1)
	}
}

// index is the in-memory view of every agent that discovery queries read.
// Writes go to the store first and then here; a periodic full reload from
// the store (apply) brings in other replicas' writes. One RWMutex guards it:
// queries hold the read lock for microseconds; health updates take the
// write lock per agent, never while waiting on I/O.
type index struct {
	mu   sync.RWMutex
	byID map[string]*entry
	// slots and hot are indexed by entry slot; free lists slots of removed
	// entries for reuse.
	slots  []*entry
	hot    []hot
	free   []uint32
	all    posting
	byName map[string]*entry // name@version
	byCap  map[string]*posting
	byTag  map[string]*posting
	// seq numbers local definition writes; apply uses it to tell which
	// entries changed after its store snapshot began.
	seq uint64
	// tombstones records local deletes (id → seq) until the next apply, so a
	// snapshot read before the delete cannot resurrect the agent.
	tombstones map[string]uint64
}

func newIndex() *index {
	return &index{
		byID:       map[string]*entry{},
		byName:     map[string]*entry{},
		byCap:      map[string]*posting{},
		byTag:      map[string]*posting{},
		tombstones: map[string]uint64{},
	}
}

// refreshLocked publishes e's tracker status and recomputes its query
// fields. Callers hold the write lock.
func (x *index) refreshLocked(e *entry) {
	e.agent.Status = e.tr.st
	x.hot[e.slot] = hot{
		score:    score(e.tr.rankInputs(e.priority)),
		severity: int8(severity(e.tr.st.Health)),
		tierRank: e.tierRank,
	}
}

// allocSlot returns a slot for e.
func (x *index) allocSlot(e *entry) uint32 {
	if n := len(x.free); n > 0 {
		slot := x.free[n-1]
		x.free = x.free[:n-1]
		x.slots[slot] = e
		return slot
	}
	x.slots = append(x.slots, e)
	x.hot = append(x.hot, hot{})
	return uint32(len(x.slots) - 1)
}

func nameKey(name, version string) string { return name + "@" + version }

// hints are the manifest fields the index needs beyond storage.Agent's
// columns, decoded from the stored manifest JSON without building a full
// manifest.Manifest.
type hints struct {
	Spec struct {
		Endpoints map[string]string `json:"endpoints"`
		Discovery *struct {
			UADP *struct {
				Priority *float64 `json:"priority"`
			} `json:"uadp"`
		} `json:"discovery"`
	} `json:"spec"`
}

// derived are the fields an entry takes from its stored manifest. Deriving
// them decodes JSON, so it happens before the write lock is taken.
type derived struct {
	probeURL string
	priority float64
}

// derive returns the probe URL (empty when probes are disabled or the agent
// cannot be probed) and the UADP priority of a. A manifest that does not
// decode (it always should: it was validated) yields no probe URL and the
// default priority.
func derive(a *storage.Agent, cfg Config) derived {
	d := derived{priority: defaultPriority}
	var h hints
	if err := json.Unmarshal(a.Manifest, &h); err != nil {
		return d
	}
	if u := h.Spec.Discovery; u != nil && u.UADP != nil && u.UADP.Priority != nil {
		d.priority = *u.UADP.Priority
	}
	if cfg.ProbeInterval > 0 {
		d.probeURL = resolveProbeURL(a.Endpoint, h.Spec.Endpoints["health"])
	}
	return d
}

// resolveProbeURL resolves the manifest's health endpoint against the agent's
// endpoint as an RFC 3986 reference: "/health" is at the endpoint's host root,
// "health" is relative to the endpoint's path, an absolute URL stands alone.
// Only http and https results are probed.
func resolveProbeURL(endpoint, health string) string {
	if health == "" {
		return ""
	}
	ref, err := url.Parse(health)
	if err != nil {
		return ""
	}
	if !ref.IsAbs() {
		if endpoint == "" {
			return ""
		}
		base, err := url.Parse(endpoint)
		if err != nil {
			return ""
		}
		ref = base.ResolveReference(ref)
	}
	if (ref.Scheme != "http" && ref.Scheme != "https") || ref.Host == "" {
		return ""
	}
	return ref.String()
}

// sameDefinition reports whether a and b describe the agent identically,
// ignoring status, revision and timestamps (status writes bump the revision).
func sameDefinition(a, b *storage.Agent) bool {
	return a.Name == b.Name && a.Version == b.Version && a.Tier == b.Tier &&
		a.TierReached == b.TierReached && a.Class == b.Class && a.Protocol == b.Protocol &&
		a.Endpoint == b.Endpoint && slices.Equal(a.Capabilities, b.Capabilities) &&
		slices.Equal(a.Tags, b.Tags) && bytes.Equal(a.Manifest, b.Manifest)
}

// put inserts a, or replaces the definition of the entry with its ID, as a
// local write. The health tracker survives a replacement; its probe evidence
// is reset when the probe URL changes, since it described another endpoint.
func (x *index) put(a storage.Agent, now time.Time, cfg Config) {
	d := derive(&a, cfg)
	x.mu.Lock()
	defer x.mu.Unlock()
	x.seq++
	x.upsertLocked(a, d, now, cfg).seq = x.seq
}

// upsertLocked adds or redefines an entry. New entries seed their tracker
// from a.Status; existing ones keep theirs.
func (x *index) upsertLocked(a storage.Agent, d derived, now time.Time, cfg Config) *entry {
	e, ok := x.byID[a.ID]
	if !ok {
		e = &entry{tr: newTracker(a.Status, d.probeURL != "", now, cfg)}
		e.slot = x.allocSlot(e)
		x.byID[a.ID] = e
	} else {
		x.unlinkLocked(e)
		if e.probeURL != d.probeURL {
			e.tr.resetProbes(now)
		}
		a.Status = e.tr.st
	}
	e.agent = a
	e.tierRank = int8(manifest.Tier(a.TierReached).Rank())
	e.priority = d.priority
	e.probeURL = d.probeURL
	e.tr.evaluate(now, cfg)
	x.refreshLocked(e)
	x.linkLocked(e)
	return e
}

func (x *index) linkLocked(e *entry) {
	x.all.add(e.slot)
	x.byName[nameKey(e.agent.Name, e.agent.Version)] = e
	for _, c := range e.agent.Capabilities {
		addPosting(x.byCap, c, e.slot)
	}
	for _, t := range e.agent.Tags {
		addPosting(x.byTag, t, e.slot)
	}
}

func (x *index) unlinkLocked(e *entry) {
	x.all.remove(e.slot)
	if x.byName[nameKey(e.agent.Name, e.agent.Version)] == e {
		delete(x.byName, nameKey(e.agent.Name, e.agent.Version))
	}
	for _, c := range e.agent.Capabilities {
		removePosting(x.byCap, c, e.slot)
	}
	for _, t := range e.agent.Tags {
		removePosting(x.byTag, t, e.slot)
	}
}

func addPosting(m map[string]*posting, key string, slot uint32) {
	p, ok := m[key]
	if !ok {
		p = &posting{}
		m[key] = p
	}
	p.add(slot)
}

func removePosting(m map[string]*posting, key string, slot uint32) {
	if p, ok := m[key]; ok {
		p.remove(slot)
		if len(*p) == 0 {
			delete(m, key)
		}
	}
}

// remove drops id as a local delete and reports whether it was present.
func (x *index) remove(id string) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.seq++
	x.tombstones[id] = x.seq
	return x.dropLocked(id)
}

// forget drops id because the store no longer has it (deleted by another
// replica); no tombstone is needed since the store already agrees.
func (x *index) forget(id string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.dropLocked(id)
}

func (x *index) dropLocked(id string) bool {
	e, ok := x.byID[id]
	if !ok {
		return false
	}
	x.unlinkLocked(e)
	delete(x.byID, id)
	x.slots[e.slot] = nil
	x.hot[e.slot] = hot{}
	x.free = append(x.free, e.slot)
	return true
}

// get returns a copy of the agent with its live status.
func (x *index) get(id string) (storage.Agent, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	e, ok := x.byID[id]
	if !ok {
		return storage.Agent{}, false
	}
	return cloneAgent(&e.agent), true
}

// idByName returns the ID of the agent registered as name@version.
func (x *index) idByName(name, version string) (string, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	e, ok := x.byName[nameKey(name, version)]
	if !ok {
		return "", false
	}
	return e.agent.ID, true
}

// overlayStatus replaces the status of each agent with the live one, for
// agents listed from the store.
func (x *index) overlayStatus(agents []storage.Agent) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	for i := range agents {
		if e, ok := x.byID[agents[i].ID]; ok {
			agents[i].Status = e.tr.st
		}
	}
}

// countByHealth returns how many agents are in each health.
func (x *index) countByHealth() map[storage.Health]int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	out := make(map[storage.Health]int, 4)
	for _, e := range x.byID {
		out[e.tr.st.Health]++
	}
	return out
}

// beginSync returns the sequence number a reload's store snapshot is taken
// after; pass it to apply.
func (x *index) beginSync() uint64 {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.seq
}

// apply reconciles the index with a full snapshot of the store read after
// beginSync returned since. Entries written locally after since are newer
// than the snapshot and kept as they are; agents deleted locally after since
// stay deleted; everything else follows the snapshot. Health evidence from
// the store (heartbeats other replicas received) is merged into the
// trackers. It returns how many entries were added, changed and removed.
//
// Comparing and decoding thousands of manifests takes milliseconds, so it is
// done under the read lock and outside any lock; the write lock covers only
// the entries that change.
func (x *index) apply(snapshot []storage.Agent, since uint64, now time.Time, cfg Config) (added, changed, removed int) {
	upserts, merges, drops := x.plan(snapshot, since)
	defs := make([]derived, len(upserts))
	for i, a := range upserts {
		defs[i] = derive(a, cfg)
	}

	x.mu.Lock()
	defer x.mu.Unlock()
	// Local writes made since plan ran have a seq above since and still win.
	for i, a := range upserts {
		e, ok := x.byID[a.ID]
		switch {
		case ok && e.seq > since, x.tombstones[a.ID] > since:
		case ok:
			x.upsertLocked(*a, defs[i], now, cfg)
			x.mergeStatusLocked(e, a.Status, now, cfg)
			changed++
		default:
			x.upsertLocked(*a, defs[i], now, cfg)
			added++
		}
	}
	for _, a := range merges {
		if e, ok := x.byID[a.ID]; ok && e.seq <= since {
			e.agent.Revision, e.agent.UpdatedAt = a.Revision, a.UpdatedAt
			x.mergeStatusLocked(e, a.Status, now, cfg)
		}
	}
	for _, id := range drops {
		if e, ok := x.byID[id]; ok && e.seq <= since {
			x.dropLocked(id)
			removed++
		}
	}
	clear(x.tombstones)
	return added, changed, removed
}

// plan sorts a snapshot into agents to add or redefine, agents of which
// only the revision or heartbeat moved on, and IDs to drop.
func (x *index) plan(snapshot []storage.Agent, since uint64) (upserts, merges []*storage.Agent, drops []string) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	seen := make(map[string]struct{}, len(snapshot))
	for i := range snapshot {
		a := &snapshot[i]
		seen[a.ID] = struct{}{}
		if x.tombstones[a.ID] > since {
			continue
		}
		e, ok := x.byID[a.ID]
		switch {
		case !ok:
			upserts = append(upserts, a)
		case e.seq > since:
			// Written here after the snapshot began: ours is newer.
		case !sameDefinition(&e.agent, a):
			upserts = append(upserts, a)
		case a.Revision != e.agent.Revision || a.Status.LastHeartbeatAt.After(e.tr.st.LastHeartbeatAt):
			merges = append(merges, a)
		}
	}
	for id, e := range x.byID {
		if _, ok := seen[id]; !ok && e.seq <= since {
			drops = append(drops, id)
		}
	}
	return upserts, merges, drops
}

func (x *index) mergeStatusLocked(e *entry, stored storage.AgentStatus, now time.Time, cfg Config) {
	if e.tr.mergeStored(stored, now, cfg) {
		x.refreshLocked(e)
	}
}

// cloneAgent copies a with its own slices, so callers cannot alter the index.
// The manifest bytes are shared: nothing ever writes to them in place.
func cloneAgent(a *storage.Agent) storage.Agent {
	c := *a
	c.Capabilities = slices.Clone(a.Capabilities)
	c.Tags = slices.Clone(a.Tags)
	return c
}
