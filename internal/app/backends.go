package app

import (
	"context"
	"fmt"
	"strings"

	"github.com/ossa-platform/ossa/internal/storage"
	"github.com/ossa-platform/ossa/internal/storage/postgres"
	"github.com/ossa-platform/ossa/internal/storage/sqlite"
)

// OpenStore connects to the store a database URL names: postgres:// or
// postgresql:// for PostgreSQL, anything else is a SQLite file path.
func OpenStore(ctx context.Context, url string) (storage.Store, error) {
	if strings.HasPrefix(url, "postgres://") || strings.HasPrefix(url, "postgresql://") {
		return postgres.Open(ctx, url)
	}
	return sqlite.Open(ctx, url)
}

// IsEmbedded reports whether the database URL names the embedded SQLite store.
func IsEmbedded(url string) bool {
	return !strings.HasPrefix(url, "postgres://") && !strings.HasPrefix(url, "postgresql://")
}

func (a *App) initStore(ctx context.Context) (Service, error) {
	st, err := OpenStore(ctx, a.cfg.Database.URL)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", redacted(a.cfg.Database.URL), err)
	}
	if a.cfg.Database.AutoMigrate {
		if err := st.Migrate(ctx); err != nil {
			_ = st.Close()
			return nil, fmt.Errorf("migrate database: %w", err)
		}
	}
	a.store = st
	return nil, nil
}
