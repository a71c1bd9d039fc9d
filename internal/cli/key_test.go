package cli

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/require"

	"github.com/ossa-platform/ossa/internal/app"
	"github.com/ossa-platform/ossa/internal/config"
)

const cliAdminKey = "ossa_cli_test_admin_key_0123456789abcdef"

// platform runs ossa in process and returns its URL.
func platform(t *testing.T) string {
	t.Helper()
	var cfg config.Config
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	cfg.RegisterFlags(fs)
	require.NoError(t, cfg.Load(fs, "", nil))
	cfg.Database.URL = filepath.Join(t.TempDir(), "ossa.db")
	cfg.Auth.AdminKey = cliAdminKey
	cfg.HTTP.ShutdownDelay = 0
	cfg.Discovery.ProbeInterval = 0
	a, err := app.New(context.Background(), cfg, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	return "http://" + ln.Addr().String()
}

// ossa runs the CLI and returns its exit status, stdout and stderr.
func ossa(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Main(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// isolate points the CLI at an empty client configuration and environment.
func isolate(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", dir)
	t.Setenv(clientConfigEnv, "")
	t.Setenv("OSSA_SERVER", "")
	t.Setenv("OSSA_API_KEY", "")
	return filepath.Join(dir, "ossa", "config.yaml")
}

func TestKeyCommands(t *testing.T) {
	isolate(t)
	base := platform(t)
	admin := []string{"--server", base, "--api-key", cliAdminKey}

	code, out, stderr := ossa(t, append([]string{"key", "create", "--role", "operator", "--name", "ci"}, admin...)...)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, out, "shown only this once")
	var secret string
	for f := range strings.FieldsSeq(out) {
		if strings.HasPrefix(f, "ossa_") {
			secret = f
		}
	}
	require.NotEmpty(t, secret)

	code, out, stderr = ossa(t, "agent", "list", "--server", base, "--api-key", secret)
	require.Equal(t, 0, code, "the new key works: %s", stderr)

	code, out, stderr = ossa(t, append([]string{"key", "list"}, admin...)...)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, out, "ci")
	require.Contains(t, out, secret[:11])
	require.NotContains(t, out, secret, "a key is printed once, on create")
	var id string
	for _, line := range strings.Split(out, "\n") {
		if fields := strings.Fields(line); len(fields) > 1 && fields[1] == "ci" {
			id = fields[0]
		}
	}
	require.NotEmpty(t, id, out)

	code, out, stderr = ossa(t, append([]string{"key", "revoke", id}, admin...)...)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, out, "revoked "+id)
	code, _, stderr = ossa(t, "agent", "list", "--server", base, "--api-key", secret)
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "401")

	code, out, stderr = ossa(t, append([]string{"audit", "--action", "DELETE /api/v1/keys/{id}"}, admin...)...)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, out, "/api/v1/keys/"+id)

	code, _, stderr = ossa(t, append([]string{"key", "create", "--role", "agent", "--name", "x"}, admin...)...)
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "agent-role key must name the agent")
}

// Flags win over the environment, which wins over the config file.
func TestClientConfigContexts(t *testing.T) {
	path := isolate(t)
	base := platform(t)

	code, _, stderr := ossa(t, "config", "set-context", "local", "--server", base, "--api-key", cliAdminKey)
	require.Equal(t, 0, code, stderr)
	code, _, stderr = ossa(t, "config", "set-context", "broken", "--server", "http://127.0.0.1:1", "--api-key", "ossa_wrong")
	require.Equal(t, 0, code, stderr)
	fi, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "the file holds keys")

	code, out, stderr := ossa(t, "config", "view")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, out, "current-context: local", "the first context becomes current")
	require.NotContains(t, out, cliAdminKey, "keys are masked")

	code, _, stderr = ossa(t, "key", "list")
	require.Equal(t, 0, code, "from the current context: %s", stderr)

	code, _, _ = ossa(t, "config", "use-context", "broken")
	require.Equal(t, 0, code)
	code, _, _ = ossa(t, "key", "list")
	require.Equal(t, 1, code, "the broken context is used")
	code, _, stderr = ossa(t, "key", "list", "--context", "local")
	require.Equal(t, 0, code, stderr)

	t.Setenv("OSSA_SERVER", base)
	t.Setenv("OSSA_API_KEY", cliAdminKey)
	code, _, stderr = ossa(t, "key", "list")
	require.Equal(t, 0, code, "the environment wins over the file: %s", stderr)
	code, _, _ = ossa(t, "key", "list", "--api-key", "ossa_wrong_but_from_a_flag_0123456789")
	require.Equal(t, 1, code, "a flag wins over the environment")

	code, _, stderr = ossa(t, "config", "use-context", "nope")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, `no context "nope"`)
	code, _, stderr = ossa(t, "key", "list", "--context", "nope")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, `context "nope" is not in`)
}
