package storagetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ossa-platform/ossa/internal/storage"
)

// Enough writers to queue on SQLite's single writer and PostgreSQL's pool
// (max(4, NumCPU) connections by default) without slowing a 2-core CI box.
const (
	writers          = 16
	writesPerWriter  = 8
	sameNameContests = 24
)

// concurrently runs fn(i) for i in [0, n) on n goroutines released together,
// and returns their errors by i.
func concurrently(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = fn(i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

func testConcurrentCreatesDistinct(t *testing.T, s storage.Store) {
	errs := concurrently(writers, func(w int) error {
		for i := range writesPerWriter {
			a := newAgent(fmt.Sprintf("writer-%02d-agent-%02d", w, i), "1")
			if err := s.Agents().Create(t.Context(), a); err != nil {
				return err
			}
		}
		return nil
	})
	for w, err := range errs {
		require.NoError(t, err, "writer %d: no create may fail (SQLITE_BUSY, deadlock, …)", w)
	}
	all := listAll(t, s, storage.AgentFilter{Limit: 500})
	require.Len(t, all, writers*writesPerWriter)
	require.Len(t, slices.Compact(ids(all)), writers*writesPerWriter, "distinct IDs")
}

func testConcurrentCreatesSameName(t *testing.T, s storage.Store) {
	agents := make([]*storage.Agent, sameNameContests)
	errs := concurrently(sameNameContests, func(i int) error {
		agents[i] = newAgent("contested", "1.0.0")
		agents[i].Endpoint = fmt.Sprintf("http://contender-%d.agents.test", i)
		return s.Agents().Create(t.Context(), agents[i])
	})
	winner := -1
	for i, err := range errs {
		if err == nil {
			require.Equal(t, -1, winner, "a second Create of the same (name, version) succeeded")
			winner = i
			continue
		}
		require.ErrorIs(t, err, storage.ErrConflict, "contender %d", i)
	}
	require.NotEqual(t, -1, winner, "one Create must win")

	all := listAll(t, s, storage.AgentFilter{})
	require.Len(t, all, 1)
	require.Equal(t, agents[winner].ID, all[0].ID)
	require.Equal(t, agents[winner].Endpoint, all[0].Endpoint)
}

func testConcurrentStatusUpdates(t *testing.T, s storage.Store) {
	a := mustCreate(t, s, newAgent("busy", "1"))
	errs := concurrently(writers, func(w int) error {
		var errs []error
		for range writesPerWriter {
			errs = append(errs, s.Agents().UpdateStatus(t.Context(), a.ID, fullStatus(0)))
		}
		return errors.Join(errs...)
	})
	for w, err := range errs {
		require.NoError(t, err, "writer %d", w)
	}
	require.EqualValues(t, 1+writers*writesPerWriter, mustGet(t, s, a.ID).Revision, "no write is lost")
}

func testMigrateIsIdempotent(t *testing.T, s storage.Store) {
	a := mustCreate(t, s, newAgent("survivor", "1"))
	before := mustGet(t, s, a.ID)
	for range 2 {
		require.NoError(t, s.Migrate(t.Context()))
	}
	requireSameAgent(t, before, mustGet(t, s, a.ID), "migrating again changes no data")
	mustCreate(t, s, newAgent("after-migrate", "1"))
}

func testPingAndClose(t *testing.T, s storage.Store) {
	require.NoError(t, s.Ping(t.Context()))
	require.NoError(t, s.Close())
	require.Error(t, s.Ping(t.Context()), "a closed store does not answer")
	require.NoError(t, s.Close(), "Close is idempotent")
}
