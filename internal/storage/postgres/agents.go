package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ossa-platform/ossa/internal/storage"
)

// agentStore keeps each write to one statement, so none needs a transaction.
type agentStore struct {
	pool *pgxpool.Pool
}

// agentColumns is the select list scanAgent reads, in its order.
const agentColumns = `id, name, version, tier, tier_reached, class, capabilities, tags, protocol, endpoint,
	manifest, health, reason, last_heartbeat_at, last_probe_at, probes_total, probes_ok, latency_ms, uptime,
	healthy_since, revision, created_at, updated_at`

// uniqueViolation is SQLSTATE unique_violation.
const uniqueViolation = "23505"

// Create implements storage.AgentStore.
func (s agentStore) Create(ctx context.Context, a *storage.Agent) error {
	id := a.ID
	if id == "" {
		u, err := uuid.NewV7()
		if err != nil {
			return fmt.Errorf("create agent %s@%s: new id: %w", a.Name, a.Version, err)
		}
		id = u.String()
	}
	m, err := encodeManifestFields(a)
	if err != nil {
		return fmt.Errorf("create agent %s@%s: %w", a.Name, a.Version, err)
	}
	st, err := encodeStatus(a.Status)
	if err != nil {
		return fmt.Errorf("create agent %s@%s: %w", a.Name, a.Version, err)
	}
	args := append(append([]any{id}, m.args()...), st.args()...)
	args = append(args, now())
	row := s.pool.QueryRow(ctx, `INSERT INTO agents (id,
		name, version, tier, tier_reached, tier_rank, class, capabilities, tags, protocol, endpoint, manifest,
		health, reason, last_heartbeat_at, last_probe_at, probes_total, probes_ok, latency_ms, uptime, healthy_since,
		revision, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21,
		1, $22, $22)
		RETURNING `+agentColumns, args...)
	got, err := scanAgent(row)
	if err != nil {
		if detail, ok := uniqueViolationDetail(err); ok {
			return fmt.Errorf("create agent %s@%s: %w: %s", a.Name, a.Version, storage.ErrConflict, detail)
		}
		return fmt.Errorf("create agent %s@%s: %w", a.Name, a.Version, err)
	}
	*a = *got
	return nil
}

// Get implements storage.AgentStore.
func (s agentStore) Get(ctx context.Context, id string) (*storage.Agent, error) {
	a, err := scanAgent(s.pool.QueryRow(ctx, `SELECT `+agentColumns+` FROM agents WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("get agent %s: %w", id, storage.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get agent %s: %w", id, err)
	}
	return a, nil
}

// Update implements storage.AgentStore.
func (s agentStore) Update(ctx context.Context, a *storage.Agent) error {
	m, err := encodeManifestFields(a)
	if err != nil {
		return fmt.Errorf("update agent %s: %w", a.ID, err)
	}
	args := append(m.args(), now(), a.ID)
	got, err := scanAgent(s.pool.QueryRow(ctx, `UPDATE agents SET
		name = $1, version = $2, tier = $3, tier_reached = $4, tier_rank = $5, class = $6,
		capabilities = $7, tags = $8, protocol = $9, endpoint = $10, manifest = $11,
		revision = revision + 1, updated_at = $12
		WHERE id = $13
		RETURNING `+agentColumns, args...))
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("update agent %s: %w", a.ID, storage.ErrNotFound)
	}
	if detail, ok := uniqueViolationDetail(err); ok {
		return fmt.Errorf("update agent %s to %s@%s: %w: %s", a.ID, a.Name, a.Version, storage.ErrConflict, detail)
	}
	if err != nil {
		return fmt.Errorf("update agent %s: %w", a.ID, err)
	}
	*a = *got
	return nil
}

// UpdateStatus implements storage.AgentStore.
func (s agentStore) UpdateStatus(ctx context.Context, id string, status storage.AgentStatus) error {
	st, err := encodeStatus(status)
	if err != nil {
		return fmt.Errorf("update agent %s status: %w", id, err)
	}
	args := append(st.args(), now(), id)
	tag, err := s.pool.Exec(ctx, `UPDATE agents SET
		health = $1, reason = $2, last_heartbeat_at = $3, last_probe_at = $4, probes_total = $5, probes_ok = $6,
		latency_ms = $7, uptime = $8, healthy_since = $9,
		revision = revision + 1, updated_at = $10
		WHERE id = $11`, args...)
	if err != nil {
		return fmt.Errorf("update agent %s status: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("update agent %s status: %w", id, storage.ErrNotFound)
	}
	return nil
}

// Delete implements storage.AgentStore.
func (s agentStore) Delete(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM agents WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("delete agent %s: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("delete agent %s: %w", id, storage.ErrNotFound)
	}
	return nil
}

// uniqueViolationDetail reports whether err is a unique violation and, if
// so, the server's description of the clash ("Key (name, version)=(…)
// already exists.").
func uniqueViolationDetail(err error) (string, bool) {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == uniqueViolation {
		return pgErr.Detail, true
	}
	return "", false
}
