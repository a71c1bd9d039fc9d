package storage

import (
	"context"
	"time"
)

// APIKey is a stored API key. The key itself is never stored: Hash is its
// SHA-256 (hex), which is enough for keys of 32 random bytes, and Prefix its
// first characters, shown in lists so people can tell keys apart.
//
// Times are UTC at microsecond precision; a zero time means "never".
type APIKey struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Role is one of auth.Roles.
	Role string `json:"role"`
	// Agent binds an agent-role key to one agent name; empty otherwise.
	Agent  string `json:"agent,omitempty"`
	Prefix string `json:"prefix"`
	// Hash is the hex SHA-256 of the key; never shown by the API.
	Hash       string    `json:"-"`
	CreatedAt  time.Time `json:"created_at"`
	ExpiresAt  time.Time `json:"expires_at,omitzero"`
	RevokedAt  time.Time `json:"revoked_at,omitzero"`
	LastUsedAt time.Time `json:"last_used_at,omitzero"`
}

// Active reports whether the key may authenticate at now: not revoked and not
// expired.
func (k *APIKey) Active(now time.Time) bool {
	return k.RevokedAt.IsZero() && (k.ExpiresAt.IsZero() || now.Before(k.ExpiresAt))
}

// KeyFilter pages through keys.
type KeyFilter struct {
	// Cursor is a previous page's NextCursor; Limit is as for AgentFilter.
	Cursor string
	Limit  int
}

// KeyPage is one page of keys in creation (ID) order; NextCursor is empty on
// the last page.
type KeyPage struct {
	Keys       []APIKey
	NextCursor string
}

// KeyStore persists API keys.
type KeyStore interface {
	// Create stores a new key. Create sets ID (if empty, to a UUIDv7) and
	// CreatedAt (if zero, to now); on success *k is what Get returns. A
	// duplicate ID or Hash is ErrConflict.
	Create(ctx context.Context, k *APIKey) error
	// Get returns the key with this ID or ErrNotFound.
	Get(ctx context.Context, id string) (*APIKey, error)
	// GetByHash returns the key whose Hash is hash, revoked and expired ones
	// included, or ErrNotFound.
	GetByHash(ctx context.Context, hash string) (*APIKey, error)
	// List returns every key, revoked and expired ones included, a page at a
	// time.
	List(ctx context.Context, f KeyFilter) (KeyPage, error)
	// Revoke sets RevokedAt to at unless the key is already revoked (the
	// first revocation is kept). ErrNotFound if absent.
	Revoke(ctx context.Context, id string, at time.Time) error
	// TouchLastUsed moves LastUsedAt forward to at; an earlier at changes
	// nothing. ErrNotFound if absent. Callers throttle it: it is a write.
	TouchLastUsed(ctx context.Context, id string, at time.Time) error
	// Count returns how many keys exist, revoked and expired ones included.
	Count(ctx context.Context) (int, error)
}
