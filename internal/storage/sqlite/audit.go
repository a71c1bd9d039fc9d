package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/ossa-platform/ossa/internal/storage"
)

// auditStore implements storage.AuditStore.
type auditStore struct {
	write *sql.DB
	read  *sql.DB
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
	v, err := encodeTime(at)
	if err != nil {
		return fmt.Errorf("append audit event: %w", err)
	}
	if _, err := s.write.ExecContext(ctx, `INSERT INTO audit_events (`+auditColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		u.String(), v, e.Actor, e.ActorName, e.Role, e.Action, e.Target, e.Status, e.RequestID); err != nil {
		return fmt.Errorf("append audit event: %w", err)
	}
	e.ID, e.Time = u.String(), at.UTC().Truncate(time.Microsecond)
	return nil
}

// List implements storage.AuditStore.
func (s auditStore) List(ctx context.Context, f storage.AuditFilter) (storage.AuditPage, error) {
	var (
		where []string
		args  []any
	)
	if f.Cursor != "" {
		before, err := storage.DecodeCursor(f.Cursor)
		if err != nil {
			return storage.AuditPage{}, fmt.Errorf("list audit events: %w", err)
		}
		where, args = append(where, "id < ?"), append(args, before)
	}
	for _, eq := range [][2]string{{"actor", f.Actor}, {"action", f.Action}, {"target", f.Target}} {
		if eq[1] != "" {
			where, args = append(where, eq[0]+" = ?"), append(args, eq[1])
		}
	}
	for _, bound := range []struct {
		op string
		t  time.Time
	}{{"at >= ?", f.Since}, {"at < ?", f.Until}} {
		if bound.t.IsZero() {
			continue
		}
		v, err := encodeTime(bound.t)
		if err != nil {
			return storage.AuditPage{}, fmt.Errorf("list audit events: %w", err)
		}
		where, args = append(where, bound.op), append(args, v)
	}
	limit := storage.PageLimit(f.Limit)
	q := `SELECT ` + auditColumns + ` FROM audit_events`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += ` ORDER BY id DESC LIMIT ?`
	args = append(args, limit+1)

	rows, err := s.read.QueryContext(ctx, q, args...)
	if err != nil {
		return storage.AuditPage{}, fmt.Errorf("list audit events: %w", err)
	}
	defer rows.Close()
	page := storage.AuditPage{Events: []storage.AuditEvent{}}
	for rows.Next() {
		var e storage.AuditEvent
		var at int64
		if err := rows.Scan(&e.ID, &at, &e.Actor, &e.ActorName, &e.Role, &e.Action, &e.Target, &e.Status, &e.RequestID); err != nil {
			return storage.AuditPage{}, fmt.Errorf("list audit events: %w", err)
		}
		e.Time = decodeTime(&at)
		page.Events = append(page.Events, e)
	}
	if err := rows.Err(); err != nil {
		return storage.AuditPage{}, fmt.Errorf("list audit events: %w", err)
	}
	page.Events, page.NextCursor = storage.TrimPage(page.Events, limit, func(v storage.AuditEvent) string { return v.ID })
	return page, nil
}
