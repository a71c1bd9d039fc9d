package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"

	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// migrations holds the schema, one goose SQL file per version
// (00001_agents.sql, 00002_….sql); a new file here is all a new migration
// needs.
//
//go:embed migrations/*.sql
var migrations embed.FS

// Migrate applies every embedded migration not yet applied, in the schema
// search_path selects. It is a no-op when none is pending.
//
// Processes that migrate at once (replicas starting together, a Helm hook
// Job next to a running server) queue on a session advisory lock and each
// applies only what the others have not: the rest find nothing pending.
func (s *Store) Migrate(ctx context.Context) error {
	err := s.withProvider(ctx, func(p *goose.Provider) error {
		_, err := p.Up(ctx)
		return err
	})
	if err != nil {
		return fmt.Errorf("migrate postgres: %w", err)
	}
	return nil
}

// MigrationStatus reports every embedded migration, applied or pending, in
// version order.
func (s *Store) MigrationStatus(ctx context.Context) ([]*goose.MigrationStatus, error) {
	var st []*goose.MigrationStatus
	err := s.withProvider(ctx, func(p *goose.Provider) error {
		var err error
		st, err = p.Status(ctx)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres migration status: %w", err)
	}
	return st, nil
}

// withProvider runs fn with a goose provider on a database/sql view of the
// pool, closed afterwards (closing it leaves the pool open).
func (s *Store) withProvider(ctx context.Context, fn func(*goose.Provider) error) error {
	var schema *string
	if err := s.pool.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		return fmt.Errorf("current schema: %w", err)
	}
	if schema == nil {
		return errors.New("search_path names no existing schema")
	}
	// The advisory lock is database-wide, so its key is derived from the
	// schema: migrations of different schemas (test runs, environments
	// sharing a server) do not wait for each other. Polling every second
	// rather than goose's default five keeps a queued replica's start fast.
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(lockID(*schema)), lock.WithLockTimeout(1, 300))
	if err != nil {
		return err
	}
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	db := stdlib.OpenDBFromPool(s.pool)
	p, err := goose.NewProvider(goose.DialectPostgres, db, fsys,
		goose.WithSessionLocker(locker),
		// Go migrations registered globally by any other package must not
		// leak into this schema.
		goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return errors.Join(err, db.Close())
	}
	return errors.Join(fn(p), db.Close())
}

func lockID(schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("ossa migrate " + schema))
	return int64(h.Sum64())
}
