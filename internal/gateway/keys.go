package gateway

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
)

// KeyPrefix starts every API key, so a leaked one is easy to spot (secret
// scanners) and tell from a JWT.
const KeyPrefix = "ossa_"

// minKeyLen is the shortest key accepted as OSSA_ADMIN_KEY: the prefix plus
// 24 characters, well over 128 bits if they are random.
const minKeyLen = len(KeyPrefix) + 24

// shownPrefixLen is how much of a key lists show.
const shownPrefixLen = len(KeyPrefix) + 6

// newKey returns a new API key: the prefix and 32 random bytes, base64url.
func newKey() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("new API key: %w", err)
	}
	return KeyPrefix + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// hashKey is what the store keeps of a key. Keys carry 256 bits of entropy,
// so a fast hash is as safe as a slow one and costs nothing per request.
func hashKey(key string) string {
	sum := sumKey(key)
	return hex.EncodeToString(sum[:])
}

// sumKey is the SHA-256 of key, without an allocation for keys of the
// usual length.
func sumKey(key string) [sha256.Size]byte {
	var buf [128]byte
	if len(key) > len(buf) {
		return sha256.Sum256([]byte(key))
	}
	n := copy(buf[:], key)
	return sha256.Sum256(buf[:n])
}

// shownPrefix is the part of key lists display.
func shownPrefix(key string) string {
	return key[:min(len(key), shownPrefixLen)]
}

// checkBootstrapKey accepts an operator-chosen admin key.
func checkBootstrapKey(key string) error {
	if !strings.HasPrefix(key, KeyPrefix) || len(key) < minKeyLen {
		return fmt.Errorf("admin key: must start with %q and be at least %d characters (generate one with: echo %s$(openssl rand -hex 32))", KeyPrefix, minKeyLen, KeyPrefix)
	}
	return nil
}
