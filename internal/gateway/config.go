package gateway

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// Config tunes the gateway. The internal secret, the bootstrap admin key and
// the Redis URL are process-wide settings (config.AuthConfig, RedisConfig)
// that reach the gateway through Deps.
type Config struct {
	JWT       JWTConfig       `yaml:"jwt"`
	RateLimit RateLimitConfig `yaml:"rate_limit"`
	CORS      CORSConfig      `yaml:"cors"`
	// KeyCacheTTL is how long a looked-up API key is trusted without
	// reading the store again. A key revoked through another replica stops
	// working within it; through this one, at once. Zero disables the cache.
	KeyCacheTTL time.Duration `yaml:"key_cache_ttl"`
	// UpstreamTimeout bounds how long a proxied service may take to start
	// its answer (streams may then run on).
	UpstreamTimeout time.Duration `yaml:"upstream_timeout"`
}

// JWTConfig accepts bearer JWTs from an OIDC issuer besides API keys. It is
// off while JWKSURL is empty.
type JWTConfig struct {
	Issuer   string `yaml:"issuer"`
	JWKSURL  string `yaml:"jwks_url"`
	Audience string `yaml:"audience"`
	// RoleClaim names the claim holding the role: a role name, or a list of
	// values of which the most powerful role name counts.
	RoleClaim string `yaml:"role_claim"`
	// AgentClaim names the claim binding an agent-role token to its agent.
	AgentClaim string `yaml:"agent_claim"`
	// RefreshInterval is how often the JWKS is fetched again.
	RefreshInterval time.Duration `yaml:"refresh_interval"`
}

// Enabled reports whether JWTs are accepted.
func (c JWTConfig) Enabled() bool { return c.JWKSURL != "" }

// RateLimitConfig is the token bucket every caller (API key or token
// subject) gets: Requests per Period, up to Burst at once.
type RateLimitConfig struct {
	// Requests per Period; zero disables rate limiting.
	Requests int           `yaml:"requests"`
	Period   time.Duration `yaml:"period"`
	Burst    int           `yaml:"burst"`
}

// CORSConfig lets browsers on other origins call the API.
type CORSConfig struct {
	// AllowedOrigins lists origins such as https://console.example.com;
	// "*" allows any. Empty disables CORS.
	AllowedOrigins []string `yaml:"allowed_origins"`
}

// RegisterFlags registers the gateway flags under prefix.
func (c *Config) RegisterFlags(fs *pflag.FlagSet, prefix string) {
	fs.StringVar(&c.JWT.Issuer, prefix+"jwt.issuer", "", "required iss of bearer JWTs")
	fs.StringVar(&c.JWT.JWKSURL, prefix+"jwt.jwks-url", "", "JWKS URL of the OIDC issuer; setting it accepts bearer JWTs")
	fs.StringVar(&c.JWT.Audience, prefix+"jwt.audience", "", "required aud of bearer JWTs")
	fs.StringVar(&c.JWT.RoleClaim, prefix+"jwt.role-claim", "ossa_role", "JWT claim holding the ossa role (a role name or a list holding one)")
	fs.StringVar(&c.JWT.AgentClaim, prefix+"jwt.agent-claim", "ossa_agent", "JWT claim naming the agent an agent-role token acts for")
	fs.DurationVar(&c.JWT.RefreshInterval, prefix+"jwt.refresh-interval", time.Hour, "how often the JWKS is fetched again")
	fs.IntVar(&c.RateLimit.Requests, prefix+"rate-limit.requests", 100, "requests each caller may make per period (0 disables rate limits)")
	fs.DurationVar(&c.RateLimit.Period, prefix+"rate-limit.period", time.Second, "rate limit period")
	fs.IntVar(&c.RateLimit.Burst, prefix+"rate-limit.burst", 200, "requests a caller may make at once")
	fs.StringSliceVar(&c.CORS.AllowedOrigins, prefix+"cors.allowed-origins", nil, "origins browsers may call the API from (* for any)")
	fs.DurationVar(&c.KeyCacheTTL, prefix+"key-cache-ttl", 10*time.Second, "how long a looked-up API key is trusted before the store is read again (0 disables)")
	fs.DurationVar(&c.UpstreamTimeout, prefix+"upstream-timeout", 30*time.Second, "time a proxied service may take to start answering")
}

// Validate reports every invalid value.
func (c *Config) Validate() error {
	var errs []error
	if c.JWT.Enabled() {
		if err := checkURL(c.JWT.JWKSURL); err != nil {
			errs = append(errs, fmt.Errorf("jwt.jwks_url: %w", err))
		}
		if c.JWT.Issuer == "" || c.JWT.Audience == "" {
			errs = append(errs, errors.New("jwt: issuer and audience are required with jwks_url"))
		}
		if c.JWT.RoleClaim == "" {
			errs = append(errs, errors.New("jwt.role_claim: required with jwks_url"))
		}
		if c.JWT.RefreshInterval < time.Minute {
			errs = append(errs, fmt.Errorf("jwt.refresh_interval %s: must be at least 1m", c.JWT.RefreshInterval))
		}
	}
	if c.RateLimit.Requests < 0 {
		errs = append(errs, errors.New("rate_limit.requests: must not be negative"))
	}
	if c.RateLimit.Requests > 0 {
		if c.RateLimit.Period < time.Millisecond {
			errs = append(errs, fmt.Errorf("rate_limit.period %s: must be at least 1ms", c.RateLimit.Period))
		}
		if c.RateLimit.Burst < 1 {
			errs = append(errs, errors.New("rate_limit.burst: must be at least 1"))
		}
	}
	for _, o := range c.CORS.AllowedOrigins {
		if o == "*" {
			continue
		}
		if u, err := url.Parse(o); err != nil || u.Scheme == "" || u.Host == "" || (u.Path != "" && u.Path != "/") || strings.HasSuffix(o, "/") {
			errs = append(errs, fmt.Errorf("cors.allowed_origins: %q is not an origin such as https://console.example.com", o))
		}
	}
	if c.KeyCacheTTL < 0 {
		errs = append(errs, errors.New("key_cache_ttl: must not be negative"))
	}
	if c.UpstreamTimeout <= 0 {
		errs = append(errs, errors.New("upstream_timeout: must be positive"))
	}
	return errors.Join(errs...)
}

// checkURL accepts an absolute http(s) URL.
func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q must be an absolute http or https URL", s)
	}
	return nil
}

// String describes a rate limit for logs and errors.
func (c RateLimitConfig) String() string {
	if c.Requests == 0 {
		return "off"
	}
	return fmt.Sprintf("%d per %s, burst %d", c.Requests, c.Period, c.Burst)
}
