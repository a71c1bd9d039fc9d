package discovery

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ossa-platform/ossa/internal/storage"
)

// status returns the live status of id.
func (x *index) status(id string) (storage.AgentStatus, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	e, ok := x.byID[id]
	if !ok {
		return storage.AgentStatus{}, false
	}
	return e.tr.st, true
}

// len returns the number of agents in the index.
func (x *index) len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.byID)
}

// indexIDs and storeIDs list what each side holds, sorted.
func (f *fixture) indexIDs() []string {
	f.svc.idx.mu.RLock()
	defer f.svc.idx.mu.RUnlock()
	ids := make([]string, 0, len(f.svc.idx.byID))
	for id := range f.svc.idx.byID {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func (f *fixture) storeIDs(t *testing.T) []string {
	t.Helper()
	var ids []string
	for _, a := range f.snapshot(t) {
		ids = append(ids, a.ID)
	}
	slices.Sort(ids)
	return ids
}

// requirePostingsConsistent checks every posting list against the entries.
func (f *fixture) requirePostingsConsistent(t *testing.T) {
	t.Helper()
	x := f.svc.idx
	x.mu.RLock()
	defer x.mu.RUnlock()
	member := func(p *posting, e *entry) {
		t.Helper()
		require.NotNil(t, p)
		_, found := slices.BinarySearch(*p, e.slot)
		require.True(t, found)
	}
	for cap, p := range x.byCap {
		require.True(t, slices.IsSorted(*p))
		for _, slot := range *p {
			e := x.slots[slot]
			require.Same(t, x.byID[e.agent.ID], e)
			require.Contains(t, e.agent.Capabilities, cap)
		}
	}
	require.Len(t, x.all, len(x.byID))
	for _, e := range x.byID {
		require.Same(t, e, x.slots[e.slot])
		require.Equal(t, e.tierRank, x.hot[e.slot].tierRank)
		member(&x.all, e)
		for _, c := range e.agent.Capabilities {
			member(x.byCap[c], e)
		}
		for _, tag := range e.agent.Tags {
			member(x.byTag[tag], e)
		}
		require.Same(t, e, x.byName[nameKey(e.agent.Name, e.agent.Version)])
	}
}

// TestIndexConsistentUnderConcurrentWrites registers, updates and deletes
// from many goroutines while the index reloads from the store, then checks
// that the index holds exactly what the store does.
func TestIndexConsistentUnderConcurrentWrites(t *testing.T) {
	t.Parallel()
	f := newFixture(t, testConfig(t))
	ctx := t.Context()
	const writers, perWriter = 6, 15

	stop := make(chan struct{})
	var syncer sync.WaitGroup
	syncer.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				if err := f.svc.syncIndex(ctx); err != nil {
					t.Errorf("sync: %v", err)
					return
				}
			}
		}
	})
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				name := fmt.Sprintf("w%d-a%d", w, i)
				reg, err := f.svc.Register(ctx, RegisterRequest{Manifest: []byte(spec{name: name, caps: []string{fmt.Sprintf("c%d", i%4)}}.yaml())})
				if err != nil {
					t.Errorf("register %s: %v", name, err)
					return
				}
				switch i % 3 {
				case 1:
					_, err = f.svc.Update(ctx, reg.Agent.ID, RegisterRequest{Manifest: []byte(spec{name: name, version: "2.0.0", caps: []string{"updated"}}.yaml())})
				case 2:
					err = f.svc.Delete(ctx, reg.Agent.ID)
				}
				if err != nil {
					t.Errorf("change %s: %v", name, err)
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	syncer.Wait()

	want := f.storeIDs(t)
	require.Len(t, want, writers*perWriter*2/3)
	require.Equal(t, want, f.indexIDs(), "index diverged from the store under concurrent writes")
	require.NoError(t, f.svc.syncIndex(ctx))
	require.Equal(t, want, f.indexIDs())
	f.requirePostingsConsistent(t)
	require.Len(t, f.svc.Discover(ctx, Query{Capabilities: []string{"updated"}, IncludeUnhealthy: true, Limit: 500}), writers*5)
}

// TestSyncSeesOtherReplicas runs two services on one store: each sees the
// other's registrations, updates, deletions and heartbeats after a reload.
func TestSyncSeesOtherReplicas(t *testing.T) {
	t.Parallel()
	store := &countingStore{AgentStore: newStore(t)}
	a := newFixtureOn(t, testConfig(t), store)
	b := newFixtureOn(t, testConfig(t), store)
	ctx := t.Context()

	id := a.register(t, spec{name: "shared", caps: []string{"x"}}.yaml(), "")
	require.Empty(t, b.svc.Discover(ctx, Query{IncludeUnhealthy: true}))
	got, err := b.svc.Get(ctx, id) // read through to the store
	require.NoError(t, err)
	require.Equal(t, "shared", got.Name)

	_, err = a.svc.Update(ctx, id, RegisterRequest{Manifest: []byte(spec{name: "shared", caps: []string{"y"}}.yaml())})
	require.NoError(t, err)
	_, err = a.svc.Heartbeat(ctx, id, Heartbeat{})
	require.NoError(t, err)
	require.NoError(t, b.svc.syncIndex(ctx))
	found := b.svc.Discover(ctx, Query{Capabilities: []string{"y"}})
	require.Len(t, found, 1, "replica b sees the update and the heartbeat")
	require.Equal(t, storage.HealthHealthy, found[0].Status.Health)

	require.NoError(t, a.svc.Delete(ctx, id))
	require.NoError(t, b.svc.syncIndex(ctx))
	require.Empty(t, b.svc.Discover(ctx, Query{IncludeUnhealthy: true}))
	_, err = b.svc.Get(ctx, id)
	require.ErrorIs(t, err, storage.ErrNotFound)
}

// TestApplyKeepsNewerLocalWrites checks reload against a snapshot taken
// before local writes: they are neither undone nor resurrected.
func TestApplyKeepsNewerLocalWrites(t *testing.T) {
	t.Parallel()
	f := newFixture(t, testConfig(t))
	ctx := context.Background()
	kept := f.register(t, spec{name: "kept"}.yaml(), "")
	doomed := f.register(t, spec{name: "doomed"}.yaml(), "")

	since := f.svc.idx.beginSync()
	old := f.snapshot(t) // has kept and doomed, lacks fresh
	fresh := f.register(t, spec{name: "fresh"}.yaml(), "")
	require.NoError(t, f.svc.Delete(ctx, doomed))

	f.svc.idx.apply(old, since, f.clock.Now(), f.svc.cfg)
	require.ElementsMatch(t, []string{kept, fresh}, f.indexIDs())
	f.requirePostingsConsistent(t)
}
