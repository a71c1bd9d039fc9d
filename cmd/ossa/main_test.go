package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ossa-platform/ossa/internal/testenv"
	"github.com/stretchr/testify/require"
)

// ossaBin is the binary under test, built once by TestMain so the tests see
// exactly what users run: flags, exit codes, output.
var ossaBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ossa-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ossaBin = filepath.Join(dir, "ossa")
	if runtime.GOOS == "windows" {
		ossaBin += ".exe"
	}
	build := exec.Command("go", "build", "-o", ossaBin, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build ossa:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	stdout, stderr string
	code           int
}

func run(t *testing.T, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(ossaBin, args...)
	cmd.Dir = t.TempDir()
	cmd.Env = append(cleanEnv(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return result{stdout: out.String(), stderr: errb.String(), code: code}
}

// cleanEnv drops OSSA_* variables of the developer's shell so tests are
// reproducible.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "OSSA_") {
			env = append(env, kv)
		}
	}
	return env
}

func repoPath(p string) string {
	abs, err := filepath.Abs(filepath.Join("..", "..", p))
	if err != nil {
		panic(err)
	}
	return abs
}

func TestVersion(t *testing.T) {
	t.Parallel()
	r := run(t, nil, "version")
	require.Equal(t, 0, r.code)
	require.Contains(t, r.stdout, "OSSA manifest 0.1.8")
}

func TestUnknownCommandFails(t *testing.T) {
	t.Parallel()
	r := run(t, nil, "frobnicate")
	require.NotEqual(t, 0, r.code)
	require.Contains(t, r.stderr, `unknown command "frobnicate"`)
}

func TestValidate(t *testing.T) {
	t.Parallel()
	r := run(t, nil, "validate", repoPath("examples/agents/*.yml"))
	require.Equal(t, 0, r.code, r.stdout+r.stderr)
	require.Contains(t, r.stdout, "invoice-auditor-governed.yml: valid (declared tier governed, tier reached governed)")

	bad := repoPath("examples/agents/invalid/bad-name.yml")
	r = run(t, nil, "validate", repoPath("examples/agents/echo.yml"), bad)
	require.Equal(t, 1, r.code)
	golden, err := os.ReadFile(strings.TrimSuffix(bad, ".yml") + ".golden")
	require.NoError(t, err)
	for _, line := range strings.Split(strings.TrimSpace(string(golden)), "\n") {
		require.Contains(t, r.stdout, line)
	}
	require.Contains(t, r.stdout, "bad-name.yml: invalid")

	r = run(t, nil, "validate", "--output", "json", bad)
	require.Equal(t, 1, r.code)
	var results []struct {
		File   string `json:"file"`
		Valid  bool   `json:"valid"`
		Errors []struct {
			Path string `json:"path"`
			Line int    `json:"line"`
		} `json:"errors"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &results))
	require.Len(t, results, 1)
	require.False(t, results[0].Valid)
	require.Equal(t, "/metadata/name", results[0].Errors[0].Path)
	require.Positive(t, results[0].Errors[0].Line)

	r = run(t, nil, "validate", repoPath("examples/agents/invalid/malformed.yml"))
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stdout, "not well-formed")
	require.Contains(t, r.stdout, "line 8:1")

	r = run(t, nil, "validate", "no-such-file.yml")
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stdout, "no such file")
}

func TestServeFlags(t *testing.T) {
	t.Parallel()
	r := run(t, nil, "serve", "--list-targets")
	require.Equal(t, 0, r.code)
	require.Contains(t, r.stdout, "discovery")
	require.Contains(t, r.stdout, "3011")

	r = run(t, []string{"OSSA_DISCOVERY_PROBE_INTERVAL=42s"}, "serve", "--print-config", "--database-url=postgres://u:hunter2@db/ossa")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "probe_interval: 42s")
	require.NotContains(t, r.stdout, "hunter2")

	r = run(t, nil, "serve", "--verify-config", "--log.level=loud")
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, `log.level "loud"`)

	r = run(t, nil, "serve", "--target=warp-drive", "--database-url=x.db")
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, `unknown target "warp-drive"`)
}

// The quickstart, end to end: serve, then register, list, find, get and
// remove an agent with the CLI.
func TestServeAndAgentCommands(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t)
	const adminKey = "ossa_test_admin_key_for_the_cli_test_0123456789"
	dir := t.TempDir()
	srv := exec.Command(ossaBin, "serve", "--http.addr="+addr, "--database-url="+filepath.Join(dir, "ossa.db"),
		"--http.shutdown-delay=0s", "--log.format=json")
	srv.Env = append(cleanEnv(), "OSSA_ADMIN_KEY="+adminKey)
	var logs bytes.Buffer
	srv.Stderr = &logs
	require.NoError(t, srv.Start())
	t.Cleanup(func() {
		_ = srv.Process.Signal(os.Interrupt)
		done := make(chan error, 1)
		go func() { done <- srv.Wait() }()
		select {
		case err := <-done:
			require.NoError(t, err, "ossa serve exited uncleanly:\n%s", logs.String())
		case <-time.After(20 * time.Second):
			_ = srv.Process.Kill()
			t.Errorf("ossa serve did not stop on SIGINT")
		}
	})
	testenv.WaitReady(t, "http://"+addr, 20*time.Second)

	env := []string{"OSSA_SERVER=http://" + addr, "OSSA_API_KEY=" + adminKey}
	r := run(t, env, "agent", "register", "-f", repoPath("examples/agents/echo.yml"), "--endpoint", "http://127.0.0.1:1", "-o", "json")
	require.Equal(t, 0, r.code, r.stderr)
	var reg struct {
		Agent struct {
			ID string `json:"id"`
		} `json:"agent"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &reg))
	require.NotEmpty(t, reg.Agent.ID)

	r = run(t, env, "agent", "register", "-f", repoPath("examples/agents/echo.yml"))
	require.Equal(t, 1, r.code, "a duplicate registration must fail")
	require.Contains(t, r.stderr, "409")

	r = run(t, env, "agent", "register", "-f", repoPath("examples/agents/invalid/many-violations.yml"))
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "line 5:9 /metadata/name")

	r = run(t, env, "agent", "list", "--capability", "echo")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, reg.Agent.ID)

	r = run(t, env, "agent", "heartbeat", reg.Agent.ID)
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "healthy")

	r = run(t, env, "agent", "find", "echo")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, reg.Agent.ID)

	r = run(t, env, "agent", "get", reg.Agent.ID)
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "echo@1.0.0")

	r = run(t, env, "agent", "rm", reg.Agent.ID)
	require.Equal(t, 0, r.code, r.stderr)
	r = run(t, env, "agent", "get", reg.Agent.ID)
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "404")
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}
