// Package config holds the one configuration of the ossa binary. Values come
// from defaults, then a YAML file, then OSSA_* environment variables, then
// flags; each later source wins. Unknown YAML keys are errors.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"

	"github.com/ossa-platform/ossa/internal/discovery"
	"github.com/ossa-platform/ossa/internal/gateway"
	"github.com/ossa-platform/ossa/internal/taskagent"
)

// EnvPrefix starts every environment variable that sets a flag:
// --discovery.probe-interval is OSSA_DISCOVERY_PROBE_INTERVAL.
const EnvPrefix = "OSSA_"

// Config is the whole configuration of one ossa process.
type Config struct {
	// Target lists the modules this process runs; "all" runs every service.
	Target   []string       `yaml:"target"`
	HTTP     HTTPConfig     `yaml:"http"`
	Log      LogConfig      `yaml:"log"`
	Database DatabaseConfig `yaml:"database"`

	// Auth holds the secrets the gateway and the services share.
	Auth  AuthConfig  `yaml:"auth"`
	Redis RedisConfig `yaml:"redis"`

	Discovery discovery.Config `yaml:"discovery"`
	Gateway   gateway.Config   `yaml:"gateway"`
	TaskAgent taskagent.Config `yaml:"task_agent"`
}

// AuthConfig holds the process's authentication secrets.
type AuthConfig struct {
	// InternalSecret signs the identity the gateway forwards to services in
	// other processes; the gateway and every service share it. Required
	// whenever the gateway and a service run in different processes.
	InternalSecret string `yaml:"internal_secret"`
	// AdminKey is an API key the gateway ensures exists with the admin role
	// (OSSA_ADMIN_KEY): how the first admin of a cluster is seeded.
	AdminKey string `yaml:"admin_key"`
}

// RedisConfig selects Redis, which holds the gateway's rate limits in
// cluster mode so that replicas share them.
type RedisConfig struct {
	// URL is a redis:// or rediss:// URL; empty keeps state in process.
	URL string `yaml:"url"`
}

// HTTPConfig is the process's HTTP server.
type HTTPConfig struct {
	// Addr is the listen address; empty means the port of the target's front
	// service (3000 for all and gateway).
	Addr      string `yaml:"addr"`
	BodyLimit int64  `yaml:"body_limit"`
	// ShutdownDelay is how long /readyz reports 503 before the server stops
	// accepting, so load balancers move traffic away first.
	ShutdownDelay time.Duration `yaml:"shutdown_delay"`
	// DrainTimeout bounds how long in-flight work may take to finish.
	DrainTimeout      time.Duration `yaml:"drain_timeout"`
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	// TLSCert and TLSKey are PEM files; with both set the server speaks TLS.
	TLSCert string `yaml:"tls_cert"`
	TLSKey  string `yaml:"tls_key"`
}

// LogConfig selects the log level and format.
type LogConfig struct {
	Level string `yaml:"level"`
	// Format is json, text, or auto (text on a terminal, json otherwise).
	Format string `yaml:"format"`
}

// DatabaseConfig selects the system of record.
type DatabaseConfig struct {
	// URL is a postgres:// URL or a SQLite file path (sqlite:// optional).
	URL string `yaml:"url"`
	// AutoMigrate applies migrations at start. The Helm chart turns it off and
	// runs `ossa migrate up` as a hook instead.
	AutoMigrate bool `yaml:"auto_migrate"`
}

