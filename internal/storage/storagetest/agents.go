package storagetest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/ossa-platform/ossa/internal/storage"
)

func testCreateGetRoundTrip(t *testing.T, s storage.Store) {
	in := &storage.Agent{
		Name:         "summarizer",
		Version:      "1.2.3-rc.1+build.7",
		Tier:         "governed",
		TierReached:  "advanced",
		Class:        "specialist",
		Capabilities: []string{"summarize", "translate", "classify"},
		Tags:         []string{"nlp", "prod", "eu-west", "ünïcødé"},
		Protocol:     "a2a",
		Endpoint:     "https://summarizer.agents.test/a2a",
		Manifest: json.RawMessage(`{"ossa": "0.1.8", "kind": "Agent",
			"metadata": {"name": "summarizer", "labels": {"team": "nlp"}},
			"spec": {"capabilities": [{"name": "summarize", "timeout_ms": 30000}], "ratio": 0.25, "on": true, "none": null}}`),
		Status: fullStatus(0),
		// Set by Create, whatever the caller passes.
		Revision:  42,
		CreatedAt: oddTime(-time.Hour),
		UpdatedAt: oddTime(-time.Hour),
	}
	a := clone(in)
	before := time.Now()
	require.NoError(t, s.Agents().Create(t.Context(), a))

	parsed, err := uuid.Parse(a.ID)
	require.NoError(t, err, "generated ID %q", a.ID)
	require.Equal(t, uuid.Version(7), parsed.Version(), "generated IDs are UUIDv7")
	require.EqualValues(t, 1, a.Revision)
	require.Equal(t, time.UTC, a.CreatedAt.Location())
	require.WithinDuration(t, before, a.CreatedAt, time.Minute)
	require.Equal(t, a.CreatedAt, a.UpdatedAt)

	want := clone(in)
	want.ID, want.Revision, want.CreatedAt, want.UpdatedAt = a.ID, 1, a.CreatedAt, a.UpdatedAt
	want.Status = stored(in.Status)
	require.Equal(t, time.Date(2025, 3, 4, 4, 6, 7, 123456000, time.UTC), want.Status.LastHeartbeatAt,
		"the expectation itself: UTC, microseconds")
	requireSameAgent(t, want, a, "Create must leave in *a what it stored")
	requireSameAgent(t, want, mustGet(t, s, a.ID), "Get")
}

func testCreateDefaults(t *testing.T, s storage.Store) {
	a := mustCreate(t, s, &storage.Agent{Name: "bare", Version: "0.0.1"})
	got := mustGet(t, s, a.ID)
	requireSameAgent(t, a, got)
	require.Equal(t, storage.HealthUnknown, got.Status.Health, "empty health is stored as unknown")
	require.NotNil(t, got.Capabilities, "empty lists read back non-nil")
	require.Empty(t, got.Capabilities)
	require.NotNil(t, got.Tags)
	require.Empty(t, got.Tags)
	require.Nil(t, got.Manifest, "no manifest reads back as nil")
	require.True(t, got.Status.LastHeartbeatAt.IsZero(), "zero times read back zero")
	require.True(t, got.Status.LastProbeAt.IsZero())
	require.True(t, got.Status.HealthySince.IsZero())
}

func testCreateKeepsGivenID(t *testing.T, s storage.Store) {
	a := newAgent("given", "1")
	a.ID = "agent-given-id"
	mustCreate(t, s, a)
	require.Equal(t, "agent-given-id", a.ID)
	require.Equal(t, "given", mustGet(t, s, "agent-given-id").Name)
}

func testCreateDuplicateIsConflict(t *testing.T, s storage.Store) {
	first := mustCreate(t, s, newAgent("dup", "1.0.0"))
	firstStored := mustGet(t, s, first.ID)

	other := newAgent("dup", "1.0.0")
	other.Capabilities = []string{"something-else"}
	other.Tags = []string{"other-tag"}
	before := clone(other)
	err := s.Agents().Create(t.Context(), other)
	require.ErrorIs(t, err, storage.ErrConflict)
	requireSameAgent(t, before, other, "a failed Create leaves *a unchanged")

	sameID := newAgent("dup-by-id", "1.0.0")
	sameID.ID = first.ID
	require.ErrorIs(t, s.Agents().Create(t.Context(), sameID), storage.ErrConflict, "a taken ID is a conflict")

	// Nothing of the rejected agents was stored, index rows included.
	requireSameAgent(t, firstStored, mustGet(t, s, first.ID))
	all := listAll(t, s, storage.AgentFilter{})
	require.Equal(t, []string{first.ID}, ids(all))
	for _, f := range []storage.AgentFilter{
		{Capabilities: []string{"something-else"}},
		{Tags: []string{"other-tag"}},
		{Name: "dup-by-id"},
	} {
		require.Empty(t, listAll(t, s, f), "filter %+v", f)
	}

	// Another version of the same name is a different agent.
	mustCreate(t, s, newAgent("dup", "1.0.1"))
}

