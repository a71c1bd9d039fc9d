package postgres_test

import (
	"net/url"
	"testing"

	"github.com/pressly/goose/v3"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/ossa-platform/ossa/internal/storage"
	"github.com/ossa-platform/ossa/internal/storage/postgres"
	"github.com/ossa-platform/ossa/internal/storage/storagetest"
	"github.com/ossa-platform/ossa/internal/testenv"
)

// TestMain fails the package if any goroutine outlives the tests: every
// store is closed by then, so none of the pool's may remain.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func open(tb testing.TB, url string) *postgres.Store {
	tb.Helper()
	s, err := postgres.Open(tb.Context(), url)
	require.NoError(tb, err)
	return s
}

// openStore opens a store on a fresh schema of the test database.
func openStore(tb testing.TB) *postgres.Store {
	tb.Helper()
	return open(tb, testenv.PostgresURL(tb))
}

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store { return openStore(t) })
}

// TestSearchPathFromURL checks that a URL parameter pgx does not know
// reaches the server as a session setting, so search_path picks the schema.
func TestSearchPathFromURL(t *testing.T) {
	raw := testenv.PostgresURL(t)
	u, err := url.Parse(raw)
	require.NoError(t, err)
	schema := u.Query().Get("search_path")
	require.NotEmpty(t, schema)

	s := open(t, raw)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	require.NoError(t, s.Migrate(t.Context()))

	var current, appName string
	var inSchema bool
	require.NoError(t, s.Pool().QueryRow(t.Context(), `SELECT current_schema(), current_setting('application_name'),
		EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = $1 AND tablename = 'agents')`, schema).
		Scan(&current, &appName, &inSchema))
	require.Equal(t, schema, current)
	require.True(t, inSchema, "the tables are created in the URL's schema")
	require.Equal(t, "ossa", appName, "application_name defaults to ossa")
}

func TestMissingSchemaIsAnError(t *testing.T) {
	raw := testenv.PostgresURL(t)
	u, err := url.Parse(raw)
	require.NoError(t, err)
	q := u.Query()
	q.Set("search_path", "ossa_no_such_schema")
	u.RawQuery = q.Encode()

	s := open(t, u.String())
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	require.ErrorContains(t, s.Migrate(t.Context()), "no existing schema")
}

// TestConcurrentMigrate plays replicas starting together: each migrates the
// same schema at once, all succeed, and the schema is migrated once.
func TestConcurrentMigrate(t *testing.T) {
	raw := testenv.PostgresURL(t)
	stores := make([]*postgres.Store, 4)
	for i := range stores {
		stores[i] = open(t, raw)
		t.Cleanup(func() { require.NoError(t, stores[i].Close()) })
	}
	errs := make([]error, len(stores))
	start := make(chan struct{})
	done := make(chan int)
	for i, s := range stores {
		go func() {
			<-start
			errs[i] = s.Migrate(t.Context())
			done <- i
		}()
	}
	close(start)
	for range stores {
		<-done
	}
	for i, err := range errs {
		require.NoError(t, err, "store %d", i)
	}

	st, err := stores[0].MigrationStatus(t.Context())
	require.NoError(t, err)
	require.NotEmpty(t, st)
	for _, m := range st {
		require.Equal(t, goose.StateApplied, m.State, m.Source.Path)
	}
	var applied int
	require.NoError(t, stores[0].Pool().QueryRow(t.Context(),
		`SELECT count(*) FROM goose_db_version WHERE version_id > 0`).Scan(&applied))
	require.Equal(t, len(st), applied, "each migration recorded once")
	require.NoError(t, stores[1].Agents().Create(t.Context(), &storage.Agent{Name: "after", Version: "1"}))
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
}

// TestOpenUnreachable needs no server: a refused connection fails Open, and
// the error does not echo the password.
func TestOpenUnreachable(t *testing.T) {
	_, err := postgres.Open(t.Context(), "postgres://ossa:s3cret-pw@127.0.0.1:1/ossa?connect_timeout=2&sslmode=disable")
	require.Error(t, err)
	require.NotContains(t, err.Error(), "s3cret-pw")

	_, err = postgres.Open(t.Context(), "postgres://ossa:s3cret-pw@127.0.0.1:notaport/ossa")
	require.Error(t, err)
	require.NotContains(t, err.Error(), "s3cret-pw")
}

func BenchmarkCreateAgent(b *testing.B) {
	storagetest.BenchCreateAgent(b, func(b *testing.B) storage.Store { return openStore(b) })
}

func BenchmarkListByCapability(b *testing.B) {
	storagetest.BenchListByCapability(b, func(b *testing.B) storage.Store { return openStore(b) },
		func(b *testing.B, s storage.Store) {
			_, err := s.(*postgres.Store).Pool().Exec(b.Context(), "ANALYZE agents")
			require.NoError(b, err)
		})
}
