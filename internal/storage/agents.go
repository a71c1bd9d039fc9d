package storage

import (
	"context"
	"encoding/json"
	"time"
)

// Health is an agent's health as discovery judges it.
type Health string

// Health values, from best to worst; unknown means no evidence yet.
const (
	HealthHealthy   Health = "healthy"
	HealthDegraded  Health = "degraded"
	HealthUnhealthy Health = "unhealthy"
	HealthUnknown   Health = "unknown"
)

// Valid reports whether h is one of the defined values.
func (h Health) Valid() bool {
	switch h {
	case HealthHealthy, HealthDegraded, HealthUnhealthy, HealthUnknown:
		return true
	}
	return false
}

// Agent is a registered agent: its OSSA manifest plus where and how to reach
// it. Fields that filters use are denormalised out of the manifest so drivers
// can index them.
//
// Drivers store times in UTC at microsecond precision (PostgreSQL's); a zero
// time means "never" and reads back as the zero time. Capabilities and Tags
// read back in the order written and are never nil.
type Agent struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Version string `json:"version"`
	// Tier is the declared conformance tier; TierReached the highest tier whose
	// rules the manifest actually meets.
	Tier         string   `json:"tier"`
	TierReached  string   `json:"tier_reached"`
	Class        string   `json:"class"`
	Capabilities []string `json:"capabilities"`
	Tags         []string `json:"tags"`
	// Protocol is how the platform dispatches to the agent: http, a2a or mcp.
	Protocol string `json:"protocol"`
	// Endpoint is the agent's base URL; empty for pull-mode agents.
	Endpoint string `json:"endpoint,omitempty"`
	// Manifest is the normalised manifest document as JSON; nil means none.
	// Drivers keep its meaning, not its bytes: PostgreSQL stores JSONB, which
	// reorders keys and drops insignificant whitespace.
	Manifest json.RawMessage `json:"manifest"`
	Status   AgentStatus     `json:"status"`
	// Revision counts writes to the agent (1 on create); readers use it to
	// detect change.
	Revision  int64     `json:"revision"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// AgentStatus is the health evidence discovery keeps per agent. It is written
// often (every heartbeat and probe), so it is updated apart from the manifest.
// An empty Health is stored as HealthUnknown; any other invalid value is
// rejected.
type AgentStatus struct {
	Health          Health    `json:"health"`
	Reason          string    `json:"reason,omitempty"`
	LastHeartbeatAt time.Time `json:"last_heartbeat_at,omitzero"`
	LastProbeAt     time.Time `json:"last_probe_at,omitzero"`
	// ProbesTotal and ProbesOK give the probe success rate.
	ProbesTotal int64 `json:"probes_total"`
	ProbesOK    int64 `json:"probes_ok"`
	// LatencyMS is a moving average of probe round-trip time.
	LatencyMS float64 `json:"latency_ms"`
	// Uptime is the fraction of observed time the agent was healthy, 0..1.
	Uptime float64 `json:"uptime"`
	// HealthySince is when the agent last became healthy; zero when it is not.
	HealthySince time.Time `json:"healthy_since,omitzero"`
}

// AgentFilter selects agents. Zero fields do not filter; set fields combine
// with AND.
type AgentFilter struct {
	// Capabilities requires every listed capability (exact match).
	Capabilities []string
	// Tags requires every listed tag (exact match).
	Tags []string
	// MinTier requires TierReached (the verified tier, not the declared one)
	// at or above it, in the order core < governed < advanced. Agents whose
	// TierReached is empty or unknown never match. Any other MinTier value is
	// an error.
	MinTier string
	Class   string
	// Health requires any one of the listed values.
	Health []Health
	// Name requires this exact name (any version).
	Name string
	// Cursor is the opaque token from a previous page's NextCursor; a token
	// that is not one is ErrInvalidCursor.
	Cursor string
	// Limit caps the page: 0 or less means 50, more than 500 means 500.
	Limit int
}

// AgentPage is one page of agents, ordered by ID; Agents is empty, not nil,
// when nothing matches. NextCursor is empty on the last page. Paging is
// stable under concurrent writes: each agent that exists throughout the walk
// is returned exactly once.
type AgentPage struct {
	Agents     []Agent
	NextCursor string
}

// AgentStore persists agents.
type AgentStore interface {
	// Create stores a new agent. A duplicate (name, version) or ID is
	// ErrConflict. Create sets ID (if empty, to a UUIDv7, so that ID order is
	// creation order), Revision (1), CreatedAt and UpdatedAt. On success *a
	// is what Get returns; on failure *a is unchanged.
	Create(ctx context.Context, a *Agent) error
	// Get returns the agent or ErrNotFound.
	Get(ctx context.Context, id string) (*Agent, error)
	// Update replaces the manifest-derived fields, endpoint and protocol of an
	// existing agent (not Status, not CreatedAt). ErrNotFound if absent,
	// ErrConflict if the new (name, version) belongs to another agent. It
	// increments Revision and sets UpdatedAt; on success *a is what Get
	// returns (Status included), on failure *a is unchanged.
	Update(ctx context.Context, a *Agent) error
	// UpdateStatus replaces an agent's status only, incrementing Revision and
	// setting UpdatedAt. ErrNotFound if absent.
	UpdateStatus(ctx context.Context, id string, st AgentStatus) error
	// Delete removes the agent; ErrNotFound if absent.
	Delete(ctx context.Context, id string) error
	// List returns agents matching f, a page at a time.
	List(ctx context.Context, f AgentFilter) (AgentPage, error)
}
