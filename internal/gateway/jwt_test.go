package gateway

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"
)

// issuer is a local OIDC issuer: an RSA key published as a JWKS.
type issuer struct {
	key *rsa.PrivateKey
	url string
}

func newIssuer(t *testing.T) *issuer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	jwks, err := json.Marshal(map[string]any{"keys": []map[string]any{{
		"kty": "RSA", "kid": "k1", "use": "sig", "alg": "RS256",
		"n": base64.RawURLEncoding.EncodeToString(key.N.Bytes()),
		"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(key.E)).Bytes()),
	}}})
	require.NoError(t, err)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(jwks)
	}))
	t.Cleanup(srv.Close)
	return &issuer{key: key, url: srv.URL}
}

func (is *issuer) sign(t *testing.T, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	tok.Header["kid"] = "k1"
	s, err := tok.SignedString(is.key)
	require.NoError(t, err)
	return s
}

func TestJWT(t *testing.T) {
	t.Parallel()
	is := newIssuer(t)
	cfg := testConfig(t)
	cfg.JWT.JWKSURL, cfg.JWT.Issuer, cfg.JWT.Audience = is.url+"/jwks", "https://idp.test", "ossa"
	require.NoError(t, cfg.Validate())
	f := newFixture(t, cfg, nil)
	now := f.clock.Now()
	claims := func(edit func(jwt.MapClaims)) jwt.MapClaims {
		c := jwt.MapClaims{
			"iss": "https://idp.test", "aud": "ossa", "sub": "alice", "email": "alice@example.com",
			"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "ossa_role": "operator",
		}
		if edit != nil {
			edit(c)
		}
		return c
	}

	r := call(t, http.MethodPost, f.url+"/api/v1/probe", is.sign(t, claims(nil)), nil)
	require.Equal(t, http.StatusOK, r.status, "%s", r.raw)
	require.Equal(t, map[string]any{"subject": "jwt:alice", "name": "alice@example.com", "role": "operator"}, r.body)

	groups := is.sign(t, claims(func(c jwt.MapClaims) { c["ossa_role"] = []any{"staff", "viewer", "admin"} }))
	require.Equal(t, "admin", call(t, http.MethodGet, f.url+"/api/v1/probe", groups, nil).body["role"], "the most powerful role in a list")
	agent := is.sign(t, claims(func(c jwt.MapClaims) { c["ossa_role"], c["ossa_agent"] = "agent", "echo" }))
	require.Equal(t, "echo", call(t, http.MethodGet, f.url+"/api/v1/probe", agent, nil).body["agent"])
	noRole := is.sign(t, claims(func(c jwt.MapClaims) { delete(c, "ossa_role") }))
	require.Equal(t, http.StatusForbidden, call(t, http.MethodGet, f.url+"/api/v1/probe", noRole, nil).status, "no role, no permission")

	good := is.sign(t, claims(nil))
	parts := strings.Split(good, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err)
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(payload), `"operator"`, `"admin"`, 1))) + "." + parts[2]
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	foreign := jwt.NewWithClaims(jwt.SigningMethodRS256, claims(nil))
	foreign.Header["kid"] = "k1"
	forged, err := foreign.SignedString(other)
	require.NoError(t, err)
	hs, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims(nil)).SignedString([]byte("guessable"))
	require.NoError(t, err)

	for name, token := range map[string]string{
		"tampered":      tampered,
		"foreign key":   forged,
		"hs256":         hs,
		"expired":       is.sign(t, claims(func(c jwt.MapClaims) { c["exp"] = now.Add(-time.Minute).Unix() })),
		"no expiry":     is.sign(t, claims(func(c jwt.MapClaims) { delete(c, "exp") })),
		"wrong issuer":  is.sign(t, claims(func(c jwt.MapClaims) { c["iss"] = "https://evil.test" })),
		"wrong aud":     is.sign(t, claims(func(c jwt.MapClaims) { c["aud"] = "someone-else" })),
		"no subject":    is.sign(t, claims(func(c jwt.MapClaims) { delete(c, "sub") })),
		"not yet valid": is.sign(t, claims(func(c jwt.MapClaims) { c["nbf"] = now.Add(time.Hour).Unix() })),
		"garbage":       "a.b.c",
	} {
		r := call(t, http.MethodGet, f.url+"/api/v1/probe", token, nil)
		require.Equal(t, http.StatusUnauthorized, r.status, name)
		require.Equal(t, "invalid credentials", r.body["detail"], name)
	}

	f.clock.Advance(2 * time.Hour)
	require.Equal(t, http.StatusUnauthorized, call(t, http.MethodGet, f.url+"/api/v1/probe", good, nil).status, "expired with time")
}

// Without an issuer configured, a bearer token that is not an API key is
// refused like any bad key.
func TestJWTOffRefusesTokens(t *testing.T) {
	t.Parallel()
	is := newIssuer(t)
	f := newFixture(t, testConfig(t), nil)
	tok := is.sign(t, jwt.MapClaims{"sub": "alice", "ossa_role": "admin", "exp": time.Now().Add(time.Hour).Unix()})
	require.Equal(t, http.StatusUnauthorized, call(t, http.MethodGet, f.url+"/api/v1/probe", tok, nil).status)
}
