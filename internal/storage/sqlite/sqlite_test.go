package sqlite_test

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/pressly/goose/v3"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/ossa-platform/ossa/internal/storage"
	"github.com/ossa-platform/ossa/internal/storage/sqlite"
	"github.com/ossa-platform/ossa/internal/storage/storagetest"
)

// TestMain fails the package if any goroutine outlives the tests: every
// store is closed by then, so none of the driver's may remain.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func openStore(tb testing.TB) *sqlite.Store {
	tb.Helper()
	s, err := sqlite.Open(tb.Context(), filepath.Join(tb.TempDir(), "ossa.db"))
	require.NoError(tb, err)
	return s
}

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store { return openStore(t) })
}

func TestOpenLocations(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir) // for the relative forms
	tests := []struct {
		location string
		file     string // relative to dir
	}{
		{"plain.db", "plain.db"},
		{filepath.Join(dir, "abs", "plain.db"), "abs/plain.db"},
		{"nested/dirs/created.db", "nested/dirs/created.db"},
		{"odd#name%20.db", "odd#name%20.db"},
		{"file:odd%3Fname%23.db", "odd?name#.db"},
		{"sqlite://rel/scheme.db", "rel/scheme.db"},
		{"sqlite://" + filepath.Join(dir, "abs", "scheme.db"), "abs/scheme.db"},
		{"file:rel/uri.db", "rel/uri.db"},
		{"file:rel/with%20space.db", "rel/with space.db"},
		{"file://" + filepath.Join(dir, "abs", "uri.db"), "abs/uri.db"},
		{"file://localhost" + filepath.Join(dir, "abs", "local.db"), "abs/local.db"},
	}
	for _, tc := range tests {
		s, err := sqlite.Open(t.Context(), tc.location)
		require.NoError(t, err, tc.location)
		require.NoError(t, s.Migrate(t.Context()), tc.location)
		require.NoError(t, s.Close(), tc.location)
		require.FileExists(t, filepath.Join(dir, filepath.FromSlash(tc.file)), tc.location)
	}
}

func TestOpenRejects(t *testing.T) {
	dir := t.TempDir()
	for _, location := range []string{
		"",
		":memory:",
		"file::memory:",
		"sqlite://",
		filepath.Join(dir, "x.db") + "?_pragma=foreign_keys(0)",
		"sqlite://" + filepath.Join(dir, "x.db") + "?mode=ro",
		"file:" + filepath.Join(dir, "x.db") + "?mode=memory",
		"file://elsewhere/x.db",
	} {
		_, err := sqlite.Open(t.Context(), location)
		require.Error(t, err, "%q", location)
	}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Empty(t, entries, "a rejected location creates nothing")
}

func TestConnectionSettings(t *testing.T) {
	s := openStore(t)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	db := s.DB()
	require.Equal(t, 1, db.Stats().MaxOpenConnections, "one writer, queued in Go")
	for pragma, want := range map[string]string{
		"journal_mode": "wal",
		"foreign_keys": "1",
		"busy_timeout": "10000",
		"synchronous":  "2", // FULL
	} {
		var got string
		require.NoError(t, db.QueryRowContext(t.Context(), "PRAGMA "+pragma).Scan(&got), pragma)
		require.Equal(t, want, got, pragma)
	}
}

func TestMigrationStatus(t *testing.T) {
	s := openStore(t)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	st, err := s.MigrationStatus(t.Context())
	require.NoError(t, err)
	require.NotEmpty(t, st)
	require.Equal(t, int64(1), st[0].Source.Version)
	for _, m := range st {
		require.Equal(t, goose.StatePending, m.State, m.Source.Path)
	}

	require.NoError(t, s.Migrate(t.Context()))
	st, err = s.MigrationStatus(t.Context())
	require.NoError(t, err)
	for _, m := range st {
		require.Equal(t, goose.StateApplied, m.State, m.Source.Path)
	}
}

// TestTwoStoresOnOneFile plays two processes on one file (a server and the
// CLI): their writers contend for SQLite's lock, and busy_timeout with
// immediate transactions must turn that into waiting, never SQLITE_BUSY.
func TestTwoStoresOnOneFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shared.db")
	var stores [2]*sqlite.Store
	for i := range stores {
		s, err := sqlite.Open(t.Context(), path)
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, s.Close()) })
		stores[i] = s
	}
	require.NoError(t, stores[0].Migrate(t.Context()))

	const perStore, writers = 25, 4
	errs := make(chan error, len(stores)*writers)
	var wg sync.WaitGroup
	for i, s := range stores {
		for w := range writers {
			wg.Go(func() {
				for n := range perStore {
					a := &storage.Agent{Name: fmt.Sprintf("store%d-writer%d-%02d", i, w, n), Version: "1"}
					if err := s.Agents().Create(t.Context(), a); err != nil {
						errs <- err
						return
					}
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	for _, s := range stores {
		page, err := s.Agents().List(t.Context(), storage.AgentFilter{Limit: 500})
		require.NoError(t, err)
		require.Len(t, page.Agents, len(stores)*writers*perStore, "each store sees every write")
	}
}

func BenchmarkCreateAgent(b *testing.B) {
	storagetest.BenchCreateAgent(b, func(b *testing.B) storage.Store { return openStore(b) })
}

func BenchmarkListByCapability(b *testing.B) {
	// No statistics: the List query's plan does not depend on them.
	storagetest.BenchListByCapability(b, func(b *testing.B) storage.Store { return openStore(b) }, nil)
}
