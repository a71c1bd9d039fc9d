// Package sqlite is the embedded storage driver: one SQLite file, opened
// through modernc.org/sqlite (pure Go, no cgo).
//
// SQLite allows one writer at a time. Rather than let concurrent writers
// collide and sleep in SQLite's busy handler, the store keeps two pools on the
// same file: a write pool of exactly one connection, through which every write
// is queued in Go, and a read pool of several query-only connections, which
// WAL mode lets run alongside the writer. busy_timeout still covers the
// writers this process does not control (another process on the same file).
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	// Registers the "sqlite" database/sql driver.
	_ "modernc.org/sqlite"

	"github.com/ossa-platform/ossa/internal/storage"
)

// busyTimeoutMS is how long a statement waits for a lock held by another
// connection before failing with SQLITE_BUSY. Within one process only the
// read pool can meet a lock (briefly, during WAL checkpoints); the wait
// matters when a second process, such as `ossa migrate`, writes the file.
const busyTimeoutMS = 10_000

// Store is a storage.Store on one SQLite database file.
type Store struct {
	write *sql.DB
	read  *sql.DB
	// stmts holds the prepared statements of hot paths (tasks).
	stmts *stmtCache
}

var _ storage.Store = (*Store)(nil)

// Open opens (creating if needed) the SQLite database at location and checks
// that it answers. It does not migrate; call Migrate.
//
// location is one of:
//   - a plain path without '?': "data/ossa.db", "/var/lib/ossa/ossa.db";
//   - "sqlite://" followed by a path, taken verbatim: "sqlite://data/ossa.db"
//     (relative), "sqlite:///var/lib/ossa/ossa.db" (absolute);
//   - a file URI: "file:data/ossa.db", "file:///var/lib/ossa/ossa.db",
//     percent-decoded.
//
// Query parameters are rejected: the driver owns the connection settings
// (WAL, busy_timeout, foreign keys, immediate transactions). In-memory
// databases are rejected too, since the two pools must share one file; tests
// use a file under t.TempDir(). The parent directory is created if missing.
func Open(ctx context.Context, location string) (*Store, error) {
	path, err := parseLocation(location)
	if err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	path, err = filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", location, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("open sqlite %s: create directory: %w", path, err)
	}

	// The writer opens first: its first connection switches the file to WAL
	// (a persistent setting), which the query-only readers could not do.
	write, err := openPool(ctx, path, writerParams(), 1)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: write pool: %w", path, err)
	}
	read, err := openPool(ctx, path, readerParams(), max(4, runtime.GOMAXPROCS(0)))
	if err != nil {
		return nil, errors.Join(fmt.Errorf("open sqlite %s: read pool: %w", path, err), write.Close())
	}
	return &Store{write: write, read: read, stmts: &stmtCache{}}, nil
}

// DB returns the write handle: a pool of one connection, which is also what
// River's SQLite driver asks for. Whatever writes through it is queued with
// the store's own writes instead of contending for SQLite's lock. Transactions
// on it begin IMMEDIATE. The handle belongs to the Store; do not close it.
func (s *Store) DB() *sql.DB { return s.write }

// Agents returns the agent store.
func (s *Store) Agents() storage.AgentStore { return agentStore{write: s.write, read: s.read} }

// Keys returns the API key store.
func (s *Store) Keys() storage.KeyStore { return keyStore{write: s.write, read: s.read} }

// Audit returns the audit log.
func (s *Store) Audit() storage.AuditStore { return auditStore{write: s.write, read: s.read} }

// Ping reports whether both pools reach the database.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.write.PingContext(ctx); err != nil {
		return fmt.Errorf("ping sqlite: %w", err)
	}
	if err := s.read.PingContext(ctx); err != nil {
		return fmt.Errorf("ping sqlite: %w", err)
	}
	return nil
}

// Close closes both pools. It is idempotent.
func (s *Store) Close() error {
	// Readers first, so the writer's connection is the last one and SQLite
	// checkpoints the WAL into the main file as it closes.
	if err := errors.Join(s.stmts.close(), s.read.Close(), s.write.Close()); err != nil {
		return fmt.Errorf("close sqlite: %w", err)
	}
	return nil
}

// parseLocation turns the forms Open accepts into a filesystem path.
func parseLocation(location string) (string, error) {
	var path string
	switch {
	case strings.HasPrefix(location, "sqlite://"):
		path = strings.TrimPrefix(location, "sqlite://")
		if strings.ContainsAny(path, "?#") {
			return "", fmt.Errorf("%q: query parameters are not accepted", location)
		}
	case strings.HasPrefix(location, "file:"):
		u, err := url.Parse(location)
		if err != nil {
			return "", fmt.Errorf("%q: %w", location, err)
		}
		if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
			return "", fmt.Errorf("%q: query parameters are not accepted", location)
		}
		if u.Opaque != "" { // file:relative/path
			if path, err = url.PathUnescape(u.Opaque); err != nil {
				return "", fmt.Errorf("%q: %w", location, err)
			}
			break
		}
		if u.Host != "" && u.Host != "localhost" {
			return "", fmt.Errorf("%q: remote host %q is not supported", location, u.Host)
		}
		path = u.Path
	default:
		// A '?' is far likelier a DSN parameter than part of a file name;
		// a literal one can be written as file:name%3F.db.
		if strings.Contains(location, "?") {
			return "", fmt.Errorf("%q: query parameters are not accepted", location)
		}
		path = location
	}
	switch {
	case path == "":
		return "", errors.New("empty database path")
	case path == ":memory:":
		return "", fmt.Errorf("%q: in-memory databases are not supported; use a file", location)
	}
	return path, nil
}
