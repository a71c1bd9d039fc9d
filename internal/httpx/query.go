package httpx

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// CheckQuery rejects query parameters outside allowed, so a misspelt filter
// fails with a 400 instead of silently matching everything.
func CheckQuery(q url.Values, allowed ...string) error {
	var unknown []string
	for k := range q {
		if !slices.Contains(allowed, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	slices.Sort(unknown)
	if len(allowed) == 0 {
		return Errorf(http.StatusBadRequest, "unknown query parameter(s) %s; this request takes none",
			strings.Join(unknown, ", "))
	}
	return Errorf(http.StatusBadRequest, "unknown query parameter(s) %s; known: %s",
		strings.Join(unknown, ", "), strings.Join(allowed, ", "))
}

// QueryLimit reads the limit parameter: def when absent, a 400 naming the
// range when it is not an integer from 1 to maxLimit.
func QueryLimit(q url.Values, def, maxLimit int) (int, error) {
	s := q.Get("limit")
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > maxLimit {
		return 0, Errorf(http.StatusBadRequest, "limit: %q must be an integer from 1 to %d", s, maxLimit)
	}
	return n, nil
}
