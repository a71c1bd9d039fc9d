package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/require"
)

func newFlags(t *testing.T, args ...string) (*Config, *pflag.FlagSet) {
	t.Helper()
	c := &Config{}
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	c.RegisterFlags(fs)
	require.NoError(t, fs.Parse(args))
	return c, fs
}

func TestDefaultsAreValid(t *testing.T) {
	t.Parallel()
	c, fs := newFlags(t)
	require.NoError(t, c.Load(fs, "", nil))
	require.NoError(t, c.Validate())
	require.Equal(t, []string{"all"}, c.Target)
	require.Equal(t, "data/ossa.db", c.Database.URL)
}

// Defaults < file < environment < flags, each source only for what it sets.
func TestPrecedence(t *testing.T) {
	t.Parallel()
	c, fs := newFlags(t, "--log.level=warn", "--target=discovery,monitoring")
	env := []string{
		"OSSA_LOG_LEVEL=error",                 // loses to the flag
		"OSSA_DISCOVERY_HEARTBEAT_TTL=1m",      // beats the file
		"OSSA_HTTP_BODY_LIMIT=2048",            // beats the default
		"OSSA_TARGET=gateway",                  // loses to the flag
		"UNRELATED_DISCOVERY_PROBE_TIMEOUT=9s", // not ours
	}
	require.NoError(t, c.Load(fs, "testdata/good.yml", env))
	require.NoError(t, c.Validate())

	require.Equal(t, "warn", c.Log.Level)
	require.Equal(t, []string{"discovery", "monitoring"}, c.Target)
	require.Equal(t, time.Minute, c.Discovery.HeartbeatTTL)
	require.Equal(t, 20*time.Second, c.Discovery.ProbeInterval, "from the file")
	require.Equal(t, 2*time.Second, c.Discovery.ProbeTimeout, "default kept")
	require.Equal(t, int64(2048), c.HTTP.BodyLimit)
	require.Equal(t, ":4011", c.HTTP.Addr)
}

func TestBadEnvironmentValue(t *testing.T) {
	t.Parallel()
	c, fs := newFlags(t)
	err := c.Load(fs, "", []string{"OSSA_DISCOVERY_PROBE_INTERVAL=soon"})
	require.ErrorContains(t, err, "OSSA_DISCOVERY_PROBE_INTERVAL")
}

// Each testdata/*.bad.yml must fail with the message in its .err file.
func TestBadFiles(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("testdata/*.bad.yml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			t.Parallel()
			want, err := os.ReadFile(f + ".err")
			require.NoError(t, err)
			c, fs := newFlags(t)
			err = c.Load(fs, f, nil)
			if err == nil {
				err = c.Validate()
			}
			require.Error(t, err)
			for _, line := range strings.Split(strings.TrimSpace(string(want)), "\n") {
				require.Contains(t, err.Error(), line)
			}
		})
	}
}

func TestMissingFile(t *testing.T) {
	t.Parallel()
	c, fs := newFlags(t)
	require.ErrorContains(t, c.Load(fs, "testdata/nope.yml", nil), "read config file")
}

func TestPrintConfigRedactsPasswords(t *testing.T) {
	t.Parallel()
	c, fs := newFlags(t)
	require.NoError(t, c.Load(fs, "testdata/good.yml", nil))
	y, err := c.YAML()
	require.NoError(t, err)
	require.NotContains(t, string(y), ":secret@")
	require.Contains(t, string(y), "postgres://ossa:xxxxx@db:5432/ossa")
	require.Equal(t, "postgres://ossa:secret@db:5432/ossa", c.Database.URL, "redaction must not change the config")
}

func TestPrintConfigRedactsSecrets(t *testing.T) {
	t.Parallel()
	c, fs := newFlags(t)
	require.NoError(t, c.Load(fs, "", []string{
		"OSSA_AUTH_INTERNAL_SECRET=internal-secret-value-0123456789abcdef",
		"OSSA_ADMIN_KEY=ossa_admin_key_value_0123456789abcdef",
		"OSSA_REDIS_URL=redis://:redis-password@cache:6379/0",
	}))
	y, err := c.YAML()
	require.NoError(t, err)
	for _, secret := range []string{"internal-secret-value", "admin_key_value", "redis-password"} {
		require.NotContains(t, string(y), secret)
	}
	require.Equal(t, "ossa_admin_key_value_0123456789abcdef", c.Auth.AdminKey, "OSSA_ADMIN_KEY sets --admin-key")
}

func TestEnvName(t *testing.T) {
	t.Parallel()
	require.Equal(t, "OSSA_DISCOVERY_PROBE_INTERVAL", EnvName("discovery.probe-interval"))
	require.Equal(t, "OSSA_DATABASE_URL", EnvName("database-url"))
}
