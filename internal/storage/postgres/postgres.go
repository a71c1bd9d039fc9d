// Package postgres is the cluster storage driver: PostgreSQL through a pgx/v5
// connection pool.
package postgres

import (
	"context"
	"fmt"
	"runtime"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ossa-platform/ossa/internal/groupcommit"
	"github.com/ossa-platform/ossa/internal/storage"
)

// Store is a storage.Store on a PostgreSQL database.
type Store struct {
	pool *pgxpool.Pool
	// taskWrites group-commits concurrent task writes (see taskStore).
	taskWrites *groupcommit.Batcher[statement, int]
}

var _ storage.Store = (*Store)(nil)

// Open connects to the database at url and checks that it answers. It does
// not migrate; call Migrate.
//
// url is a libpq URL or keyword/value string. Besides pgx's own settings
// (pool_max_conns, pool_max_conn_idle_time, … for the pool), any other
// parameter is sent to the server as a session setting on every connection:
// search_path=ossa puts the tables in schema ossa. application_name defaults
// to "ossa"; pool_max_conns to max(8, 4 × GOMAXPROCS).
func Open(ctx context.Context, url string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx redacts the password in its parse errors.
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	if !strings.Contains(url, "pool_max_conns") {
		cfg.MaxConns = defaultMaxConns()
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		cfg.ConnConfig.RuntimeParams["application_name"] = "ossa"
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres %s: %w", server(cfg), err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres %s: %w", server(cfg), err)
	}
	return &Store{pool: pool, taskWrites: newTaskWrites(pool)}, nil
}

// defaultMaxConns is the pool size when the URL sets none: pgx's own
// default, max(4, CPUs), starves a process whose task workers, River and
// HTTP handlers all hold connections across commits that wait for the disk.
func defaultMaxConns() int32 {
	return int32(max(8, 4*runtime.GOMAXPROCS(0)))
}

// server names the server and database for errors, without credentials.
func server(cfg *pgxpool.Config) string {
	return fmt.Sprintf("%s:%d/%s", cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database)
}

// Pool returns the connection pool, for River and other users of the same
// database. It belongs to the Store; do not close it.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Agents returns the agent store.
func (s *Store) Agents() storage.AgentStore { return agentStore{pool: s.pool} }

// Keys returns the API key store.
func (s *Store) Keys() storage.KeyStore { return keyStore{pool: s.pool} }

// Audit returns the audit log.
func (s *Store) Audit() storage.AuditStore { return auditStore{pool: s.pool} }

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("ping postgres: %w", err)
	}
	return nil
}

// Close closes the pool, waiting for acquired connections to be released. It
// is idempotent.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}
