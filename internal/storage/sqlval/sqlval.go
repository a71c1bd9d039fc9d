// Package sqlval encodes Go values as SQL parameters the same way for every
// driver, so SQLite and PostgreSQL store empty values and JSON alike.
package sqlval

import (
	"encoding/json"
	"fmt"
)

// OptionalJSON is nil (SQL NULL) for an empty value and the JSON text
// otherwise; invalid JSON is an error naming what it was.
func OptionalJSON(v json.RawMessage, what string) (any, error) {
	if len(v) == 0 {
		return nil, nil
	}
	if !json.Valid(v) {
		return nil, fmt.Errorf("%s is not valid JSON", what)
	}
	return string(v), nil
}

// JSONList is the JSON text of a list column: "[]" for an empty value;
// invalid JSON is an error naming what it was.
func JSONList(v json.RawMessage, what string) (string, error) {
	if len(v) == 0 {
		return "[]", nil
	}
	if !json.Valid(v) {
		return "", fmt.Errorf("%s is not valid JSON", what)
	}
	return string(v), nil
}

// NullIfEmpty is nil (SQL NULL) for "" and s otherwise.
func NullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// NullIfZero is nil (SQL NULL) for 0 and n otherwise.
func NullIfZero(n int64) any {
	if n == 0 {
		return nil
	}
	return n
}
