// Package auth is the identity model every service shares: who is calling
// (Principal), with which Role, and what each role may do. The gateway
// authenticates callers and puts the Principal in the request context;
// services read it to enforce ownership (an agent acts only for itself).
package auth

import (
	"context"
	"fmt"
	"strings"
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

// Roles lists every role.
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

// Permissions name what a route needs, as resource:verb.
const (
	PermAgentsRead      = "agents:read"
	PermAgentsWrite     = "agents:write"
	PermAgentsHeartbeat = "agents:heartbeat"
)

// grants is the role × permission matrix, in one place. A grant "x:*" allows
// every verb on x; "*" allows everything.
var grants = map[Role][]string{
	RoleAdmin:    {"*"},
	RoleOperator: {"agents:*", "tasks:*", "workflows:*", "messages:*", "locks:*"},
	RoleAgent:    {PermAgentsRead, PermAgentsWrite, PermAgentsHeartbeat},
	RoleViewer:   {"agents:read", "tasks:read", "workflows:read", "messages:read", "locks:read"},
}

// Can reports whether role r holds perm.
func (r Role) Can(perm string) bool {
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
	// Subject identifies the caller: an API key ID or a JWT subject.
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

// MayActForAgent is the ownership check services apply: unauthenticated
// in-process calls (auth disabled) may act for anyone.
func MayActForAgent(ctx context.Context, name string) bool {
	p, ok := FromContext(ctx)
	return !ok || p.CanActForAgent(name)
}
