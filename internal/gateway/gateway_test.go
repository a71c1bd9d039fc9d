package gateway

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ossa-platform/ossa/internal/storage"
)

func TestKeyLifecycle(t *testing.T) {
	t.Parallel()
	eachTopology(t, func(t *testing.T, top topology) {
		f := newFixtureIn(t, top, testConfig(t), nil)
		secret, id := f.createKey(t, CreateKeyRequest{Name: "ci", Role: "operator"})
		require.True(t, strings.HasPrefix(secret, KeyPrefix))
		require.Len(t, secret, len(KeyPrefix)+43, "32 random bytes, base64url")

		r := call(t, http.MethodGet, f.url+"/api/v1/probe", secret, nil)
		require.Equal(t, http.StatusOK, r.status, "%s", r.raw)
		require.Equal(t, map[string]any{"subject": "key:" + id, "name": "ci", "role": "operator"}, r.body)

		// X-API-Key works too.
		req, _ := http.NewRequest(http.MethodGet, f.url+"/api/v1/probe", nil)
		req.Header.Set("X-API-Key", secret)
		require.Equal(t, http.StatusOK, do(t, req).status)

		list := call(t, http.MethodGet, f.url+"/api/v1/keys", adminKey, nil)
		require.Equal(t, http.StatusOK, list.status)
		require.NotContains(t, string(list.raw), secret, "lists never show a key")
		require.NotContains(t, string(list.raw), hashKey(secret), "nor its hash")
		keys := list.body["keys"].([]any)
		require.Len(t, keys, 2, "the bootstrap admin key and ci")
		ci := keys[1].(map[string]any)
		require.Equal(t, secret[:shownPrefixLen], ci["prefix"])
		require.Equal(t, f.clock.Now().Format(time.RFC3339), ci["last_used_at"], "last use is written before a list")

		got := call(t, http.MethodGet, f.url+"/api/v1/keys/"+id, adminKey, nil)
		require.Equal(t, http.StatusOK, got.status)
		require.Equal(t, "ci", got.body["name"])

		require.Equal(t, http.StatusNoContent, call(t, http.MethodDelete, f.url+"/api/v1/keys/"+id, adminKey, nil).status)
		require.Equal(t, http.StatusNoContent, call(t, http.MethodDelete, f.url+"/api/v1/keys/"+id, adminKey, nil).status, "revoking is idempotent")
		require.Equal(t, http.StatusUnauthorized, call(t, http.MethodGet, f.url+"/api/v1/probe", secret, nil).status,
			"revoked at once, cache or not")
		require.Equal(t, http.StatusNotFound, call(t, http.MethodDelete, f.url+"/api/v1/keys/nope", adminKey, nil).status)
	})
}

// Every kind of bad credential gets the same 401, so answers never tell
// whether a key exists.
func TestBadCredentialsLookAlike(t *testing.T) {
	t.Parallel()
	eachTopology(t, func(t *testing.T, top topology) {
		f := newFixtureIn(t, top, testConfig(t), nil)
		revoked, revokedID := f.createKey(t, CreateKeyRequest{Name: "revoked", Role: "viewer"})
		require.Equal(t, http.StatusNoContent, call(t, http.MethodDelete, f.url+"/api/v1/keys/"+revokedID, adminKey, nil).status)
		expiring, _ := f.createKey(t, CreateKeyRequest{Name: "expiring", Role: "viewer", ExpiresIn: "1h"})
		require.Equal(t, http.StatusOK, call(t, http.MethodGet, f.url+"/api/v1/probe", expiring, nil).status)
		f.clock.Advance(time.Hour)
		unknown, err := newKey()
		require.NoError(t, err)

		var bodies []map[string]any
		for name, key := range map[string]string{
			"unknown": unknown, "revoked": revoked, "expired": expiring,
			"truncated": adminKey[:len(adminKey)-1], "not a key": "hello", "jwt-shaped": "eyJhbGciOi.e30.sig",
		} {
			r := call(t, http.MethodGet, f.url+"/api/v1/probe", key, nil)
			require.Equal(t, http.StatusUnauthorized, r.status, name)
			require.Equal(t, authChallenge, r.header.Get("WWW-Authenticate"), name)
			require.Equal(t, "application/problem+json", r.header.Get("Content-Type"), name)
			bodies = append(bodies, problemSansRequest(r.body))
		}
		for _, b := range bodies[1:] {
			require.Equal(t, bodies[0], b)
		}
		require.Equal(t, "invalid credentials", bodies[0]["detail"])

		missing := call(t, http.MethodGet, f.url+"/api/v1/probe", "", nil)
		require.Equal(t, http.StatusUnauthorized, missing.status)
		require.Contains(t, missing.body["detail"], "authentication required")
		basic, _ := http.NewRequest(http.MethodGet, f.url+"/api/v1/probe", nil)
		basic.Header.Set("Authorization", "Basic dXNlcjpwYXNz")
		require.Equal(t, http.StatusUnauthorized, do(t, basic).status)

		require.Equal(t, http.StatusOK, call(t, http.MethodGet, f.url+"/public", "", nil).status, "public routes need nothing")
	})
}

