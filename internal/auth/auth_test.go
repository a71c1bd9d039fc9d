package auth

import (
	"context"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ossa-platform/ossa/internal/httpx"
)

// TestMatrix pins every cell of the role × permission matrix: a change to
// grants must change this table too, on purpose.
func TestMatrix(t *testing.T) {
	t.Parallel()
	const (
		A = 1 << iota // admin
		O             // operator
		G             // agent
		V             // viewer
	)
	want := map[string]int{
		PermAgentsRead:      A | O | G | V,
		PermAgentsWrite:     A | O | G,
		PermAgentsHeartbeat: A | O | G,
		PermTasksRead:       A | O | G | V,
		PermTasksWrite:      A | O,
		PermTasksClaim:      A | O | G,
		PermWorkflowsRead:   A | O | V,
		PermWorkflowsWrite:  A | O,
		PermMessagesRead:    A | O | G | V,
		PermMessagesWrite:   A | O | G,
		PermLocksRead:       A | O | G | V,
		PermLocksWrite:      A | O | G,
		PermKeysAdmin:       A,
		PermAuditRead:       A,
		"":                  A | O | G | V, // a public route
		"unknown:thing":     A,
	}
	require.Len(t, Permissions, len(want)-2, "every permission constant is in the table")
	bits := map[Role]int{RoleAdmin: A, RoleOperator: O, RoleAgent: G, RoleViewer: V}
	for perm, roles := range want {
		for _, r := range Roles {
			require.Equal(t, roles&bits[r] != 0, r.Can(perm), "%s × %q", r, perm)
		}
	}
	require.False(t, Role("root").Can(PermAgentsRead), "an unknown role holds nothing")
}

func TestParseRole(t *testing.T) {
	t.Parallel()
	for _, r := range Roles {
		got, err := ParseRole(string(r))
		require.NoError(t, err)
		require.Equal(t, r, got)
	}
	_, err := ParseRole("Admin")
	require.ErrorContains(t, err, `unknown role "Admin"`)
}

func TestCheckAgent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	require.NoError(t, CheckAgent(ctx, "anyone"), "no principal: an in-process call")
	require.NoError(t, CheckAgent(WithPrincipal(ctx, Principal{Subject: "key:1", Role: RoleOperator}), "anyone"))
	self := WithPrincipal(ctx, Principal{Subject: "key:2", Role: RoleAgent, Agent: "echo"})
	require.NoError(t, CheckAgent(self, "echo"))
	err := CheckAgent(self, "summarizer")
	require.Equal(t, http.StatusForbidden, statusOf(err))
	require.ErrorContains(t, err, `key for agent "echo" may not act for agent "summarizer"`)
	unbound := WithPrincipal(ctx, Principal{Subject: "key:3", Role: RoleAgent})
	require.Error(t, CheckAgent(unbound, ""), "an agent key bound to no agent acts for none")
}

func statusOf(err error) int {
	if he, ok := err.(*httpx.Error); ok {
		return he.Status
	}
	return 0
}

// TestSecurityDocMatrix keeps docs/security.md's table equal to grants.
func TestSecurityDocMatrix(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../../docs/security.md")
	require.NoError(t, err)
	const begin, end = "<!-- matrix:begin -->\n", "<!-- matrix:end -->"
	_, rest, ok := strings.Cut(string(doc), begin)
	require.True(t, ok, "docs/security.md lacks %q", begin)
	table, _, ok := strings.Cut(rest, end)
	require.True(t, ok, "docs/security.md lacks %q", end)
	require.Equal(t, MatrixMarkdown(), table, "regenerate the table in docs/security.md from auth.MatrixMarkdown()")
}

func TestForwarderRoundTrip(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_760_000_000, 0)
	f := newForwarder(t, "0123456789abcdef0123456789abcdef", now)
	p := Principal{Subject: "key:abc", Name: "ci", Role: RoleAgent, Agent: "echo"}
	h := http.Header{}
	require.NoError(t, f.Sign(h, p, http.MethodPost, "/api/v1/agents/x/heartbeat", "a=1"))
	got, err := f.Verify(h, http.MethodPost, "/api/v1/agents/x/heartbeat", "a=1")
	require.NoError(t, err)
	require.Equal(t, p, got)
}

func TestForwarderRejects(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_760_000_000, 0)
	const secret = "0123456789abcdef0123456789abcdef"
	p := Principal{Subject: "key:abc", Role: RoleViewer}
	signed := func(at time.Time, sec string) http.Header {
		h := http.Header{}
		require.NoError(t, newForwarder(t, sec, at).Sign(h, p, http.MethodGet, "/api/v1/agents", ""))
		return h
	}
	f := newForwarder(t, secret, now)
	tests := []struct {
		name   string
		header http.Header
		method string
		path   string
		query  string
	}{
		{"missing", http.Header{}, http.MethodGet, "/api/v1/agents", ""},
		{"other secret", signed(now, "ffffffffffffffffffffffffffffffff"), http.MethodGet, "/api/v1/agents", ""},
		{"other method", signed(now, secret), http.MethodDelete, "/api/v1/agents", ""},
		{"other path", signed(now, secret), http.MethodGet, "/api/v1/keys", ""},
		{"other query", signed(now, secret), http.MethodGet, "/api/v1/agents", "name=x"},
		{"expired", signed(now.Add(-31*time.Second), secret), http.MethodGet, "/api/v1/agents", ""},
		{"from the future", signed(now.Add(31*time.Second), secret), http.MethodGet, "/api/v1/agents", ""},
		{"tampered principal", func() http.Header {
			h := signed(now, secret)
			h.Set(IdentityHeader, strings.Replace(h.Get(IdentityHeader), "v", "w", 1))
			return h
		}(), http.MethodGet, "/api/v1/agents", ""},
		{"malformed signature", func() http.Header {
			h := signed(now, secret)
			h.Set(SignatureHeader, "t=1,v1=!!")
			return h
		}(), http.MethodGet, "/api/v1/agents", ""},
	}
	for _, tc := range tests {
		_, err := f.Verify(tc.header, tc.method, tc.path, tc.query)
		require.ErrorIs(t, err, ErrIdentity, tc.name)
	}
	_, err := NewForwarder("short")
	require.ErrorContains(t, err, "at least 32 bytes")
}

func newForwarder(t *testing.T, secret string, now time.Time) *Forwarder {
	t.Helper()
	f, err := NewForwarder(secret)
	require.NoError(t, err)
	f.Clock = func() time.Time { return now }
	return f
}
