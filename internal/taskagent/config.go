package taskagent

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/spf13/pflag"
)

// Config tunes the task service. docs/tasks.md explains each setting.
type Config struct {
	// URL is where processes that do not run the task service reach it (the
	// gateway in split mode). The task service reaches discovery at
	// --discovery.url when discovery runs elsewhere.
	URL string `yaml:"url"`

	// Workers is River's MaxWorkers: attempts run at once by this process.
	Workers int `yaml:"workers"`
	// FetchCooldown and FetchPollInterval are River's fetch settings: the
	// least time between two fetches, and the longest time between two
	// when no insert notification arrives.
	FetchCooldown     time.Duration `yaml:"fetch_cooldown"`
	FetchPollInterval time.Duration `yaml:"fetch_poll_interval"`
	// RescueAfter is River's RescueStuckJobsAfter. A job whose worker died
	// is retried once both this and the job's own timeout (the task's
	// timeout plus a grace period) have passed since its attempt began.
	RescueAfter time.Duration `yaml:"rescue_after"`

	// DefaultTimeout and MaxTimeout bound one attempt.
	DefaultTimeout time.Duration `yaml:"default_timeout"`
	MaxTimeout     time.Duration `yaml:"max_timeout"`
	// DefaultMaxAttempts applies when a task sets none; MaxAttempts is the
	// most a task may ask for.
	DefaultMaxAttempts int `yaml:"default_max_attempts"`
	MaxAttempts        int `yaml:"max_attempts"`
	// RetryBase and RetryMax shape the exponential backoff between attempts.
	RetryBase time.Duration `yaml:"retry_base"`
	RetryMax  time.Duration `yaml:"retry_max"`
	// MaxWaitForAgent caps a task's wait_for_agent.
	MaxWaitForAgent time.Duration `yaml:"max_wait_for_agent"`

	// Lease is how long a pull-mode claim lasts without a heartbeat;
	// MaxClaimWait caps how long a claim request waits for work. It must
	// stay below the gateway's upstream timeout, which bounds the time to a
	// proxied answer's headers.
	Lease        time.Duration `yaml:"lease"`
	MaxClaimWait time.Duration `yaml:"max_claim_wait"`
	// ShutdownGrace is how long running attempts may go on after shutdown
	// begins before their contexts are cancelled; interrupted attempts are
	// retried later, by this process after a restart or by another replica.
	ShutdownGrace time.Duration `yaml:"shutdown_grace"`
	// PollInterval is how often this process reads back what another
	// replica may have changed: task events for streams, cancellations of
	// running attempts, pull-mode outcomes and claimable tasks.
	PollInterval time.Duration `yaml:"poll_interval"`
}

// RegisterFlags registers the task service flags under prefix.
func (c *Config) RegisterFlags(fs *pflag.FlagSet, prefix string) {
	fs.StringVar(&c.URL, prefix+"url", "http://ossa-task-agent:3001", "URL other processes (the gateway in split mode) reach the task service at")
	fs.IntVar(&c.Workers, prefix+"workers", 100, "attempts this process runs at once (River MaxWorkers)")
	fs.DurationVar(&c.FetchCooldown, prefix+"fetch-cooldown", 100*time.Millisecond, "least time between two fetches of queued tasks (River FetchCooldown)")
	fs.DurationVar(&c.FetchPollInterval, prefix+"fetch-poll-interval", time.Second, "longest time between two fetches of queued tasks (River FetchPollInterval)")
	fs.DurationVar(&c.RescueAfter, prefix+"rescue-after", 15*time.Second, "time after which a running task whose worker died is retried, at the earliest (River RescueStuckJobsAfter)")
	fs.DurationVar(&c.DefaultTimeout, prefix+"default-timeout", 5*time.Minute, "timeout of one attempt when the task sets none")
	fs.DurationVar(&c.MaxTimeout, prefix+"max-timeout", time.Hour, "largest timeout a task may set")
	fs.IntVar(&c.DefaultMaxAttempts, prefix+"default-max-attempts", 3, "attempts when the task sets none")
	fs.IntVar(&c.MaxAttempts, prefix+"max-attempts", 10, "most attempts a task may ask for")
	fs.DurationVar(&c.RetryBase, prefix+"retry-base", time.Second, "backoff before the first retry; it doubles with each further one")
	fs.DurationVar(&c.RetryMax, prefix+"retry-max", 5*time.Minute, "longest backoff between attempts")
	fs.DurationVar(&c.MaxWaitForAgent, prefix+"max-wait-for-agent", 24*time.Hour, "longest wait_for_agent a task may set")
	fs.DurationVar(&c.Lease, prefix+"lease", 30*time.Second, "how long a pull-mode claim lasts without a heartbeat")
	fs.DurationVar(&c.MaxClaimWait, prefix+"max-claim-wait", 25*time.Second, "longest a claim request waits for work (longer waits are cut to this); keep it below --gateway.upstream-timeout")
	fs.DurationVar(&c.ShutdownGrace, prefix+"shutdown-grace", 10*time.Second, "time running attempts may go on after shutdown begins before they are interrupted (and retried later)")
	fs.DurationVar(&c.PollInterval, prefix+"poll-interval", time.Second, "how often changes made by other replicas are read back")
}

// Validate reports every invalid value.
func (c *Config) Validate() error {
	var errs []error
	if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("url %q: must be an absolute http(s) URL", c.URL))
	}
	if c.Workers < 1 {
		errs = append(errs, errors.New("workers: must be at least 1"))
	}
	positive := []struct {
		name string
		v    time.Duration
	}{
		{"fetch_cooldown", c.FetchCooldown}, {"fetch_poll_interval", c.FetchPollInterval},
		{"rescue_after", c.RescueAfter}, {"default_timeout", c.DefaultTimeout}, {"max_timeout", c.MaxTimeout},
		{"retry_base", c.RetryBase}, {"retry_max", c.RetryMax}, {"lease", c.Lease},
		{"max_claim_wait", c.MaxClaimWait}, {"poll_interval", c.PollInterval}, {"shutdown_grace", c.ShutdownGrace},
	}
	for _, p := range positive {
		if p.v <= 0 {
			errs = append(errs, fmt.Errorf("%s %s: must be positive", p.name, p.v))
		}
	}
	if c.FetchCooldown > c.FetchPollInterval {
		errs = append(errs, fmt.Errorf("fetch_cooldown %s: must not exceed fetch_poll_interval %s", c.FetchCooldown, c.FetchPollInterval))
	}
	if c.DefaultTimeout > c.MaxTimeout {
		errs = append(errs, fmt.Errorf("default_timeout %s: must not exceed max_timeout %s", c.DefaultTimeout, c.MaxTimeout))
	}
	if c.RetryBase > c.RetryMax {
		errs = append(errs, fmt.Errorf("retry_base %s: must not exceed retry_max %s", c.RetryBase, c.RetryMax))
	}
	if c.MaxAttempts < 1 || c.DefaultMaxAttempts < 1 || c.DefaultMaxAttempts > c.MaxAttempts {
		errs = append(errs, fmt.Errorf("default_max_attempts %d and max_attempts %d: need 1 ≤ default ≤ max", c.DefaultMaxAttempts, c.MaxAttempts))
	}
	if c.MaxWaitForAgent < 0 {
		errs = append(errs, fmt.Errorf("max_wait_for_agent %s: must not be negative", c.MaxWaitForAgent))
	}
	return errors.Join(errs...)
}
