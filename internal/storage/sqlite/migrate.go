package sqlite

import (
	"context"
	"embed"
	"fmt"
	"io/fs"

	"github.com/pressly/goose/v3"
)

// migrations holds the schema, one goose SQL file per version
// (00001_agents.sql, 00002_….sql); a new file here is all a new migration
// needs.
//
//go:embed migrations/*.sql
var migrations embed.FS

// Migrate applies every embedded migration not yet applied. It is a no-op
// when none is pending.
//
// It runs on the write pool, so within one process it is queued with writes.
// SQLite has no session lock for goose to take: two processes must not
// migrate the same file at once (embedded mode has one).
func (s *Store) Migrate(ctx context.Context) error {
	p, err := s.provider()
	if err != nil {
		return fmt.Errorf("migrate sqlite: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate sqlite: %w", err)
	}
	return nil
}

// MigrationStatus reports every embedded migration, applied or pending, in
// version order.
func (s *Store) MigrationStatus(ctx context.Context) ([]*goose.MigrationStatus, error) {
	p, err := s.provider()
	if err != nil {
		return nil, fmt.Errorf("sqlite migration status: %w", err)
	}
	st, err := p.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("sqlite migration status: %w", err)
	}
	return st, nil
}

func (s *Store) provider() (*goose.Provider, error) {
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	// Go migrations registered globally by any other package must not leak
	// into this schema.
	return goose.NewProvider(goose.DialectSQLite3, s.write, fsys, goose.WithDisableGlobalRegistry(true))
}
