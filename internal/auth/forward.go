package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Headers that carry a forwarded identity from the gateway to a service in
// another process. The gateway removes both from every incoming request
// before it adds its own.
const (
	// IdentityHeader holds the principal as base64url-encoded JSON.
	IdentityHeader = "X-Ossa-Identity"
	// SignatureHeader holds "t=<unix seconds>,v1=<base64url HMAC-SHA256>".
	SignatureHeader = "X-Ossa-Identity-Signature"
)

// MinSecretLen is the shortest internal secret Forwarder accepts, in bytes.
const MinSecretLen = 32

// DefaultMaxAge is how long a signed identity is accepted: long enough for
// the clock skew between pods, short enough that a captured header is soon
// useless.
const DefaultMaxAge = 30 * time.Second

// ErrIdentity is wrapped by every Verify failure.
var ErrIdentity = errors.New("invalid forwarded identity")

// Forwarder signs and verifies identities the gateway forwards to services
// in other processes. The signature is an HMAC-SHA256, under a secret only
// the gateway and the services share, of the principal, the request method,
// path and query, and a timestamp: a service accepts it for that request
// only, and only for MaxAge.
type Forwarder struct {
	secret []byte
	// MaxAge bounds the age (and future skew) of an accepted signature.
	MaxAge time.Duration
	// Clock defaults to time.Now.
	Clock func() time.Time

	// macs pools keyed HMAC states: building one hashes the key twice,
	// which every signed request would otherwise pay.
	macs sync.Pool
	// encoded memoises the header form of recent principals (there are as
	// many as active callers), saving a JSON encoding per request.
	encoded sync.Map // Principal → string
	size    atomic.Int64
}

// maxEncoded bounds the memo; past it, principals are encoded each time.
const maxEncoded = 10_000

// NewForwarder returns a Forwarder for secret, which must be at least
// MinSecretLen bytes.
func NewForwarder(secret string) (*Forwarder, error) {
	if len(secret) < MinSecretLen {
		return nil, fmt.Errorf("internal secret: must be at least %d bytes, got %d", MinSecretLen, len(secret))
	}
	f := &Forwarder{secret: []byte(secret), MaxAge: DefaultMaxAge, Clock: time.Now}
	f.macs.New = func() any { return hmac.New(sha256.New, f.secret) }
	return f, nil
}

// encode returns p's header form, base64url JSON.
func (f *Forwarder) encode(p Principal) (string, error) {
	if v, ok := f.encoded.Load(p); ok {
		return v.(string), nil
	}
	doc, err := json.Marshal(p)
	if err != nil {
		return "", err
	}
	id := base64.RawURLEncoding.EncodeToString(doc)
	if f.size.Add(1) <= maxEncoded {
		f.encoded.Store(p, id)
	}
	return id, nil
}

// Sign sets the identity headers on h for a request of method to path?query.
// path is the escaped path (URL.EscapedPath).
func (f *Forwarder) Sign(h http.Header, p Principal, method, path, query string) error {
	id, err := f.encode(p)
	if err != nil {
		return fmt.Errorf("sign identity: %w", err)
	}
	ts := strconv.FormatInt(f.Clock().Unix(), 10)
	h.Set(IdentityHeader, id)
	h.Set(SignatureHeader, "t="+ts+",v1="+base64.RawURLEncoding.EncodeToString(f.mac(ts, method, path, query, id)))
	return nil
}

// Verify checks the identity headers of a request of method to path?query
// and returns the principal they carry. Every failure wraps ErrIdentity.
func (f *Forwarder) Verify(h http.Header, method, path, query string) (Principal, error) {
	id, sig := h.Get(IdentityHeader), h.Get(SignatureHeader)
	if id == "" || sig == "" {
		return Principal{}, fmt.Errorf("%w: missing %s or %s", ErrIdentity, IdentityHeader, SignatureHeader)
	}
	ts, mac, ok := parseSignature(sig)
	if !ok {
		return Principal{}, fmt.Errorf("%w: malformed %s", ErrIdentity, SignatureHeader)
	}
	if !hmac.Equal(mac, f.mac(ts, method, path, query, id)) {
		return Principal{}, fmt.Errorf("%w: bad signature", ErrIdentity)
	}
	// The timestamp is checked only once the signature proves who set it.
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return Principal{}, fmt.Errorf("%w: malformed timestamp", ErrIdentity)
	}
	if age := f.Clock().Sub(time.Unix(unix, 0)); age > f.MaxAge || age < -f.MaxAge {
		return Principal{}, fmt.Errorf("%w: signed %s ago, outside ±%s", ErrIdentity, age.Round(time.Second), f.MaxAge)
	}
	doc, err := base64.RawURLEncoding.DecodeString(id)
	if err != nil {
		return Principal{}, fmt.Errorf("%w: %s is not base64url", ErrIdentity, IdentityHeader)
	}
	var p Principal
	if err := json.Unmarshal(doc, &p); err != nil {
		return Principal{}, fmt.Errorf("%w: %s is not a principal", ErrIdentity, IdentityHeader)
	}
	if _, err := ParseRole(string(p.Role)); err != nil || p.Subject == "" {
		return Principal{}, fmt.Errorf("%w: principal lacks a subject or a known role", ErrIdentity)
	}
	return p, nil
}

func (f *Forwarder) mac(ts, method, path, query, id string) []byte {
	m := f.macs.Get().(hash.Hash)
	defer f.macs.Put(m)
	m.Reset()
	// Newline-separated: none of the fields can hold a newline (headers and
	// request lines cannot), so no two inputs share a message.
	for _, part := range []string{"ossa-identity-v1", ts, method, path, query, id} {
		io.WriteString(m, part)
		m.Write([]byte{'\n'})
	}
	return m.Sum(nil)
}

func parseSignature(s string) (ts string, mac []byte, ok bool) {
	for part := range strings.SplitSeq(s, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			b, err := base64.RawURLEncoding.DecodeString(v)
			if err != nil {
				return "", nil, false
			}
			mac = b
		}
	}
	return ts, mac, ts != "" && len(mac) == sha256.Size
}
