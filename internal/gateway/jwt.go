package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"

	"github.com/ossa-platform/ossa/internal/auth"
)

// jwtLeeway absorbs clock skew between the issuer and the gateway.
const jwtLeeway = 30 * time.Second

// jwtMethods are the asymmetric algorithms accepted. HMAC ones are not: a
// JWKS publishes public keys, and accepting HS256 would let anyone who read
// the JWKS forge tokens.
var jwtMethods = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// jwtVerifier validates bearer JWTs against the issuer's JWKS, which it
// fetches on first use and then refreshes in the background until ctx ends.
type jwtVerifier struct {
	cfg    JWTConfig
	ctx    context.Context
	hc     *http.Client
	log    *slog.Logger
	parser *jwt.Parser

	mu sync.Mutex
	kf keyfunc.Keyfunc
}

func newJWTVerifier(ctx context.Context, cfg JWTConfig, hc *http.Client, clock func() time.Time, log *slog.Logger) *jwtVerifier {
	return &jwtVerifier{
		cfg: cfg, ctx: ctx, hc: hc, log: log,
		parser: jwt.NewParser(
			jwt.WithValidMethods(jwtMethods),
			jwt.WithIssuer(cfg.Issuer),
			jwt.WithAudience(cfg.Audience),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithLeeway(jwtLeeway),
			jwt.WithTimeFunc(clock),
		),
	}
}

// keyfunc builds the JWKS client on first use, so a gateway that never sees
// a JWT never fetches the JWKS nor runs its refresh goroutine.
func (v *jwtVerifier) keyfunc() (keyfunc.Keyfunc, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.kf != nil {
		return v.kf, nil
	}
	kf, err := keyfunc.NewDefaultOverrideCtx(v.ctx, []string{v.cfg.JWKSURL}, keyfunc.Override{
		Client:          v.hc,
		HTTPTimeout:     5 * time.Second,
		RefreshInterval: v.cfg.RefreshInterval,
		RefreshErrorHandlerFunc: func(u string) func(context.Context, error) {
			return func(ctx context.Context, err error) {
				if ctx.Err() == nil {
					v.log.Warn("JWKS refresh failed", "url", u, "err", err)
				}
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("JWKS %s: %w", v.cfg.JWKSURL, err)
	}
	v.kf = kf
	return kf, nil
}

// verify returns the principal a valid token names. Every invalid token is
// errBadCredentials; the reason goes to the debug log only.
func (v *jwtVerifier) verify(ctx context.Context, token string) (auth.Principal, error) {
	kf, err := v.keyfunc()
	if err != nil {
		return auth.Principal{}, err
	}
	claims := jwt.MapClaims{}
	if _, err := v.parser.ParseWithClaims(token, claims, kf.KeyfuncCtx(ctx)); err != nil {
		v.log.Debug("JWT rejected", "err", err)
		return auth.Principal{}, errBadCredentials
	}
	sub, err := claims.GetSubject()
	if err != nil || sub == "" {
		return auth.Principal{}, errBadCredentials
	}
	p := auth.Principal{Subject: "jwt:" + sub, Name: sub, Role: roleFromClaim(claims[v.cfg.RoleClaim])}
	for _, c := range []string{"name", "preferred_username", "email"} {
		if s, ok := claims[c].(string); ok && s != "" {
			p.Name = s
			break
		}
	}
	if p.Role == auth.RoleAgent {
		p.Agent, _ = claims[v.cfg.AgentClaim].(string)
	}
	return p, nil
}

// roleFromClaim reads a role name, or the most powerful role name in a list
// (an IdP's groups claim). No role is "", which holds no permission.
func roleFromClaim(v any) auth.Role {
	var values []string
	switch c := v.(type) {
	case string:
		values = []string{c}
	case []any:
		for _, item := range c {
			if s, ok := item.(string); ok {
				values = append(values, s)
			}
		}
	}
	for _, r := range auth.Roles { // most powerful first
		if slices.Contains(values, string(r)) {
			return r
		}
	}
	return ""
}
