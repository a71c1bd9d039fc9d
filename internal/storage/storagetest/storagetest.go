// Package storagetest is the conformance suite of the storage drivers. Every
// driver runs the same subtests on a real database, which is what makes the
// embedded (SQLite) and cluster (PostgreSQL) modes interchangeable: a
// behaviour the suite pins down is one services may rely on.
package storagetest

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ossa-platform/ossa/internal/storage"
)

// Opener returns a connected store on a fresh, empty database that no other
// test uses, not yet migrated. The suite migrates and closes it; the opener
// registers with t.Cleanup whatever else must go (files, schemas).
type Opener func(t *testing.T) storage.Store

// Run runs the whole suite against the driver that open connects to. Each
// subtest has its own database and runs in parallel with the others.
func Run(t *testing.T, open Opener) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s storage.Store)
	}{
		{"CreateGetRoundTrip", testCreateGetRoundTrip},
		{"CreateDefaults", testCreateDefaults},
		{"CreateKeepsGivenID", testCreateKeepsGivenID},
		{"CreateDuplicateIsConflict", testCreateDuplicateIsConflict},
		{"CreateRejectsInvalid", testCreateRejectsInvalid},
		{"UnknownIsNotFound", testUnknownIsNotFound},
		{"Update", testUpdate},
		{"UpdateToTakenNameIsConflict", testUpdateToTakenNameIsConflict},
		{"UpdateStatus", testUpdateStatus},
		{"UpdateStatusRejectsInvalid", testUpdateStatusRejectsInvalid},
		{"RevisionCountsEveryWrite", testRevisionCountsEveryWrite},
		{"Delete", testDelete},
		{"ListFilters", testListFilters},
		{"ListEmpty", testListEmpty},
		{"ListLimits", testListLimits},
		{"ListPagesFilteredResults", testListPagesFilteredResults},
		{"ListPagingWhileWriting", testListPagingWhileWriting},
		{"ListInvalidCursor", testListInvalidCursor},
		{"ConcurrentCreatesDistinct", testConcurrentCreatesDistinct},
		{"ConcurrentCreatesSameName", testConcurrentCreatesSameName},
		{"ConcurrentStatusUpdates", testConcurrentStatusUpdates},
		{"MigrateIsIdempotent", testMigrateIsIdempotent},
		{"PingAndClose", testPingAndClose},
		{"KeyRoundTrip", testKeyRoundTrip},
		{"KeyDuplicateIsConflict", testKeyDuplicateIsConflict},
		{"KeyRevoke", testKeyRevoke},
		{"KeyTouchLastUsed", testKeyTouchLastUsed},
		{"KeyList", testKeyList},
		{"AuditAppendList", testAuditAppendList},
		{"AuditFiltersAndPages", testAuditFiltersAndPages},
	}
	tests = append(tests, taskTests...)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, setup(t, open))
		})
	}
}

// setup opens a store with open, migrates it and closes it when the test or
// benchmark ends.
func setup[T testing.TB](tb T, open func(T) storage.Store) storage.Store {
	tb.Helper()
	s := open(tb)
	tb.Cleanup(func() { require.NoError(tb, s.Close(), "close store") })
	require.NoError(tb, s.Migrate(tb.Context()), "migrate")
	return s
}

// newAgent returns a valid agent to register; tests change what they test.
func newAgent(name, version string) *storage.Agent {
	return &storage.Agent{
		Name:         name,
		Version:      version,
		Tier:         "core",
		TierReached:  "core",
		Class:        "worker",
		Capabilities: []string{"search"},
		Tags:         []string{"prod"},
		Protocol:     "http",
		Endpoint:     "http://" + name + ".agents.test:8080",
		Manifest:     json.RawMessage(`{"ossa":"0.1.8","kind":"Agent","metadata":{"name":"` + name + `","version":"` + version + `"}}`),
	}
}