func testCreateRejectsInvalid(t *testing.T, s storage.Store) {
	badManifest := newAgent("bad-manifest", "1")
	badManifest.Manifest = json.RawMessage(`{"ossa": "0.1.8",`)
	badHealth := newAgent("bad-health", "1")
	badHealth.Status.Health = "sick"

	for _, a := range []*storage.Agent{badManifest, badHealth} {
		before := clone(a)
		err := s.Agents().Create(t.Context(), a)
		require.Error(t, err, a.Name)
		require.NotErrorIs(t, err, storage.ErrConflict, a.Name)
		requireSameAgent(t, before, a, "a failed Create leaves *a unchanged")
	}
	require.Empty(t, listAll(t, s, storage.AgentFilter{}))
}

func testUnknownIsNotFound(t *testing.T, s storage.Store) {
	kept := mustCreate(t, s, newAgent("kept", "1"))
	keptStored := mustGet(t, s, kept.ID)
	ctx := t.Context()
	for _, id := range []string{uuid.Must(uuid.NewV7()).String(), "no-such-agent", ""} {
		_, err := s.Agents().Get(ctx, id)
		require.ErrorIs(t, err, storage.ErrNotFound, "Get %q", id)

		a := newAgent("ghost", "1")
		a.ID = id
		before := clone(a)
		require.ErrorIs(t, s.Agents().Update(ctx, a), storage.ErrNotFound, "Update %q", id)
		requireSameAgent(t, before, a, "a failed Update leaves *a unchanged")

		require.ErrorIs(t, s.Agents().UpdateStatus(ctx, id, fullStatus(0)), storage.ErrNotFound, "UpdateStatus %q", id)
		require.ErrorIs(t, s.Agents().Delete(ctx, id), storage.ErrNotFound, "Delete %q", id)
	}
	requireSameAgent(t, keptStored, mustGet(t, s, kept.ID))
	require.Len(t, listAll(t, s, storage.AgentFilter{}), 1)
}

func testUpdate(t *testing.T, s storage.Store) {
	a := newAgent("updatable", "1.0.0")
	a.Status = fullStatus(0)
	mustCreate(t, s, a)
	created := mustGet(t, s, a.ID)

	change := &storage.Agent{
		ID:           a.ID,
		Name:         "renamed",
		Version:      "2.0.0",
		Tier:         "advanced",
		TierReached:  "governed",
		Class:        "orchestrator",
		Capabilities: []string{"plan", "delegate"},
		Tags:         []string{"beta"},
		Protocol:     "mcp",
		Endpoint:     "",
		Manifest:     json.RawMessage(`{"ossa":"0.1.8","kind":"Agent","metadata":{"name":"renamed"}}`),
		// Not Update's to change:
		Status:    storage.AgentStatus{Health: storage.HealthHealthy, Reason: "ignored"},
		Revision:  99,
		CreatedAt: oddTime(time.Hour),
		UpdatedAt: oddTime(time.Hour),
	}
	u := clone(change)
	require.NoError(t, s.Agents().Update(t.Context(), u))

	want := clone(change)
	want.Status = created.Status
	want.Revision = 2
	want.CreatedAt = created.CreatedAt
	want.UpdatedAt = u.UpdatedAt
	require.False(t, u.UpdatedAt.Before(created.UpdatedAt), "UpdatedAt moves forward")
	requireSameAgent(t, want, u, "Update must leave in *a what Get returns")
	requireSameAgent(t, want, mustGet(t, s, a.ID))

	// The filterable fields follow the update.
	require.Empty(t, listAll(t, s, storage.AgentFilter{Capabilities: []string{"search"}}))
	require.Empty(t, listAll(t, s, storage.AgentFilter{Tags: []string{"prod"}}))
	require.Empty(t, listAll(t, s, storage.AgentFilter{Name: "updatable"}))
	require.Len(t, listAll(t, s, storage.AgentFilter{
		Capabilities: []string{"delegate", "plan"}, Tags: []string{"beta"}, Name: "renamed",
		Class: "orchestrator", MinTier: "governed",
	}), 1)

	// Clearing lists and manifest.
	cleared := clone(u)
	cleared.Capabilities, cleared.Tags, cleared.Manifest = nil, nil, nil
	require.NoError(t, s.Agents().Update(t.Context(), cleared))
	got := mustGet(t, s, a.ID)
	require.NotNil(t, got.Capabilities)
	require.Empty(t, got.Capabilities)
	require.NotNil(t, got.Tags)
	require.Empty(t, got.Tags)
	require.Nil(t, got.Manifest)
	require.Empty(t, listAll(t, s, storage.AgentFilter{Capabilities: []string{"plan"}}))
}

