package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"net/http"
	"strconv"
	"strings"
	"sync"
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
	// encoded memoises the header form of principals (there are as many
	// as active callers; past maxEncoded, new ones are encoded each time),
	// saving a JSON encoding per request.
	// A map under a lock, not a sync.Map: a Principal boxed into an any
	// key would cost an allocation per lookup.
	encMu   sync.RWMutex
	encoded map[Principal]string
}

// maxEncoded bounds the memo; past it, principals are encoded each time.
const maxEncoded = 10_000

// NewForwarder returns a Forwarder for secret, which must be at least
// MinSecretLen bytes.
func NewForwarder(secret string) (*Forwarder, error) {
	if len(secret) < MinSecretLen {
		return nil, fmt.Errorf("internal secret: must be at least %d bytes, got %d", MinSecretLen, len(secret))
	}
	f := &Forwarder{secret: []byte(secret), MaxAge: DefaultMaxAge, Clock: time.Now, encoded: map[Principal]string{}}
	f.macs.New = func() any {
		return &macState{h: hmac.New(sha256.New, f.secret), msg: make([]byte, 0, 512), sum: make([]byte, 0, sha256.Size)}
	}
	return f, nil
}

// encode returns p's header form, base64url JSON.
func (f *Forwarder) encode(p Principal) (string, error) {
	f.encMu.RLock()
	id, ok := f.encoded[p]
	f.encMu.RUnlock()
	if ok {
		return id, nil
	}
	doc, err := json.Marshal(p)
	if err != nil {
		return "", err
	}
	id = base64.RawURLEncoding.EncodeToString(doc)
	f.encMu.Lock()
	if len(f.encoded) < maxEncoded {
		f.encoded[p] = id
	}
	f.encMu.Unlock()
	return id, nil
}

// Sign sets the identity headers on h for a request of method to path?query.
// path is the escaped path (URL.EscapedPath).
func (f *Forwarder) Sign(h http.Header, p Principal, method, path, query string) error {
	id, sig, err := f.Signed(p, method, path, query)
	if err != nil {
		return err
	}
	h.Set(IdentityHeader, id)
	h.Set(SignatureHeader, sig)
	return nil
}

// Signed returns the values of IdentityHeader and SignatureHeader for a
// request of method to path?query, for callers that write headers
// themselves.
func (f *Forwarder) Signed(p Principal, method, path, query string) (identity, signature string, err error) {
	id, err := f.encode(p)
	if err != nil {
		return "", "", fmt.Errorf("sign identity: %w", err)
	}
	// Built in one buffer: one allocation for the header value.
	var buf [96]byte
	sig := append(buf[:0], "t="...)
	sig = strconv.AppendInt(sig, f.Clock().Unix(), 10)
	ts := sig[len("t="):]
	var mac [sha256.Size]byte
	f.mac(&mac, ts, method, path, query, id)
	sig = append(sig, ",v1="...)
	sig = base64.RawURLEncoding.AppendEncode(sig, mac[:])
	return id, string(sig), nil
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
	var want [sha256.Size]byte
	f.mac(&want, []byte(ts), method, path, query, id)
	if !hmac.Equal(mac, want[:]) {
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

// macState is a keyed HMAC with a buffer for the message.
type macState struct {
	h   hash.Hash
	msg []byte
	sum []byte
}

// mac writes the signature of a request to out.
func (f *Forwarder) mac(out *[sha256.Size]byte, ts []byte, method, path, query, id string) {
	m := f.macs.Get().(*macState)
	defer f.macs.Put(m)
	m.h.Reset()
	// Newline-separated: none of the fields can hold a newline (headers and
	// request lines cannot), so no two inputs share a message. One pooled
	// buffer, one Write: a write per field copied each string to the heap.
	msg := append(m.msg[:0], "ossa-identity-v1\n"...)
	msg = append(append(msg, ts...), '\n')
	msg = append(append(msg, method...), '\n')
	msg = append(append(msg, path...), '\n')
	msg = append(append(msg, query...), '\n')
	msg = append(append(msg, id...), '\n')
	m.h.Write(msg)
	if cap(msg) <= 4<<10 {
		m.msg = msg
	}
	m.sum = m.h.Sum(m.sum[:0])
	copy(out[:], m.sum)
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
