package discovery

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/spf13/pflag"
)

// Config tunes the discovery service.
type Config struct {
	// HeartbeatTTL is how long a heartbeat counts as evidence of life.
	HeartbeatTTL time.Duration `yaml:"heartbeat_ttl"`
	// ProbeInterval is how often each agent's health endpoint is probed;
	// zero disables active probes.
	ProbeInterval time.Duration `yaml:"probe_interval"`
	// ProbeTimeout bounds one probe; it must be shorter than ProbeInterval.
	ProbeTimeout time.Duration `yaml:"probe_timeout"`
	// ProbeConcurrency bounds probes in flight at once.
	ProbeConcurrency int `yaml:"probe_concurrency"`
	// UnhealthyAfter is how many consecutive failed probes make an agent
	// unhealthy; fewer make it degraded.
	UnhealthyAfter int `yaml:"unhealthy_after"`
	// SyncInterval is how often the in-memory index reloads from the store,
	// which picks up writes made by other replicas.
	SyncInterval time.Duration `yaml:"sync_interval"`
	// Scan is a directory whose .agents/**/agent.yml manifests are registered
	// at start and whenever they change (UADP workspace scan).
	Scan string `yaml:"scan"`
	// URL is where processes that do not run discovery reach it (the
	// gateway in split mode); the default is the Helm chart's Service.
	URL string `yaml:"url"`
}

// RegisterFlags registers the discovery flags under prefix.
func (c *Config) RegisterFlags(fs *pflag.FlagSet, prefix string) {
	fs.DurationVar(&c.HeartbeatTTL, prefix+"heartbeat-ttl", 30*time.Second, "how long a heartbeat counts as evidence an agent is alive")
	fs.DurationVar(&c.ProbeInterval, prefix+"probe-interval", 15*time.Second, "interval between active health probes of each agent (0 disables)")
	fs.DurationVar(&c.ProbeTimeout, prefix+"probe-timeout", 2*time.Second, "timeout of one health probe")
	fs.IntVar(&c.ProbeConcurrency, prefix+"probe-concurrency", 16, "maximum health probes in flight")
	fs.IntVar(&c.UnhealthyAfter, prefix+"unhealthy-after", 3, "consecutive failed probes before an agent is unhealthy")
	fs.DurationVar(&c.SyncInterval, prefix+"sync-interval", 5*time.Second, "interval between reloads of the in-memory index from the store")
	fs.StringVar(&c.Scan, prefix+"scan", "", "directory whose .agents/**/agent.yml manifests are registered and watched")
	fs.StringVar(&c.URL, prefix+"url", "http://ossa-discovery:3011", "URL other processes (the gateway in split mode) reach discovery at")
}

// Validate reports every invalid value.
func (c *Config) Validate() error {
	var errs []error
	if c.HeartbeatTTL <= 0 {
		errs = append(errs, fmt.Errorf("heartbeat_ttl %s: must be positive", c.HeartbeatTTL))
	}
	if c.ProbeInterval < 0 {
		errs = append(errs, fmt.Errorf("probe_interval %s: must not be negative", c.ProbeInterval))
	}
	if c.ProbeTimeout <= 0 {
		errs = append(errs, fmt.Errorf("probe_timeout %s: must be positive", c.ProbeTimeout))
	}
	if c.ProbeInterval > 0 && c.ProbeTimeout >= c.ProbeInterval {
		errs = append(errs, fmt.Errorf("probe_timeout %s: must be shorter than probe_interval %s", c.ProbeTimeout, c.ProbeInterval))
	}
	if c.ProbeConcurrency < 1 {
		errs = append(errs, errors.New("probe_concurrency: must be at least 1"))
	}
	if c.UnhealthyAfter < 1 {
		errs = append(errs, errors.New("unhealthy_after: must be at least 1"))
	}
	if c.URL != "" {
		if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("url %q: must be an absolute http or https URL", c.URL))
		}
	}
	if c.SyncInterval <= 0 {
		errs = append(errs, fmt.Errorf("sync_interval %s: must be positive", c.SyncInterval))
	}
	return errors.Join(errs...)
}
