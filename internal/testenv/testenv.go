// Package testenv gives tests the external servers they need. A suite runs
// against a real server when its variable is set and fails loudly when that
// server cannot be reached; it skips, naming the variable, only when unset.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Variables that point tests at real servers; .ci/run sets both.
const (
	PostgresURLVar = "OSSA_TEST_POSTGRES_URL"
	RedisURLVar    = "OSSA_TEST_REDIS_URL"
)

// PostgresURL returns the URL of a fresh, empty schema in the test database,
// dropped when the test ends, so parallel tests and runs never collide. The
// schema is selected through search_path in the returned URL.
func PostgresURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv(PostgresURLVar)
	if base == "" {
		t.Skipf("%s is not set; skipping the PostgreSQL suite (e.g. %s=postgres://postgres@127.0.0.1:5432/test?sslmode=disable)", PostgresURLVar, PostgresURLVar)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("%s is set but PostgreSQL is unreachable: %v", PostgresURLVar, err)
	}
	defer conn.Close(ctx)

	schema := "ossa_test_" + randomSuffix()
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create test schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("drop test schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop test schema %s: %v", schema, err)
		}
	})
	return withSearchPath(t, base, schema)
}

// RedisURL returns the Redis URL for tests, skipping when unset. Reachability
// is the caller's first command: a failure there must fail the test.
func RedisURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(RedisURLVar)
	if u == "" {
		t.Skipf("%s is not set; skipping the Redis suite (e.g. %s=redis://127.0.0.1:6379/0)", RedisURLVar, RedisURLVar)
	}
	return u
}

// Prefix returns a random name prefix for keys, streams or rows a test
// creates on a shared server.
func Prefix(t testing.TB) string {
	t.Helper()
	return "ossa-test-" + randomSuffix() + ":"
}

func withSearchPath(t testing.TB, base, schema string) string {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parse %s: %v", PostgresURLVar, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func randomSuffix() string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err))
	}
	return hex.EncodeToString(b[:])
}

// WaitReady polls base/readyz until it answers 200, failing the test after
// timeout. Tests that start a server call it instead of sleeping.
func WaitReady(t testing.TB, base string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s/readyz did not answer 200 within %s", base, timeout)
}
