// Package auth is the identity model every service shares: who is calling
// (Principal), with which Role, and what each role may do. The gateway
// authenticates callers and puts the Principal in the request context;
// services read it to enforce ownership (an agent acts only for itself).
//
// The role × permission matrix (grants) lives here and nowhere else; routes
// name the permission they need (httpx.Route.Permission) and the gateway
// asks Role.Can.
package auth

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/ossa-platform/ossa/internal/httpx"
)

// Role is a caller's role.
type Role string

// Roles, from most to least powerful.
const (
	RoleAdmin    Role = "admin"
	RoleOperator Role = "operator"
	RoleAgent    Role = "agent"
	RoleViewer   Role = "viewer"
)

// Roles lists every role, most powerful first.
var Roles = []Role{RoleAdmin, RoleOperator, RoleAgent, RoleViewer}

// ParseRole accepts a role name.
func ParseRole(s string) (Role, error) {
	for _, r := range Roles {
		if string(r) == s {
			return r, nil
		}
	}
	return "", fmt.Errorf("unknown role %q; roles are admin, operator, agent, viewer", s)
}

// Permissions name what a route needs, as resource:verb. Services use these
// constants in their route tables.
const (
	PermAgentsRead      = "agents:read"
	PermAgentsWrite     = "agents:write"
	PermAgentsHeartbeat = "agents:heartbeat"

	PermTasksRead  = "tasks:read"
	PermTasksWrite = "tasks:write"
	// PermTasksClaim lets an agent claim, progress and complete tasks
	// assigned to it; the task service checks that the task is its own.
	PermTasksClaim = "tasks:claim"

	PermWorkflowsRead  = "workflows:read"
	PermWorkflowsWrite = "workflows:write"

	PermMessagesRead  = "messages:read"
	PermMessagesWrite = "messages:write"

	PermLocksRead  = "locks:read"
	PermLocksWrite = "locks:write"

	// PermKeysAdmin manages API keys: create, list, revoke.
	PermKeysAdmin = "keys:admin"
	// PermAuditRead reads the audit log.
	PermAuditRead = "audit:read"
)

// Permissions lists every permission a route may name, for the matrix
// tests and docs/security.md.
var Permissions = []string{
	PermAgentsRead, PermAgentsWrite, PermAgentsHeartbeat,
	PermTasksRead, PermTasksWrite, PermTasksClaim,
	PermWorkflowsRead, PermWorkflowsWrite,
	PermMessagesRead, PermMessagesWrite,
	PermLocksRead, PermLocksWrite,
	PermKeysAdmin, PermAuditRead,
}

// grants is the role × permission matrix, in one place. A grant "x:*" allows
// every verb on x; "*" allows everything. Agent-role callers hold their
// permissions only for their own agent: services check that with
// MayActForAgent / CheckAgent.
var grants = map[Role][]string{
	RoleAdmin:    {"*"},
	RoleOperator: {"agents:*", "tasks:*", "workflows:*", "messages:*", "locks:*"},
	RoleAgent: {
		PermAgentsRead, PermAgentsWrite, PermAgentsHeartbeat,
		PermTasksRead, PermTasksClaim,
		PermMessagesRead, PermMessagesWrite,
		PermLocksRead, PermLocksWrite,
	},
	RoleViewer: {PermAgentsRead, PermTasksRead, PermWorkflowsRead, PermMessagesRead, PermLocksRead},
}

// Can reports whether role r holds perm. An empty perm (a public route) is
// held by every role.
func (r Role) Can(perm string) bool {
	if perm == "" {
		return true
	}
	resource, _, _ := strings.Cut(perm, ":")
	for _, g := range grants[r] {
		if g == "*" || g == perm || g == resource+":*" {
			return true
		}
	}
	return false
}

// Principal is an authenticated caller.
type Principal struct {
	// Subject identifies the caller: "key:<API key ID>" or "jwt:<token
	// subject>". Rate limits and the audit log are keyed by it.
	Subject string `json:"subject"`
	// Name is the human name of the key or token holder.
	Name string `json:"name,omitempty"`
	Role Role   `json:"role"`
	// Agent binds an agent-role principal to one agent name: it may register,
	// update and heartbeat only agents with that name.
	Agent string `json:"agent,omitempty"`
}

// CanActForAgent reports whether p may act for the agent named name. Every
// role but agent may act for any agent its permissions allow.
func (p Principal) CanActForAgent(name string) bool {
	return p.Role != RoleAgent || (p.Agent != "" && p.Agent == name)
}

type principalKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the caller, if the request was authenticated.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// MayActForAgent is the ownership check services apply. A context without a
// principal is an in-process call that did not come through the gateway
// (workspace scan, a service's own background work, unit tests), which may
// act for anyone: every HTTP route is authenticated before its handler runs.
func MayActForAgent(ctx context.Context, name string) bool {
	p, ok := FromContext(ctx)
	return !ok || p.CanActForAgent(name)
}

// CheckAgent is MayActForAgent as an error: nil when the caller may act for
// the agent named name, else a 403 *httpx.Error naming both agents.
func CheckAgent(ctx context.Context, name string) error {
	if MayActForAgent(ctx, name) {
		return nil
	}
	p, _ := FromContext(ctx)
	return httpx.Errorf(http.StatusForbidden, "key for agent %q may not act for agent %q", p.Agent, name)
}