func TestWrongRoleIsForbidden(t *testing.T) {
	t.Parallel()
	eachTopology(t, func(t *testing.T, top topology) {
		f := newFixtureIn(t, top, testConfig(t), nil)
		viewer, _ := f.createKey(t, CreateKeyRequest{Name: "v", Role: "viewer"})
		operator, _ := f.createKey(t, CreateKeyRequest{Name: "o", Role: "operator"})
		for _, tc := range []struct {
			key, method, path string
		}{
			{viewer, http.MethodPost, "/api/v1/probe"},
			{viewer, http.MethodGet, "/api/v1/keys"},
			{operator, http.MethodGet, "/api/v1/audit"},
			{operator, http.MethodPost, "/api/v1/keys"},
		} {
			r := call(t, tc.method, f.url+tc.path, tc.key, nil)
			require.Equal(t, http.StatusForbidden, r.status, "%s %s", tc.method, tc.path)
			require.Contains(t, r.body["detail"], "may not")
		}
		require.Equal(t, http.StatusOK, call(t, http.MethodGet, f.url+"/api/v1/probe", viewer, nil).status)
	})
}

func TestCreateKeyValidation(t *testing.T) {
	t.Parallel()
	f := newFixture(t, testConfig(t), nil)
	past := f.clock.Now().Add(-time.Minute)
	for name, req := range map[string]CreateKeyRequest{
		"no name":          {Role: "viewer"},
		"long name":        {Name: strings.Repeat("x", 101), Role: "viewer"},
		"unknown role":     {Name: "x", Role: "root"},
		"agent unbound":    {Name: "x", Role: "agent"},
		"operator bound":   {Name: "x", Role: "operator", Agent: "echo"},
		"expired already":  {Name: "x", Role: "viewer", ExpiresAt: past},
		"both expiries":    {Name: "x", Role: "viewer", ExpiresAt: past.Add(time.Hour), ExpiresIn: "1h"},
		"bad expires_in":   {Name: "x", Role: "viewer", ExpiresIn: "soon"},
		"negative expires": {Name: "x", Role: "viewer", ExpiresIn: "-1h"},
	} {
		r := call(t, http.MethodPost, f.url+"/api/v1/keys", adminKey, req)
		require.Equal(t, http.StatusBadRequest, r.status, "%s: %s", name, r.raw)
	}
	r := call(t, http.MethodPost, f.url+"/api/v1/keys", adminKey, map[string]any{"name": "x", "role": "viewer", "extra": 1})
	require.Equal(t, http.StatusBadRequest, r.status, "unknown fields are refused")
	agent := call(t, http.MethodPost, f.url+"/api/v1/keys", adminKey, CreateKeyRequest{Name: "echo", Role: "agent", Agent: "echo", ExpiresIn: "24h"})
	require.Equal(t, http.StatusCreated, agent.status)
	require.Equal(t, "no-store", agent.header.Get("Cache-Control"))
	require.Equal(t, f.clock.Now().Add(24*time.Hour).Format(time.RFC3339), agent.body["key"].(map[string]any)["expires_at"])
}

