package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/ossa-platform/ossa/internal/storage"
)

// keyStore implements storage.KeyStore; writes go through the write pool.
type keyStore struct {
	write *sql.DB
	read  *sql.DB
}

const keyColumns = `id, name, role, agent, prefix, hash, created_at, expires_at, revoked_at, last_used_at`

// Create implements storage.KeyStore.
func (s keyStore) Create(ctx context.Context, k *storage.APIKey) error {
	id := k.ID
	if id == "" {
		u, err := uuid.NewV7()
		if err != nil {
			return fmt.Errorf("create key %s: new id: %w", k.Name, err)
		}
		id = u.String()
	}
	created := k.CreatedAt
	if created.IsZero() {
		created = time.Now()
	}
	var times [4]any
	for i, t := range []time.Time{created, k.ExpiresAt, k.RevokedAt, k.LastUsedAt} {
		v, err := encodeTime(t)
		if err != nil {
			return fmt.Errorf("create key %s: %w", k.Name, err)
		}
		times[i] = v
	}
	got, err := scanKey(s.write.QueryRowContext(ctx, `INSERT INTO api_keys (`+keyColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING `+keyColumns,
		id, k.Name, k.Role, k.Agent, k.Prefix, k.Hash, times[0], times[1], times[2], times[3]))
	if err != nil {
		if isUniqueViolation(err) {
			// The constraint's text would name the hash; it stays out of errors.
			return fmt.Errorf("create key %s: %w: id or hash exists", k.Name, storage.ErrConflict)
		}
		return fmt.Errorf("create key %s: %w", k.Name, err)
	}
	*k = *got
	return nil
}

// Get implements storage.KeyStore.
func (s keyStore) Get(ctx context.Context, id string) (*storage.APIKey, error) {
	k, err := scanKey(s.read.QueryRowContext(ctx, `SELECT `+keyColumns+` FROM api_keys WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("get key %s: %w", id, storage.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get key %s: %w", id, err)
	}
	return k, nil
}

// GetByHash implements storage.KeyStore.
func (s keyStore) GetByHash(ctx context.Context, hash string) (*storage.APIKey, error) {
	k, err := scanKey(s.read.QueryRowContext(ctx, `SELECT `+keyColumns+` FROM api_keys WHERE hash = ?`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("get key by hash: %w", storage.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get key by hash: %w", err)
	}
	return k, nil
}

// List implements storage.KeyStore.
func (s keyStore) List(ctx context.Context, f storage.KeyFilter) (storage.KeyPage, error) {
	after := ""
	if f.Cursor != "" {
		var err error
		if after, err = storage.DecodeCursor(f.Cursor); err != nil {
			return storage.KeyPage{}, fmt.Errorf("list keys: %w", err)
		}
	}
	limit := storage.PageLimit(f.Limit)
	rows, err := s.read.QueryContext(ctx, `SELECT `+keyColumns+` FROM api_keys WHERE id > ? ORDER BY id LIMIT ?`, after, limit+1)
	if err != nil {
		return storage.KeyPage{}, fmt.Errorf("list keys: %w", err)
	}
	defer rows.Close()
	page := storage.KeyPage{Keys: []storage.APIKey{}}
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return storage.KeyPage{}, fmt.Errorf("list keys: %w", err)
		}
		page.Keys = append(page.Keys, *k)
	}
	if err := rows.Err(); err != nil {
		return storage.KeyPage{}, fmt.Errorf("list keys: %w", err)
	}
	page.Keys, page.NextCursor = storage.TrimPage(page.Keys, limit, func(v storage.APIKey) string { return v.ID })
	return page, nil
}

// Revoke implements storage.KeyStore.
func (s keyStore) Revoke(ctx context.Context, id string, at time.Time) error {
	v, err := encodeTime(at)
	if err != nil {
		return fmt.Errorf("revoke key %s: %w", id, err)
	}
	res, err := s.write.ExecContext(ctx, `UPDATE api_keys SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?`, v, id)
	if err != nil {
		return fmt.Errorf("revoke key %s: %w", id, err)
	}
	return mustAffect(res, "revoke key "+id)
}

// TouchLastUsed implements storage.KeyStore.
func (s keyStore) TouchLastUsed(ctx context.Context, id string, at time.Time) error {
	v, err := encodeTime(at)
	if err != nil {
		return fmt.Errorf("touch key %s: %w", id, err)
	}
	res, err := s.write.ExecContext(ctx, `UPDATE api_keys SET last_used_at = max(coalesce(last_used_at, ?), ?) WHERE id = ?`, v, v, id)
	if err != nil {
		return fmt.Errorf("touch key %s: %w", id, err)
	}
	return mustAffect(res, "touch key "+id)
}

// Count implements storage.KeyStore.
func (s keyStore) Count(ctx context.Context) (int, error) {
	var n int
	if err := s.read.QueryRowContext(ctx, `SELECT count(*) FROM api_keys`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count keys: %w", err)
	}
	return n, nil
}

func scanKey(sc scanner) (*storage.APIKey, error) {
	var (
		k                         storage.APIKey
		created                   int64
		expires, revoked, lastUse *int64
	)
	if err := sc.Scan(&k.ID, &k.Name, &k.Role, &k.Agent, &k.Prefix, &k.Hash, &created, &expires, &revoked, &lastUse); err != nil {
		return nil, err
	}
	k.CreatedAt = decodeTime(&created)
	k.ExpiresAt = decodeTime(expires)
	k.RevokedAt = decodeTime(revoked)
	k.LastUsedAt = decodeTime(lastUse)
	return &k, nil
}