// oddTime is a time with nanoseconds in a zone other than UTC: drivers must
// hand it back in UTC, truncated to microseconds.
func oddTime(offset time.Duration) time.Time {
	return time.Date(2025, 3, 4, 5, 6, 7, 123456789, time.FixedZone("UTC+1", 3600)).Add(offset)
}

// stored is what a driver must return for a status written as st.
func stored(st storage.AgentStatus) storage.AgentStatus {
	norm := func(t time.Time) time.Time {
		if t.IsZero() {
			return t
		}
		return t.UTC().Truncate(time.Microsecond)
	}
	st.LastHeartbeatAt = norm(st.LastHeartbeatAt)
	st.LastProbeAt = norm(st.LastProbeAt)
	st.HealthySince = norm(st.HealthySince)
	if st.Health == "" {
		st.Health = storage.HealthUnknown
	}
	return st
}

// fullStatus sets every status field.
func fullStatus(offset time.Duration) storage.AgentStatus {
	return storage.AgentStatus{
		Health:          storage.HealthDegraded,
		Reason:          "probe latency above 500ms",
		LastHeartbeatAt: oddTime(offset),
		LastProbeAt:     oddTime(offset + 1500*time.Millisecond),
		ProbesTotal:     1 << 40,
		ProbesOK:        (1 << 40) - 3,
		LatencyMS:       512.125,
		Uptime:          0.9987654321,
		HealthySince:    oddTime(offset - 36*time.Hour),
	}
}

// requireSameAgent compares agents field by field, the manifest by meaning
// (PostgreSQL's jsonb re-encodes it).
func requireSameAgent(t *testing.T, want, got *storage.Agent, msgAndArgs ...any) {
	t.Helper()
	require.NotNil(t, got, msgAndArgs...)
	w, g := *want, *got
	switch {
	case w.Manifest == nil:
		require.Nil(t, g.Manifest, msgAndArgs...)
	case json.Valid(w.Manifest):
		require.NotNil(t, g.Manifest, msgAndArgs...)
		require.JSONEq(t, string(w.Manifest), string(g.Manifest), msgAndArgs...)
	default: // an invalid manifest a test fed in, which must come back as it was
		require.Equal(t, w.Manifest, g.Manifest, msgAndArgs...)
	}
	w.Manifest, g.Manifest = nil, nil
	require.Equal(t, w, g, msgAndArgs...)
}

// clone copies an agent deeply enough that changing the copy's lists or
// manifest leaves the original alone.
func clone(a *storage.Agent) *storage.Agent {
	c := *a
	c.Capabilities = slices.Clone(a.Capabilities)
	c.Tags = slices.Clone(a.Tags)
	c.Manifest = slices.Clone(a.Manifest)
	return &c
}

func mustCreate(t *testing.T, s storage.Store, a *storage.Agent) *storage.Agent {
	t.Helper()
	require.NoError(t, s.Agents().Create(t.Context(), a), "create %s@%s", a.Name, a.Version)
	return a
}

func mustGet(t *testing.T, s storage.Store, id string) *storage.Agent {
	t.Helper()
	a, err := s.Agents().Get(t.Context(), id)
	require.NoError(t, err, "get %s", id)
	return a
}

// listAll follows NextCursor to the end, checking that every page but the
// last is full.
func listAll(t *testing.T, s storage.Store, f storage.AgentFilter) []storage.Agent {
	t.Helper()
	var all []storage.Agent
	for pages := 0; ; pages++ {
		require.Less(t, pages, 10_000, "pagination does not end")
		page, err := s.Agents().List(t.Context(), f)
		require.NoError(t, err, "list %+v", f)
		all = append(all, page.Agents...)
		if page.NextCursor == "" {
			return all
		}
		if f.Limit > 0 {
			require.Len(t, page.Agents, f.Limit, "a page before the last must be full")
		}
		f.Cursor = page.NextCursor
	}
}

func ids(agents []storage.Agent) []string {
	out := make([]string, len(agents))
	for i, a := range agents {
		out[i] = a.ID
	}
	return out
}