func TestRateLimitInProcess(t *testing.T) {
	t.Parallel()
	eachTopology(t, func(t *testing.T, top topology) {
		cfg := testConfig(t)
		cfg.RateLimit = RateLimitConfig{Requests: 1, Period: time.Minute, Burst: 2}
		f := newFixtureIn(t, top, cfg, nil)
		key, _ := f.createKey(t, CreateKeyRequest{Name: "limited", Role: "viewer"})
		for i, remaining := range []string{"1", "0"} {
			r := call(t, http.MethodGet, f.url+"/api/v1/probe", key, nil)
			require.Equal(t, http.StatusOK, r.status, "request %d", i)
			require.Equal(t, "2", r.header.Get("RateLimit-Limit"))
			require.Equal(t, remaining, r.header.Get("RateLimit-Remaining"))
			require.Empty(t, r.header.Get("Retry-After"))
		}
		r := call(t, http.MethodGet, f.url+"/api/v1/probe", key, nil)
		require.Equal(t, http.StatusTooManyRequests, r.status)
		require.Equal(t, "60", r.header.Get("Retry-After"))
		require.Equal(t, "0", r.header.Get("RateLimit-Remaining"))
		require.Equal(t, "120", r.header.Get("RateLimit-Reset"))
		require.Contains(t, r.body["detail"], "rate limit")

		other, _ := f.createKey(t, CreateKeyRequest{Name: "other", Role: "viewer"})
		require.Equal(t, http.StatusOK, call(t, http.MethodGet, f.url+"/api/v1/probe", other, nil).status, "budgets are per key")

		f.clock.Advance(time.Minute)
		require.Equal(t, http.StatusOK, call(t, http.MethodGet, f.url+"/api/v1/probe", key, nil).status, "a token came back")
		require.Equal(t, http.StatusTooManyRequests, call(t, http.MethodGet, f.url+"/api/v1/probe", key, nil).status)
	})
}

func TestAuditRecordsChanges(t *testing.T) {
	t.Parallel()
	eachTopology(t, func(t *testing.T, top topology) {
		f := newFixtureIn(t, top, testConfig(t), nil)
		operator, opID := f.createKey(t, CreateKeyRequest{Name: "ops", Role: "operator"})
		viewer, viewerID := f.createKey(t, CreateKeyRequest{Name: "looker", Role: "viewer"})

		req, _ := http.NewRequest(http.MethodPost, f.url+"/api/v1/probe", nil)
		req.Header.Set("Authorization", "Bearer "+operator)
		req.Header.Set("X-Request-ID", "req-audit-1")
		require.Equal(t, http.StatusOK, do(t, req).status)
		require.Equal(t, http.StatusOK, call(t, http.MethodGet, f.url+"/api/v1/probe", operator, nil).status, "reads are not audited")
		require.Equal(t, http.StatusForbidden, call(t, http.MethodPost, f.url+"/api/v1/probe", viewer, nil).status)
		require.Equal(t, http.StatusUnauthorized, call(t, http.MethodPost, f.url+"/api/v1/probe", "", nil).status)

		page, err := f.store.Audit().List(t.Context(), storage.AuditFilter{})
		require.NoError(t, err)
		require.Len(t, page.Events, 4, "two key creations, the change, the refused change")
		refused, done := page.Events[0], page.Events[1]
		require.Equal(t, storage.AuditEvent{
			ID: done.ID, Time: f.clock.Now(), Actor: "key:" + opID, ActorName: "ops", Role: "operator",
			Action: "POST /api/v1/probe", Target: "/api/v1/probe", Status: http.StatusOK, RequestID: "req-audit-1",
		}, done)
		require.Equal(t, "key:"+viewerID, refused.Actor)
		require.Equal(t, http.StatusForbidden, refused.Status)
		require.Equal(t, "POST /api/v1/keys", page.Events[2].Action)

		r := call(t, http.MethodGet, f.url+"/api/v1/audit?actor=key:"+opID, adminKey, nil)
		require.Equal(t, http.StatusOK, r.status, "%s", r.raw)
		require.Len(t, r.body["events"].([]any), 1)
		r = call(t, http.MethodGet, f.url+"/api/v1/audit?limit=1", adminKey, nil)
		require.NotEmpty(t, r.body["next_cursor"])
		r = call(t, http.MethodGet, f.url+"/api/v1/audit?since="+f.clock.Now().Add(time.Second).Format(time.RFC3339), adminKey, nil)
		require.Empty(t, r.body["events"])
		for _, bad := range []string{"since=yesterday", "limit=0", "actr=x", "cursor=!!"} {
			require.Equal(t, http.StatusBadRequest, call(t, http.MethodGet, f.url+"/api/v1/audit?"+bad, adminKey, nil).status, bad)
		}
	})
}