func testUpdateToTakenNameIsConflict(t *testing.T, s storage.Store) {
	x := mustCreate(t, s, newAgent("x", "1"))
	y := mustCreate(t, s, newAgent("y", "1"))
	xStored, yStored := mustGet(t, s, x.ID), mustGet(t, s, y.ID)

	move := clone(y)
	move.Name = "x"
	move.Capabilities = []string{"stolen"}
	before := clone(move)
	require.ErrorIs(t, s.Agents().Update(t.Context(), move), storage.ErrConflict)
	requireSameAgent(t, before, move, "a failed Update leaves *a unchanged")
	requireSameAgent(t, xStored, mustGet(t, s, x.ID))
	requireSameAgent(t, yStored, mustGet(t, s, y.ID), "a rejected Update changes nothing")
	require.Empty(t, listAll(t, s, storage.AgentFilter{Capabilities: []string{"stolen"}}))

	// Keeping one's own (name, version) is no conflict.
	same := clone(y)
	same.Endpoint = "http://y.agents.test:9090"
	require.NoError(t, s.Agents().Update(t.Context(), same))
	require.EqualValues(t, 2, same.Revision)
}

func testUpdateStatus(t *testing.T, s storage.Store) {
	a := mustCreate(t, s, newAgent("status", "1"))
	created := mustGet(t, s, a.ID)

	st := fullStatus(time.Minute)
	require.NoError(t, s.Agents().UpdateStatus(t.Context(), a.ID, st))
	got := mustGet(t, s, a.ID)
	require.Equal(t, stored(st), got.Status)

	// Everything else is untouched, except the write counters.
	require.EqualValues(t, 2, got.Revision)
	require.False(t, got.UpdatedAt.Before(created.UpdatedAt), "UpdatedAt moves forward")
	want := clone(created)
	want.Status, want.Revision, want.UpdatedAt = got.Status, got.Revision, got.UpdatedAt
	requireSameAgent(t, want, got)

	// A status without evidence is unknown, with its times cleared.
	require.NoError(t, s.Agents().UpdateStatus(t.Context(), a.ID, storage.AgentStatus{}))
	require.Equal(t, storage.AgentStatus{Health: storage.HealthUnknown}, mustGet(t, s, a.ID).Status)
}

func testUpdateStatusRejectsInvalid(t *testing.T, s storage.Store) {
	a := newAgent("status-invalid", "1")
	a.Status = fullStatus(0)
	mustCreate(t, s, a)
	before := mustGet(t, s, a.ID)

	err := s.Agents().UpdateStatus(t.Context(), a.ID, storage.AgentStatus{Health: "sick"})
	require.Error(t, err)
	require.NotErrorIs(t, err, storage.ErrNotFound)
	requireSameAgent(t, before, mustGet(t, s, a.ID), "a rejected UpdateStatus changes nothing")
}

func testRevisionCountsEveryWrite(t *testing.T, s storage.Store) {
	ctx := t.Context()
	a := mustCreate(t, s, newAgent("revisions", "1"))
	require.EqualValues(t, 1, mustGet(t, s, a.ID).Revision)

	require.NoError(t, s.Agents().UpdateStatus(ctx, a.ID, fullStatus(0)))
	require.EqualValues(t, 2, mustGet(t, s, a.ID).Revision)

	require.NoError(t, s.Agents().Update(ctx, a))
	require.EqualValues(t, 3, a.Revision)
	require.EqualValues(t, 3, mustGet(t, s, a.ID).Revision)

	a.Revision = 1 // a stale revision in the struct does not matter
	require.NoError(t, s.Agents().Update(ctx, a))
	require.EqualValues(t, 4, a.Revision)

	require.NoError(t, s.Agents().UpdateStatus(ctx, a.ID, storage.AgentStatus{Health: storage.HealthHealthy}))
	require.EqualValues(t, 5, mustGet(t, s, a.ID).Revision)
}

func testDelete(t *testing.T, s storage.Store) {
	ctx := t.Context()
	gone := mustCreate(t, s, newAgent("gone", "1"))
	kept := mustCreate(t, s, newAgent("kept", "1"))

	require.NoError(t, s.Agents().Delete(ctx, gone.ID))
	_, err := s.Agents().Get(ctx, gone.ID)
	require.ErrorIs(t, err, storage.ErrNotFound)
	require.ErrorIs(t, s.Agents().Delete(ctx, gone.ID), storage.ErrNotFound, "a second Delete")
	require.Equal(t, []string{kept.ID}, ids(listAll(t, s, storage.AgentFilter{Capabilities: []string{"search"}})),
		"a deleted agent leaves no index rows behind")
	require.Equal(t, []string{kept.ID}, ids(listAll(t, s, storage.AgentFilter{Tags: []string{"prod"}})))

	// Its (name, version) is free again, under a new ID.
	again := mustCreate(t, s, newAgent("gone", "1"))
	require.NotEqual(t, gone.ID, again.ID)
}
