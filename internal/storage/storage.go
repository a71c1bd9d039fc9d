// Package storage defines the system of record of ossa: one interface per
// aggregate, implemented by the sqlite (embedded) and postgres (cluster)
// drivers and proven equal by the storagetest conformance suite.
package storage

import (
	"context"
	"errors"
)

// Sentinel errors of the storage seam. Drivers wrap them; callers test with
// errors.Is and services map ErrNotFound to 404, ErrConflict to 409 and
// ErrInvalidCursor to 400.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("conflict")
	// ErrInvalidCursor reports a page cursor that no driver could have issued.
	ErrInvalidCursor = errors.New("invalid cursor")
)

// Store is a connected driver.
type Store interface {
	Agents() AgentStore
	// Keys holds the gateway's API keys.
	Keys() KeyStore
	// Audit holds the audit log of changes made through the API.
	Audit() AuditStore
	// Tasks holds the task service's tasks and their events.
	Tasks() TaskStore
	// Ping reports whether the backend answers; /readyz calls it.
	Ping(ctx context.Context) error
	// Migrate applies every embedded migration not yet applied. It is
	// idempotent: with nothing pending it changes nothing.
	Migrate(ctx context.Context) error
	// Close releases the store's connections and background goroutines. It
	// is idempotent.
	Close() error
}