func TestBootstrap(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	f := newFixture(t, testConfig(t), func(d *Deps) { d.AdminKey, d.Embedded, d.Out = "", true, &out })
	printed := out.String()
	require.Contains(t, printed, "shown only this once")
	var key string
	for field := range strings.FieldsSeq(printed) {
		if strings.HasPrefix(field, KeyPrefix) {
			key = field
			break
		}
	}
	require.NotEmpty(t, key)
	r := call(t, http.MethodGet, f.url+"/api/v1/keys", key, nil)
	require.Equal(t, http.StatusOK, r.status)
	require.Equal(t, "admin", r.body["keys"].([]any)[0].(map[string]any)["role"])

	// A second start finds a key and prints nothing.
	out.Reset()
	again, err := New(t.Context(), testConfig(t), Deps{Keys: f.store.Keys(), Audit: f.store.Audit(), Embedded: true, Out: &out})
	require.NoError(t, err)
	require.NoError(t, again.Close())
	require.Empty(t, out.String())

	// The configured admin key is stored once, whatever the number of starts.
	for range 2 {
		g, err := New(t.Context(), testConfig(t), Deps{Keys: f.store.Keys(), Audit: f.store.Audit(), AdminKey: adminKey})
		require.NoError(t, err)
		require.NoError(t, g.Close())
	}
	n, err := f.store.Keys().Count(t.Context())
	require.NoError(t, err)
	require.Equal(t, 2, n)

	_, err = New(t.Context(), testConfig(t), Deps{Keys: f.store.Keys(), Audit: f.store.Audit(), AdminKey: "short"})
	require.ErrorContains(t, err, "admin key")
}

func TestClusterWithoutKeysPrintsNothing(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	f := newFixture(t, testConfig(t), func(d *Deps) { d.AdminKey, d.Embedded, d.Out = "", false, &out })
	require.Empty(t, out.String())
	n, err := f.store.Keys().Count(context.Background())
	require.NoError(t, err)
	require.Zero(t, n)
}

func TestCORS(t *testing.T) {
	t.Parallel()
	eachTopology(t, func(t *testing.T, top topology) {
		cfg := testConfig(t)
		cfg.CORS.AllowedOrigins = []string{"https://console.example.com"}
		f := newFixtureIn(t, top, cfg, nil)
		preflight := func(origin, method string) response {
			req, _ := http.NewRequest(http.MethodOptions, f.url+"/api/v1/probe", nil)
			req.Header.Set("Origin", origin)
			req.Header.Set("Access-Control-Request-Method", method)
			req.Header.Set("Access-Control-Request-Headers", "authorization")
			return do(t, req)
		}
		ok := preflight("https://console.example.com", "POST")
		require.Equal(t, http.StatusNoContent, ok.status)
		require.Equal(t, "https://console.example.com", ok.header.Get("Access-Control-Allow-Origin"))
		require.Contains(t, ok.header.Get("Access-Control-Allow-Headers"), "Authorization")
		require.Equal(t, http.StatusForbidden, preflight("https://evil.example.com", "POST").status)

		req, _ := http.NewRequest(http.MethodGet, f.url+"/api/v1/probe", nil)
		req.Header.Set("Origin", "https://console.example.com")
		req.Header.Set("Authorization", "Bearer "+adminKey)
		r := do(t, req)
		require.Equal(t, http.StatusOK, r.status)
		require.Equal(t, "https://console.example.com", r.header.Get("Access-Control-Allow-Origin"))
		require.Contains(t, r.header.Get("Access-Control-Expose-Headers"), "RateLimit-Remaining")

		req.Header.Set("Origin", "https://evil.example.com")
		require.Empty(t, do(t, req).header.Get("Access-Control-Allow-Origin"))
	})
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	for name, edit := range map[string]func(*Config){
		"jwt without issuer": func(c *Config) { c.JWT.JWKSURL = "https://idp.example.com/jwks" },
		"jwt bad url":        func(c *Config) { c.JWT.JWKSURL, c.JWT.Issuer, c.JWT.Audience = "idp/jwks", "i", "a" },
		"negative rate":      func(c *Config) { c.RateLimit.Requests = -1 },
		"zero burst":         func(c *Config) { c.RateLimit.Burst = 0 },
		"bad origin":         func(c *Config) { c.CORS.AllowedOrigins = []string{"console.example.com"} },
		"origin with path":   func(c *Config) { c.CORS.AllowedOrigins = []string{"https://x.example.com/app"} },
		"no upstream time":   func(c *Config) { c.UpstreamTimeout = 0 },
	} {
		cfg := testConfig(t)
		edit(&cfg)
		require.Error(t, cfg.Validate(), name)
	}
}