// RegisterFlags registers every flag with its default, writing into c.
func (c *Config) RegisterFlags(fs *pflag.FlagSet) {
	fs.StringSliceVar(&c.Target, "target", []string{"all"}, "modules to run: all, or a comma-separated list of services (see --list-targets)")
	fs.StringVar(&c.HTTP.Addr, "http.addr", "", "listen address (default: the target's port, :3000 for all)")
	fs.Int64Var(&c.HTTP.BodyLimit, "http.body-limit", 1<<20, "maximum request body size in bytes")
	fs.DurationVar(&c.HTTP.ShutdownDelay, "http.shutdown-delay", 2*time.Second, "time /readyz reports 503 before the server stops on SIGTERM")
	fs.DurationVar(&c.HTTP.DrainTimeout, "http.drain-timeout", 30*time.Second, "time allowed for in-flight requests and work to finish on shutdown")
	fs.DurationVar(&c.HTTP.ReadHeaderTimeout, "http.read-header-timeout", 10*time.Second, "time allowed to read request headers")
	fs.StringVar(&c.HTTP.TLSCert, "http.tls-cert", "", "PEM certificate file; with --http.tls-key the server speaks HTTPS")
	fs.StringVar(&c.HTTP.TLSKey, "http.tls-key", "", "PEM private key file of --http.tls-cert")
	fs.StringVar(&c.Log.Level, "log.level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&c.Log.Format, "log.format", "auto", "log format: auto, json, text")
	fs.StringVar(&c.Database.URL, "database-url", "data/ossa.db", "postgres:// URL, or a SQLite file path for the embedded store")
	fs.BoolVar(&c.Database.AutoMigrate, "database.auto-migrate", true, "apply database migrations at start")
	fs.StringVar(&c.Auth.InternalSecret, "auth.internal-secret", "", "secret (32+ bytes) signing the identity the gateway forwards to services in other processes")
	fs.StringVar(&c.Auth.AdminKey, "admin-key", "", "API key (ossa_…) to ensure exists as an admin key; seeds the first admin")
	fs.StringVar(&c.Redis.URL, "redis-url", "", "redis:// URL; keeps gateway rate limits in Redis, shared by replicas")
	c.Discovery.RegisterFlags(fs, "discovery.")
	c.Gateway.RegisterFlags(fs, "gateway.")
	c.TaskAgent.RegisterFlags(fs, "task-agent.")
}

// Validate reports every invalid value at once.
func (c *Config) Validate() error {
	var errs []error
	if len(c.Target) == 0 {
		errs = append(errs, errors.New("target: at least one target is required"))
	}
	if c.HTTP.Addr != "" {
		if _, _, err := net.SplitHostPort(c.HTTP.Addr); err != nil {
			errs = append(errs, fmt.Errorf("http.addr %q: %w", c.HTTP.Addr, err))
		}
	}
	if c.HTTP.BodyLimit < 1024 {
		errs = append(errs, fmt.Errorf("http.body_limit %d: must be at least 1024 bytes", c.HTTP.BodyLimit))
	}
	if c.HTTP.ShutdownDelay < 0 || c.HTTP.DrainTimeout <= 0 {
		errs = append(errs, errors.New("http.shutdown_delay must be ≥ 0 and http.drain_timeout > 0"))
	}
	if (c.HTTP.TLSCert == "") != (c.HTTP.TLSKey == "") {
		errs = append(errs, errors.New("http.tls_cert and http.tls_key: set both or neither"))
	}
	if c.Redis.URL != "" && !strings.HasPrefix(c.Redis.URL, "redis://") && !strings.HasPrefix(c.Redis.URL, "rediss://") {
		errs = append(errs, fmt.Errorf("redis.url %q: must be a redis:// or rediss:// URL", RedactURL(c.Redis.URL)))
	}
	switch strings.ToLower(c.Log.Level) {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log.level %q: must be debug, info, warn or error", c.Log.Level))
	}
	switch c.Log.Format {
	case "auto", "json", "text":
	default:
		errs = append(errs, fmt.Errorf("log.format %q: must be auto, json or text", c.Log.Format))
	}
	if strings.TrimSpace(c.Database.URL) == "" {
		errs = append(errs, errors.New("database.url: required"))
	}
	if err := c.Discovery.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("discovery: %w", err))
	}
	if err := c.Gateway.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("gateway: %w", err))
	}
	if err := c.TaskAgent.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("task_agent: %w", err))
	}
	return errors.Join(errs...)
}

// Load applies the file at path (if any), then the environment, on top of the
// defaults already in c, keeping every flag the user set on the command line.
// fs must be the flag set c registered on, already parsed.
func (c *Config) Load(fs *pflag.FlagSet, path string, environ []string) error {
	explicit := map[string]string{}
	fs.Visit(func(f *pflag.Flag) { explicit[f.Name] = flagValue(f) })

	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("read config file: %w", err)
		}
		if err := decodeStrict(data, c); err != nil {
			return fmt.Errorf("config file %s: %w", path, err)
		}
	}

	env := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, EnvPrefix) {
			env[k] = v
		}
	}
	var errs []error
	fs.VisitAll(func(f *pflag.Flag) {
		if _, set := explicit[f.Name]; set {
			return
		}
		if v, ok := env[EnvName(f.Name)]; ok {
			if err := setFlag(fs, f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", EnvName(f.Name), err))
			}
		}
	})
	// Flags win over the file: set them again after it was applied.
	for name, v := range explicit {
		if err := setFlag(fs, name, v); err != nil {
			errs = append(errs, fmt.Errorf("--%s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// EnvName is the environment variable that sets the flag name.
func EnvName(flag string) string {
	return EnvPrefix + strings.NewReplacer(".", "_", "-", "_").Replace(strings.ToUpper(flag))
}

// flagValue renders a flag's value so that fs.Set accepts it again; slices
// print as [a,b] and must be unwrapped.
func flagValue(f *pflag.Flag) string {
	if sv, ok := f.Value.(pflag.SliceValue); ok {
		return strings.Join(sv.GetSlice(), ",")
	}
	return f.Value.String()
}

// setFlag sets a flag from its string form. Slices are replaced, not
// appended to as pflag's Set does once a slice flag has been changed.
func setFlag(fs *pflag.FlagSet, name, v string) error {
	f := fs.Lookup(name)
	if sv, ok := f.Value.(pflag.SliceValue); ok {
		var items []string
		for _, it := range strings.Split(v, ",") {
			if it = strings.TrimSpace(it); it != "" {
				items = append(items, it)
			}
		}
		return sv.Replace(items)
	}
	return fs.Set(name, v)
}

func decodeStrict(data []byte, c *Config) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

// YAML renders the effective configuration, for --print-config. Credentials
// in URLs and secrets are masked.
func (c *Config) YAML() ([]byte, error) {
	shown := *c
	shown.Database.URL = RedactURL(c.Database.URL)
	shown.Redis.URL = RedactURL(c.Redis.URL)
	shown.Auth.InternalSecret = redactSecret(c.Auth.InternalSecret)
	shown.Auth.AdminKey = redactSecret(c.Auth.AdminKey)
	return yaml.Marshal(&shown)
}

// redactSecret shows whether a secret is set, never the secret.
func redactSecret(s string) string {
	if s == "" {
		return ""
	}
	return "xxxxx"
}

// RedactURL masks the password of a URL-shaped value.
func RedactURL(s string) string {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return s
	}
	userinfo, host, ok := strings.Cut(rest, "@")
	if !ok {
		return s
	}
	if user, _, hasPass := strings.Cut(userinfo, ":"); hasPass {
		return scheme + "://" + user + ":xxxxx@" + host
	}
	return s
}
