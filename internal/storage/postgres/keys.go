package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ossa-platform/ossa/internal/storage"
)

// keyStore implements storage.KeyStore.
type keyStore struct {
	pool *pgxpool.Pool
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
	got, err := scanKey(s.pool.QueryRow(ctx, `INSERT INTO api_keys (`+keyColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING `+keyColumns,
		id, k.Name, k.Role, k.Agent, k.Prefix, k.Hash, encodeTime(created),
		encodeTime(k.ExpiresAt), encodeTime(k.RevokedAt), encodeTime(k.LastUsedAt)))
	if err != nil {
		if _, ok := uniqueViolationDetail(err); ok {
			// The constraint's detail would name the hash; it stays out of errors.
			return fmt.Errorf("create key %s: %w: id or hash exists", k.Name, storage.ErrConflict)
		}
		return fmt.Errorf("create key %s: %w", k.Name, err)
	}
	*k = *got
	return nil
}

// Get implements storage.KeyStore.
func (s keyStore) Get(ctx context.Context, id string) (*storage.APIKey, error) {
	k, err := scanKey(s.pool.QueryRow(ctx, `SELECT `+keyColumns+` FROM api_keys WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("get key %s: %w", id, storage.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get key %s: %w", id, err)
	}
	return k, nil
}

// GetByHash implements storage.KeyStore.
func (s keyStore) GetByHash(ctx context.Context, hash string) (*storage.APIKey, error) {
	k, err := scanKey(s.pool.QueryRow(ctx, `SELECT `+keyColumns+` FROM api_keys WHERE hash = $1`, hash))
	if errors.Is(err, pgx.ErrNoRows) {
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
	rows, err := s.pool.Query(ctx, `SELECT `+keyColumns+` FROM api_keys WHERE id > $1 ORDER BY id LIMIT $2`, after, limit+1)
	if err != nil {
		return storage.KeyPage{}, fmt.Errorf("list keys: %w", err)
	}
	keys, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (storage.APIKey, error) {
		k, err := scanKey(row)
		if err != nil {
			return storage.APIKey{}, err
		}
		return *k, nil
	})
	if err != nil {
		return storage.KeyPage{}, fmt.Errorf("list keys: %w", err)
	}
	var page storage.KeyPage
	page.Keys, page.NextCursor = storage.TrimPage(keys, limit, func(v storage.APIKey) string { return v.ID })
	return page, nil
}

// Revoke implements storage.KeyStore.
func (s keyStore) Revoke(ctx context.Context, id string, at time.Time) error {
	tag, err := s.pool.Exec(ctx, `UPDATE api_keys SET revoked_at = coalesce(revoked_at, $1) WHERE id = $2`, encodeTime(at), id)
	if err != nil {
		return fmt.Errorf("revoke key %s: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("revoke key %s: %w", id, storage.ErrNotFound)
	}
	return nil
}

// TouchLastUsed implements storage.KeyStore.
func (s keyStore) TouchLastUsed(ctx context.Context, id string, at time.Time) error {
	tag, err := s.pool.Exec(ctx, `UPDATE api_keys SET last_used_at = greatest(last_used_at, $1) WHERE id = $2`, encodeTime(at), id)
	if err != nil {
		return fmt.Errorf("touch key %s: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("touch key %s: %w", id, storage.ErrNotFound)
	}
	return nil
}

// Count implements storage.KeyStore.
func (s keyStore) Count(ctx context.Context) (int, error) {
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM api_keys`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count keys: %w", err)
	}
	return n, nil
}

func scanKey(row pgx.Row) (*storage.APIKey, error) {
	var (
		k                         storage.APIKey
		created                   time.Time
		expires, revoked, lastUse pgtype.Timestamptz
	)
	if err := row.Scan(&k.ID, &k.Name, &k.Role, &k.Agent, &k.Prefix, &k.Hash, &created, &expires, &revoked, &lastUse); err != nil {
		return nil, err
	}
	k.CreatedAt = created.UTC()
	k.ExpiresAt = decodeTime(expires)
	k.RevokedAt = decodeTime(revoked)
	k.LastUsedAt = decodeTime(lastUse)
	return &k, nil
}
