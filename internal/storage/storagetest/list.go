package storagetest

import (
	"encoding/base64"
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ossa-platform/ossa/internal/storage"
)

func testListFilters(t *testing.T, s storage.Store) {
	type fixture struct {
		name, version, tier, reached, class string
		caps, tags                          []string
		health                              storage.Health
	}
	fixtures := []fixture{
		{"alpha", "1", "core", "core", "worker", []string{"search", "summarize"}, []string{"nlp", "prod"}, storage.HealthHealthy},
		// Declares advanced but reaches governed: MinTier looks at the latter.
		{"beta", "1", "advanced", "governed", "worker", []string{"search"}, []string{"prod"}, storage.HealthDegraded},
		{"gamma", "1", "advanced", "advanced", "orchestrator", []string{"summarize", "translate"}, []string{"nlp"}, storage.HealthUnhealthy},
		{"alpha", "2", "", "", "", nil, nil, ""},
		{"delta", "1", "core", "advanced", "worker", []string{"translate", "search", "summarize"}, []string{"nlp", "prod", "beta"}, storage.HealthHealthy},
		{"epsilon", "1", "governed", "experimental", "worker", []string{"search", "search"}, []string{"prod"}, storage.HealthHealthy},
	}
	byKey := map[string]string{} // name@version → ID
	for _, f := range fixtures {
		a := &storage.Agent{
			Name: f.name, Version: f.version, Tier: f.tier, TierReached: f.reached, Class: f.class,
			Capabilities: f.caps, Tags: f.tags, Protocol: "http", Status: storage.AgentStatus{Health: f.health},
		}
		mustCreate(t, s, a)
		byKey[f.name+"@"+f.version] = a.ID
	}
	expect := func(keys ...string) []string {
		out := make([]string, 0, len(keys))
		for _, k := range keys {
			id, ok := byKey[k]
			require.True(t, ok, "fixture %s", k)
			out = append(out, id)
		}
		slices.Sort(out)
		return out
	}
	all := expect("alpha@1", "beta@1", "gamma@1", "alpha@2", "delta@1", "epsilon@1")

	tests := []struct {
		name   string
		filter storage.AgentFilter
		want   []string
	}{
		{"none", storage.AgentFilter{}, all},
		{"capability", storage.AgentFilter{Capabilities: []string{"search"}}, expect("alpha@1", "beta@1", "delta@1", "epsilon@1")},
		{"capabilities all-of", storage.AgentFilter{Capabilities: []string{"summarize", "search"}}, expect("alpha@1", "delta@1")},
		{"capabilities all-of three", storage.AgentFilter{Capabilities: []string{"search", "summarize", "translate"}}, expect("delta@1")},
		{"capability repeated in filter", storage.AgentFilter{Capabilities: []string{"translate", "translate"}}, expect("gamma@1", "delta@1")},
		{"capability unknown", storage.AgentFilter{Capabilities: []string{"fly"}}, nil},
		{"capability is not a tag", storage.AgentFilter{Capabilities: []string{"nlp"}}, nil},
		{"capability case-sensitive", storage.AgentFilter{Capabilities: []string{"Search"}}, nil},
		{"tag", storage.AgentFilter{Tags: []string{"nlp"}}, expect("alpha@1", "gamma@1", "delta@1")},
		{"tags all-of", storage.AgentFilter{Tags: []string{"prod", "nlp"}}, expect("alpha@1", "delta@1")},
		{"tag unknown", storage.AgentFilter{Tags: []string{"staging"}}, nil},
		{"min tier core", storage.AgentFilter{MinTier: "core"}, expect("alpha@1", "beta@1", "gamma@1", "delta@1")},
		{"min tier governed", storage.AgentFilter{MinTier: "governed"}, expect("beta@1", "gamma@1", "delta@1")},
		{"min tier advanced", storage.AgentFilter{MinTier: "advanced"}, expect("gamma@1", "delta@1")},
		{"class", storage.AgentFilter{Class: "worker"}, expect("alpha@1", "beta@1", "delta@1", "epsilon@1")},
		{"class unknown", storage.AgentFilter{Class: "Worker"}, nil},
		{"health one", storage.AgentFilter{Health: []storage.Health{storage.HealthHealthy}}, expect("alpha@1", "delta@1", "epsilon@1")},
		{"health any-of", storage.AgentFilter{Health: []storage.Health{storage.HealthDegraded, storage.HealthUnhealthy}}, expect("beta@1", "gamma@1")},
		{"health unknown", storage.AgentFilter{Health: []storage.Health{storage.HealthUnknown}}, expect("alpha@2")},
		{"name", storage.AgentFilter{Name: "alpha"}, expect("alpha@1", "alpha@2")},
		{"name exact", storage.AgentFilter{Name: "alph"}, nil},
		{"combined", storage.AgentFilter{
			Capabilities: []string{"summarize"}, Tags: []string{"nlp"}, MinTier: "governed",
			Class: "worker", Health: []storage.Health{storage.HealthHealthy, storage.HealthDegraded},
		}, expect("delta@1")},
		{"combined name and capability", storage.AgentFilter{Name: "alpha", Capabilities: []string{"search"}}, expect("alpha@1")},
		{"combined disjoint", storage.AgentFilter{Class: "orchestrator", Tags: []string{"prod"}}, nil},
	}
	for _, tc := range tests {
		page, err := s.Agents().List(t.Context(), tc.filter)
		require.NoError(t, err, tc.name)
		require.Empty(t, page.NextCursor, tc.name)
		got := ids(page.Agents)
		require.True(t, slices.IsSorted(got), "%s: ordered by ID", tc.name)
		require.Equal(t, nonNilIDs(tc.want), got, tc.name)
	}

	_, err := s.Agents().List(t.Context(), storage.AgentFilter{MinTier: "platinum"})
	require.Error(t, err, "an unknown MinTier is an error, not a silent match")
}

