package storage

import (
	"encoding/base64"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Page sizes every List honours.
const (
	DefaultPageLimit = 50
	MaxPageLimit     = 500
)

// PageLimit applies the default to a zero limit and caps large ones.
func PageLimit(n int) int {
	switch {
	case n <= 0:
		return DefaultPageLimit
	case n > MaxPageLimit:
		return MaxPageLimit
	}
	return n
}

// EncodeCursor turns the last ID of a page into an opaque cursor.
func EncodeCursor(id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(id))
}

// DecodeCursor returns the ID a cursor holds, or ErrInvalidCursor. NUL is
// refused because PostgreSQL text cannot hold it, so both drivers accept the
// same cursors.
func DecodeCursor(c string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(b) == 0 || !utf8.Valid(b) || strings.ContainsRune(string(b), 0) {
		return "", fmt.Errorf("%w %q", ErrInvalidCursor, c)
	}
	return string(b), nil
}

// TrimPage cuts items, fetched with one row more than limit, to one page and
// returns the cursor of the next page ("" on the last). A nil slice becomes
// empty, so a page always encodes as a list.
func TrimPage[T any](items []T, limit int, id func(T) string) ([]T, string) {
	if items == nil {
		items = []T{}
	}
	if len(items) <= limit {
		return items, ""
	}
	items = items[:limit]
	return items, EncodeCursor(id(items[limit-1]))
}
