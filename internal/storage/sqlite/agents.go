package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/ossa-platform/ossa/internal/storage"
)

// agentStore writes through the one-connection write pool and reads through
// the read pool; see the package comment.
type agentStore struct {
	write *sql.DB
	read  *sql.DB
}

// agentColumns is the select list scanAgent reads, in its order.
const agentColumns = `id, name, version, tier, tier_reached, class, capabilities, tags, protocol, endpoint,
	manifest, health, reason, last_heartbeat_at, last_probe_at, probes_total, probes_ok, latency_ms, uptime,
	healthy_since, revision, created_at, updated_at`

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
	now := nowNanos()

	var got *storage.Agent
	err = inTx(ctx, s.write, func(tx *sql.Tx) error {
		args := append(append([]any{id}, m.args()...), st.args()...)
		args = append(args, now, now)
		row := tx.QueryRowContext(ctx, `INSERT INTO agents (id,
			name, version, tier, tier_reached, tier_rank, class, capabilities, tags, protocol, endpoint, manifest,
			health, reason, last_heartbeat_at, last_probe_at, probes_total, probes_ok, latency_ms, uptime, healthy_since,
			revision, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?)
			RETURNING `+agentColumns, args...)
		stored, err := scanAgent(row)
		if err != nil {
			return err
		}
		got = stored
		return insertLists(ctx, tx, id, m)
	})
	if err != nil {
		if isUniqueViolation(err) {
			return fmt.Errorf("create agent %s@%s: %w: %v", a.Name, a.Version, storage.ErrConflict, err)
		}
		return fmt.Errorf("create agent %s@%s: %w", a.Name, a.Version, err)
	}
	*a = *got
	return nil
}

// Get implements storage.AgentStore.
func (s agentStore) Get(ctx context.Context, id string) (*storage.Agent, error) {
	row := s.read.QueryRowContext(ctx, `SELECT `+agentColumns+` FROM agents WHERE id = ?`, id)
	a, err := scanAgent(row)
	if errors.Is(err, sql.ErrNoRows) {
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
	var got *storage.Agent
	err = inTx(ctx, s.write, func(tx *sql.Tx) error {
		args := append(m.args(), nowNanos(), a.ID)
		row := tx.QueryRowContext(ctx, `UPDATE agents SET
			name = ?, version = ?, tier = ?, tier_reached = ?, tier_rank = ?, class = ?,
			capabilities = ?, tags = ?, protocol = ?, endpoint = ?, manifest = ?,
			revision = revision + 1, updated_at = ?
			WHERE id = ?
			RETURNING `+agentColumns, args...)
		stored, err := scanAgent(row)
		if err != nil {
			return err
		}
		got = stored
		for _, q := range []string{
			`DELETE FROM agent_capabilities WHERE agent_id = ?`,
			`DELETE FROM agent_tags WHERE agent_id = ?`,
		} {
			if _, err := tx.ExecContext(ctx, q, a.ID); err != nil {
				return err
			}
		}
		return insertLists(ctx, tx, a.ID, m)
	})
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("update agent %s: %w", a.ID, storage.ErrNotFound)
	case isUniqueViolation(err):
		return fmt.Errorf("update agent %s to %s@%s: %w: %v", a.ID, a.Name, a.Version, storage.ErrConflict, err)
	case err != nil:
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
	args := append(st.args(), nowNanos(), id)
	res, err := s.write.ExecContext(ctx, `UPDATE agents SET
		health = ?, reason = ?, last_heartbeat_at = ?, last_probe_at = ?, probes_total = ?, probes_ok = ?,
		latency_ms = ?, uptime = ?, healthy_since = ?,
		revision = revision + 1, updated_at = ?
		WHERE id = ?`, args...)
	if err != nil {
		return fmt.Errorf("update agent %s status: %w", id, err)
	}
	return mustAffect(res, fmt.Sprintf("update agent %s status", id))
}

// Delete implements storage.AgentStore. Capability and tag rows go with the
// agent (ON DELETE CASCADE).
func (s agentStore) Delete(ctx context.Context, id string) error {
	res, err := s.write.ExecContext(ctx, `DELETE FROM agents WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("delete agent %s: %w", id, err)
	}
	return mustAffect(res, "delete agent "+id)
}

// insertLists indexes an agent's capabilities and tags for List. DISTINCT
// because the lists as written may repeat an entry.
func insertLists(ctx context.Context, tx *sql.Tx, id string, m manifestFields) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO agent_capabilities (capability, agent_id)
		SELECT DISTINCT value, ? FROM json_each(?)`, id, m.capabilities); err != nil {
		return fmt.Errorf("index capabilities: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO agent_tags (tag, agent_id)
		SELECT DISTINCT value, ? FROM json_each(?)`, id, m.tags); err != nil {
		return fmt.Errorf("index tags: %w", err)
	}
	return nil
}

// inTx runs fn in a transaction (BEGIN IMMEDIATE on the write pool) and
// commits it if fn succeeds.
func inTx(ctx context.Context, db *sql.DB, fn func(*sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		// fn's error is the one to report; a failed rollback commits nothing.
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// mustAffect turns "no row matched" into ErrNotFound.
func mustAffect(res sql.Result, op string) error {
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", op, storage.ErrNotFound)
	}
	return nil
}

// isUniqueViolation reports a UNIQUE or PRIMARY KEY constraint failure.
func isUniqueViolation(err error) bool {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	return e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || e.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
}
