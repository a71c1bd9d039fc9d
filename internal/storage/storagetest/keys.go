package storagetest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/ossa-platform/ossa/internal/storage"
)

// newKey returns a key record with a hash derived from seed.
func newKey(seed string) *storage.APIKey {
	sum := sha256.Sum256([]byte(seed))
	return &storage.APIKey{Name: seed, Role: "operator", Prefix: "ossa_" + seed[:min(4, len(seed))], Hash: hex.EncodeToString(sum[:])}
}

func mustCreateKey(t *testing.T, s storage.Store, k *storage.APIKey) *storage.APIKey {
	t.Helper()
	require.NoError(t, s.Keys().Create(t.Context(), k), "create key %s", k.Name)
	return k
}

func testKeyRoundTrip(t *testing.T, s storage.Store) {
	ctx := t.Context()
	require.Zero(t, mustCount(t, s))
	in := newKey("round-trip")
	in.Role, in.Agent = "agent", "echo"
	in.ExpiresAt = oddTime(24 * time.Hour)
	k := *in
	before := time.Now()
	require.NoError(t, s.Keys().Create(ctx, &k))

	parsed, err := uuid.Parse(k.ID)
	require.NoError(t, err)
	require.Equal(t, uuid.Version(7), parsed.Version())
	require.WithinDuration(t, before, k.CreatedAt, time.Minute)
	require.Equal(t, time.UTC, k.CreatedAt.Location())
	want := *in
	want.ID, want.CreatedAt = k.ID, k.CreatedAt
	want.ExpiresAt = in.ExpiresAt.UTC().Truncate(time.Microsecond)
	require.Equal(t, want, k, "Create leaves in *k what it stored")

	got, err := s.Keys().Get(ctx, k.ID)
	require.NoError(t, err)
	require.Equal(t, want, *got)
	byHash, err := s.Keys().GetByHash(ctx, in.Hash)
	require.NoError(t, err)
	require.Equal(t, want, *byHash)
	require.Equal(t, 1, mustCount(t, s))

	_, err = s.Keys().Get(ctx, "no-such-key")
	require.ErrorIs(t, err, storage.ErrNotFound)
	_, err = s.Keys().GetByHash(ctx, newKey("other").Hash)
	require.ErrorIs(t, err, storage.ErrNotFound)
}

func testKeyDuplicateIsConflict(t *testing.T, s storage.Store) {
	k := mustCreateKey(t, s, newKey("dup"))
	again := newKey("dup")
	err := s.Keys().Create(t.Context(), again)
	require.ErrorIs(t, err, storage.ErrConflict, "same hash")
	require.NotContains(t, err.Error(), k.Hash, "errors never show a key's hash")
	sameID := newKey("other")
	sameID.ID = k.ID
	require.ErrorIs(t, s.Keys().Create(t.Context(), sameID), storage.ErrConflict, "same ID")
}

func testKeyRevoke(t *testing.T, s storage.Store) {
	ctx := t.Context()
	k := mustCreateKey(t, s, newKey("revoke"))
	now := time.Now()
	require.True(t, k.Active(now))
	first := oddTime(0)
	require.NoError(t, s.Keys().Revoke(ctx, k.ID, first))
	require.NoError(t, s.Keys().Revoke(ctx, k.ID, first.Add(time.Hour)), "revoking twice is fine")
	got, err := s.Keys().Get(ctx, k.ID)
	require.NoError(t, err)
	require.Equal(t, first.UTC().Truncate(time.Microsecond), got.RevokedAt, "the first revocation is kept")
	require.False(t, got.Active(now))
	require.ErrorIs(t, s.Keys().Revoke(ctx, "no-such-key", first), storage.ErrNotFound)

	expiring := newKey("expiring")
	expiring.ExpiresAt = now.Add(time.Minute)
	mustCreateKey(t, s, expiring)
	require.True(t, expiring.Active(now))
	require.False(t, expiring.Active(now.Add(time.Minute)), "a key is expired at its expiry time")
}

func testKeyTouchLastUsed(t *testing.T, s storage.Store) {
	ctx := t.Context()
	k := mustCreateKey(t, s, newKey("touch"))
	require.True(t, k.LastUsedAt.IsZero())
	later := oddTime(time.Hour)
	require.NoError(t, s.Keys().TouchLastUsed(ctx, k.ID, later))
	require.NoError(t, s.Keys().TouchLastUsed(ctx, k.ID, oddTime(0)), "an earlier time changes nothing")
	got, err := s.Keys().Get(ctx, k.ID)
	require.NoError(t, err)
	require.Equal(t, later.UTC().Truncate(time.Microsecond), got.LastUsedAt)
	require.ErrorIs(t, s.Keys().TouchLastUsed(ctx, "no-such-key", later), storage.ErrNotFound)
}

func testKeyList(t *testing.T, s storage.Store) {
	ctx := t.Context()
	page, err := s.Keys().List(ctx, storage.KeyFilter{})
	require.NoError(t, err)
	require.NotNil(t, page.Keys)
	require.Empty(t, page.Keys)

	var want []string
	for i := range 7 {
		want = append(want, mustCreateKey(t, s, newKey(fmt.Sprintf("list-%02d", i))).ID)
	}
	require.NoError(t, s.Keys().Revoke(ctx, want[3], time.Now()))
	var got []string
	f := storage.KeyFilter{Limit: 3}
	for pages := 0; ; pages++ {
		require.Less(t, pages, 10)
		page, err := s.Keys().List(ctx, f)
		require.NoError(t, err)
		for _, k := range page.Keys {
			got = append(got, k.ID)
		}
		if page.NextCursor == "" {
			break
		}
		require.Len(t, page.Keys, 3)
		f.Cursor = page.NextCursor
	}
	require.True(t, slices.IsSorted(want), "IDs are time-ordered")
	require.Equal(t, want, got, "every key, revoked too, in creation order")
	require.Equal(t, 7, mustCount(t, s))

	_, err = s.Keys().List(ctx, storage.KeyFilter{Cursor: "!!"})
	require.ErrorIs(t, err, storage.ErrInvalidCursor)
}

func mustCount(t *testing.T, s storage.Store) int {
	t.Helper()
	n, err := s.Keys().Count(t.Context())
	require.NoError(t, err)
	return n
}
