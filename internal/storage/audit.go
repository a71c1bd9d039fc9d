package storage

import (
	"context"
	"time"
)

// AuditEvent records one change made through the API: who made it, what they
// did to what, and how it ended.
type AuditEvent struct {
	ID string `json:"id"`
	// Time is when the call finished (UTC, microseconds).
	Time time.Time `json:"time"`
	// Actor is the caller's principal subject ("key:<id>", "jwt:<sub>").
	Actor     string `json:"actor"`
	ActorName string `json:"actor_name,omitempty"`
	Role      string `json:"role"`
	// Action is the route pattern, e.g. "DELETE /api/v1/agents/{id}".
	Action string `json:"action"`
	// Target is the request path, e.g. "/api/v1/agents/0199…".
	Target string `json:"target"`
	// Status is the HTTP status of the answer.
	Status    int    `json:"status"`
	RequestID string `json:"request_id,omitempty"`
}

// AuditFilter selects events. Zero fields do not filter; set fields combine
// with AND.
type AuditFilter struct {
	Actor  string
	Action string
	Target string
	// Since and Until bound Time: Since <= Time < Until.
	Since time.Time
	Until time.Time
	// Cursor is a previous page's NextCursor; Limit is as for AgentFilter.
	Cursor string
	Limit  int
}

// AuditPage is one page of events, newest (last appended) first; NextCursor
// is empty on the last page.
type AuditPage struct {
	Events     []AuditEvent
	NextCursor string
}

// AuditStore persists the audit log. It is append-only.
type AuditStore interface {
	// Append stores e, setting ID (a UUIDv7, so ID order is append order)
	// and Time (if zero, to now).
	Append(ctx context.Context, e *AuditEvent) error
	// List returns matching events, newest first, a page at a time.
	List(ctx context.Context, f AuditFilter) (AuditPage, error)
}
