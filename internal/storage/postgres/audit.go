package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ossa-platform/ossa/internal/storage"
)

// auditStore implements storage.AuditStore.
type auditStore struct {
	pool *pgxpool.Pool
}

const auditColumns = `id, at, actor, actor_name, role, action, target, status, request_id`

// Append implements storage.AuditStore.
func (s auditStore) Append(ctx context.Context, e *storage.AuditEvent) error {
	u, err := uuid.NewV7()
	if err != nil {
		return fmt.Errorf("append audit event: new id: %w", err)
	}
	at := e.Time
	if at.IsZero() {
		at = time.Now()
	}
	at = at.UTC().Truncate(time.Microsecond)
	if _, err := s.pool.Exec(ctx, `INSERT INTO audit_events (`+auditColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		u.String(), at, e.Actor, e.ActorName, e.Role, e.Action, e.Target, e.Status, e.RequestID); err != nil {
		return fmt.Errorf("append audit event: %w", err)
	}
	e.ID, e.Time = u.String(), at
	return nil
}

// List implements storage.AuditStore.
func (s auditStore) List(ctx context.Context, f storage.AuditFilter) (storage.AuditPage, error) {
	var q pageQuery
	if err := q.cursor(f.Cursor, "<"); err != nil {
		return storage.AuditPage{}, fmt.Errorf("list audit events: %w", err)
	}
	for _, eq := range [][2]string{{"actor", f.Actor}, {"action", f.Action}, {"target", f.Target}} {
		if eq[1] != "" {
			q.cond(eq[0] + " = " + q.param(eq[1]))
		}
	}
	if !f.Since.IsZero() {
		q.cond("at >= " + q.param(encodeTime(f.Since)))
	}
	if !f.Until.IsZero() {
		q.cond("at < " + q.param(encodeTime(f.Until)))
	}
	limit := storage.PageLimit(f.Limit)
	rows, err := s.pool.Query(ctx, q.sql(`SELECT `+auditColumns+` FROM audit_events`, "DESC", limit), q.args...)
	if err != nil {
		return storage.AuditPage{}, fmt.Errorf("list audit events: %w", err)
	}
	events, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (storage.AuditEvent, error) {
		var e storage.AuditEvent
		err := row.Scan(&e.ID, &e.Time, &e.Actor, &e.ActorName, &e.Role, &e.Action, &e.Target, &e.Status, &e.RequestID)
		e.Time = e.Time.UTC()
		return e, err
	})
	if err != nil {
		return storage.AuditPage{}, fmt.Errorf("list audit events: %w", err)
	}
	var page storage.AuditPage
	page.Events, page.NextCursor = storage.TrimPage(events, limit, func(v storage.AuditEvent) string { return v.ID })
	return page, nil
}
