package gateway

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/ossa-platform/ossa/internal/auth"
	"github.com/ossa-platform/ossa/internal/storage"
)

// Authentication failures. Both are 401 with the same body whatever the
// reason (unknown, revoked, expired, tampered), so answers never tell whether
// a key exists.
var (
	errNoCredentials  = errors.New("no credentials")
	errBadCredentials = errors.New("invalid credentials")
)

// touchInterval throttles last-used writes: at most one per key per interval.
const touchInterval = time.Minute

// maxCachedKeys bounds the key cache; past it the cache starts over.
const maxCachedKeys = 10_000

// authenticator turns a request's credentials into a principal.
type authenticator struct {
	keys  storage.KeyStore
	clock func() time.Time
	ttl   time.Duration
	jwt   *jwtVerifier // nil when JWTs are not accepted

	mu    sync.RWMutex
	cache map[[sha256.Size]byte]cachedKey // by key hash

	touchMu sync.Mutex
	written map[string]time.Time // key ID → last use written to the store
	pending map[string]time.Time // key ID → last use not yet written
}

type cachedKey struct {
	key     storage.APIKey
	fetched time.Time
	subject string // "key:" + ID, built once
}

func newAuthenticator(keys storage.KeyStore, clock func() time.Time, ttl time.Duration, jwt *jwtVerifier) *authenticator {
	return &authenticator{
		keys: keys, clock: clock, ttl: ttl, jwt: jwt,
		cache:   map[[sha256.Size]byte]cachedKey{},
		written: map[string]time.Time{},
		pending: map[string]time.Time{},
	}
}

// credentials returns the bearer token of an Authorization header, else
// the X-API-Key header's key.
func credentials(authorization, apiKey string) string {
	if authorization != "" {
		scheme, token, ok := strings.Cut(authorization, " ")
		if ok && strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(token)
		}
		return ""
	}
	return strings.TrimSpace(apiKey)
}

// authenticateRequest returns the caller of r (see authenticate).
func (a *authenticator) authenticateRequest(r *http.Request) (auth.Principal, error) {
	// Canonical X-API-Key: Get need not allocate it.
	return a.authenticate(r.Context(), r.Header.Get("Authorization"), r.Header.Get("X-Api-Key"))
}

// authenticate returns the caller who sent these Authorization and
// X-API-Key headers. Errors are errNoCredentials, errBadCredentials, or a
// wrapped store failure.
func (a *authenticator) authenticate(ctx context.Context, authorization, apiKey string) (auth.Principal, error) {
	token := credentials(authorization, apiKey)
	switch {
	case token == "":
		if authorization != "" {
			return auth.Principal{}, errBadCredentials
		}
		return auth.Principal{}, errNoCredentials
	case strings.HasPrefix(token, KeyPrefix):
		return a.apiKey(ctx, token)
	case a.jwt != nil:
		return a.jwt.verify(ctx, token)
	default:
		return auth.Principal{}, errBadCredentials
	}
}

func (a *authenticator) apiKey(ctx context.Context, token string) (auth.Principal, error) {
	sum := sumKey(token)
	var hash [2 * sha256.Size]byte
	hex.Encode(hash[:], sum[:])
	now := a.clock()
	c, err := a.lookup(ctx, sum, hash[:], now)
	if err != nil {
		return auth.Principal{}, err
	}
	k := &c.key
	// The store found the key by its hash; comparing again in constant time
	// keeps the outcome independent of how the lookup compared.
	if subtle.ConstantTimeCompare([]byte(k.Hash), hash[:]) != 1 || !k.Active(now) {
		return auth.Principal{}, errBadCredentials
	}
	a.used(k.ID, now)
	return auth.Principal{Subject: c.subject, Name: k.Name, Role: auth.Role(k.Role), Agent: k.Agent}, nil
}

// lookup finds a key by its hash (sum, and hash in hex as the store keeps
// it), from the cache while it is fresh. The cache is keyed by the sum, so
// a hit costs no allocation.
func (a *authenticator) lookup(ctx context.Context, sum [sha256.Size]byte, hash []byte, now time.Time) (cachedKey, error) {
	if a.ttl > 0 {
		a.mu.RLock()
		c, ok := a.cache[sum]
		a.mu.RUnlock()
		if ok && now.Sub(c.fetched) < a.ttl {
			return c, nil
		}
	}
	k, err := a.keys.GetByHash(ctx, string(hash))
	if errors.Is(err, storage.ErrNotFound) {
		return cachedKey{}, errBadCredentials
	}
	if err != nil {
		return cachedKey{}, fmt.Errorf("look up API key: %w", err)
	}
	c := cachedKey{key: *k, fetched: now, subject: "key:" + k.ID}
	if a.ttl > 0 {
		a.mu.Lock()
		if len(a.cache) >= maxCachedKeys {
			clear(a.cache)
		}
		a.cache[sum] = c
		a.mu.Unlock()
	}
	return c, nil
}

// forget drops key id from the cache, so a revocation through this replica
// takes effect at once.
func (a *authenticator) forget(id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for h, c := range a.cache {
		if c.key.ID == id {
			delete(a.cache, h)
		}
	}
}

// used notes that key id authenticated at now; flush writes it later.
func (a *authenticator) used(id string, now time.Time) {
	a.touchMu.Lock()
	defer a.touchMu.Unlock()
	if now.Sub(a.written[id]) >= touchInterval {
		a.pending[id] = now
	}
}

// flush writes pending last-used times to the store.
func (a *authenticator) flush(ctx context.Context) error {
	a.touchMu.Lock()
	pending := a.pending
	a.pending = map[string]time.Time{}
	for id, t := range pending {
		a.written[id] = t
	}
	if len(a.written) > maxCachedKeys {
		clear(a.written)
	}
	a.touchMu.Unlock()
	var errs []error
	for id, t := range pending {
		if err := a.keys.TouchLastUsed(ctx, id, t); err != nil && !errors.Is(err, storage.ErrNotFound) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