func nonNilIDs(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

func testListEmpty(t *testing.T, s storage.Store) {
	page, err := s.Agents().List(t.Context(), storage.AgentFilter{})
	require.NoError(t, err)
	require.NotNil(t, page.Agents, "an empty page has an empty, non-nil list")
	require.Empty(t, page.Agents)
	require.Empty(t, page.NextCursor)
}

func testListLimits(t *testing.T, s storage.Store) {
	const n = 501
	createMany(t, s, n, "limits")

	cases := []struct {
		limit, want int
	}{
		{0, 50},     // default
		{-1, 50},    // default
		{1, 1},      //
		{500, 500},  // max
		{501, 500},  // capped silently
		{1000, 500}, // capped silently
	}
	for _, tc := range cases {
		page, err := s.Agents().List(t.Context(), storage.AgentFilter{Limit: tc.limit})
		require.NoError(t, err, "limit %d", tc.limit)
		require.Len(t, page.Agents, tc.want, "limit %d", tc.limit)
		require.NotEmpty(t, page.NextCursor, "limit %d: more pages follow", tc.limit)
	}

	// A last page that is exactly full has no next cursor.
	first, err := s.Agents().List(t.Context(), storage.AgentFilter{Limit: n - 1})
	require.NoError(t, err)
	last, err := s.Agents().List(t.Context(), storage.AgentFilter{Limit: 1, Cursor: first.NextCursor})
	require.NoError(t, err)
	require.Len(t, last.Agents, 1)
	require.Empty(t, last.NextCursor)

	all := listAll(t, s, storage.AgentFilter{Limit: 7})
	require.Len(t, all, n)
	require.True(t, slices.IsSorted(ids(all)))
	require.Len(t, slices.Compact(ids(all)), n, "no duplicates across pages")
}

func testListPagesFilteredResults(t *testing.T, s storage.Store) {
	for i := range 40 {
		a := newAgent(fmt.Sprintf("paged-%02d", i), "1")
		if i%3 == 0 {
			a.Capabilities = []string{"search", "rare"}
		}
		mustCreate(t, s, a)
	}
	f := storage.AgentFilter{Capabilities: []string{"rare"}, Tags: []string{"prod"}}
	whole, err := s.Agents().List(t.Context(), f)
	require.NoError(t, err)
	require.Len(t, whole.Agents, 14)

	f.Limit = 4
	require.Equal(t, ids(whole.Agents), ids(listAll(t, s, f)), "pages of a filter concatenate to the unpaged result")
}

func testListPagingWhileWriting(t *testing.T, s storage.Store) {
	ctx := t.Context()
	original := ids(createMany(t, s, 30, "steady"))
	deleted := original[20]

	var seen, added []string
	f := storage.AgentFilter{Limit: 4}
	for pages := 0; ; pages++ {
		require.Less(t, pages, 100, "pagination does not end")
		page, err := s.Agents().List(ctx, f)
		require.NoError(t, err)
		seen = append(seen, ids(page.Agents)...)
		if page.NextCursor == "" {
			break
		}
		f.Cursor = page.NextCursor

		// Writes between pages: new agents, status and manifest updates of
		// agents on both sides of the cursor, one deletion ahead of it.
		for range 2 {
			added = append(added, mustCreate(t, s, newAgent(fmt.Sprintf("arrival-%03d", len(added)), "1")).ID)
		}
		for _, id := range []string{original[0], original[len(original)-1]} {
			require.NoError(t, s.Agents().UpdateStatus(ctx, id, fullStatus(0)))
			a := mustGet(t, s, id)
			a.Tags = append(a.Tags, fmt.Sprintf("page-%d", pages))
			require.NoError(t, s.Agents().Update(ctx, a))
		}
		if pages == 1 {
			require.NoError(t, s.Agents().Delete(ctx, deleted))
		}
	}

	require.True(t, slices.IsSorted(seen), "pages come in ID order")
	require.Len(t, slices.Compact(slices.Clone(seen)), len(seen), "no agent twice")
	for _, id := range original {
		if id != deleted {
			require.Contains(t, seen, id, "every agent that existed throughout is listed")
		}
	}
	require.NotContains(t, seen, deleted)
	// Generated IDs are time-ordered, so agents created during the walk sort
	// after the cursor and are listed too.
	for _, id := range added {
		require.Contains(t, seen, id)
	}
}

func testListInvalidCursor(t *testing.T, s storage.Store) {
	createMany(t, s, 3, "cursor")
	for _, c := range []string{
		"!!!not base64!!!",
		"a",  // truncated base64
		"==", // padding is not part of the encoding
		base64.RawURLEncoding.EncodeToString([]byte{0xff, 0xfe, 0xfd}), // not UTF-8
		base64.RawURLEncoding.EncodeToString([]byte("nul\x00id")),
	} {
		_, err := s.Agents().List(t.Context(), storage.AgentFilter{Cursor: c})
		require.ErrorIs(t, err, storage.ErrInvalidCursor, "cursor %q", c)
	}
	// A well-formed cursor past the last agent is an empty last page.
	page, err := s.Agents().List(t.Context(), storage.AgentFilter{Cursor: base64.RawURLEncoding.EncodeToString([]byte("~"))})
	require.NoError(t, err)
	require.Empty(t, page.Agents)
	require.Empty(t, page.NextCursor)
}

// createMany registers n agents named prefix-0000… and returns them in
// creation order.
func createMany(t *testing.T, s storage.Store, n int, prefix string) []storage.Agent {
	t.Helper()
	out := make([]storage.Agent, n)
	for i := range n {
		out[i] = *mustCreate(t, s, newAgent(fmt.Sprintf("%s-%04d", prefix, i), "1"))
	}
	return out
}
