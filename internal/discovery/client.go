package discovery

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/ossa-platform/ossa/internal/httpx"
	"github.com/ossa-platform/ossa/internal/manifest"
	"github.com/ossa-platform/ossa/internal/storage"
)

// Client is the typed client of the discovery API, used by the CLI and by
// other services. Errors from the API are *httpx.APIError (wrapped); use
// httpx.StatusCode to read the status.
type Client struct {
	http httpx.Client
}

// NewClient returns a client for the API at baseURL (the gateway or the
// discovery service itself). hc nil means http.DefaultClient; apiKey, when
// set, is sent as a bearer token.
func NewClient(baseURL string, hc *http.Client, apiKey string) *Client {
	return &Client{http: httpx.Client{BaseURL: baseURL, HTTP: hc, APIKey: apiKey}}
}

// ListOptions filter a List call; zero fields do not filter.
type ListOptions struct {
	// Capabilities and Tags require every listed value.
	Capabilities []string
	Tags         []string
	// MinTier requires the verified tier at or above it.
	MinTier manifest.Tier
	Class   string
	// Health requires any one of the listed values.
	Health []storage.Health
	Name   string
	// Cursor is a previous page's NextCursor; Limit is 1..500 (0: 50).
	Cursor string
	Limit  int
}

// Register registers the manifest (YAML or JSON) of an agent reachable at
// endpoint (empty for pull mode) over protocol (empty: from the manifest).
func (c *Client) Register(ctx context.Context, manifest []byte, endpoint, protocol string) (*Registration, error) {
	var out Registration
	path := "/api/v1/agents" + registrationQuery(endpoint, protocol)
	if err := c.http.DoRaw(ctx, http.MethodPost, path, "application/yaml", bytes.NewReader(manifest), &out); err != nil {
		return nil, fmt.Errorf("register agent: %w", err)
	}
	return &out, nil
}

// Update replaces agent id's manifest, endpoint and protocol.
func (c *Client) Update(ctx context.Context, id string, manifest []byte, endpoint, protocol string) (*Registration, error) {
	var out Registration
	path := agentPath(id) + registrationQuery(endpoint, protocol)
	if err := c.http.DoRaw(ctx, http.MethodPut, path, "application/yaml", bytes.NewReader(manifest), &out); err != nil {
		return nil, fmt.Errorf("update agent %s: %w", id, err)
	}
	return &out, nil
}

// List returns one page of agents.
func (c *Client) List(ctx context.Context, opts ListOptions) (*AgentList, error) {
	q := url.Values{}
	setList(q, "capability", opts.Capabilities)
	setList(q, "tag", opts.Tags)
	setNonEmpty(q, "tier", string(opts.MinTier))
	setNonEmpty(q, "class", opts.Class)
	health := make([]string, len(opts.Health))
	for i, h := range opts.Health {
		health[i] = string(h)
	}
	setList(q, "health", health)
	setNonEmpty(q, "name", opts.Name)
	setNonEmpty(q, "cursor", opts.Cursor)
	if opts.Limit > 0 {
		q.Set("limit", strconv.Itoa(opts.Limit))
	}
	var out AgentList
	if err := c.http.Do(ctx, http.MethodGet, withQuery("/api/v1/agents", q), nil, &out); err != nil {
		return nil, fmt.Errorf("list agents: %w", err)
	}
	return &out, nil
}

// Get returns one agent.
func (c *Client) Get(ctx context.Context, id string) (*storage.Agent, error) {
	var out storage.Agent
	if err := c.http.Do(ctx, http.MethodGet, agentPath(id), nil, &out); err != nil {
		return nil, fmt.Errorf("get agent %s: %w", id, err)
	}
	return &out, nil
}

// Delete deregisters an agent.
func (c *Client) Delete(ctx context.Context, id string) error {
	if err := c.http.Do(ctx, http.MethodDelete, agentPath(id), nil, nil); err != nil {
		return fmt.Errorf("delete agent %s: %w", id, err)
	}
	return nil
}

// Heartbeat reports that agent id is alive and returns its status.
func (c *Client) Heartbeat(ctx context.Context, id string, hb Heartbeat) (*storage.AgentStatus, error) {
	var out storage.AgentStatus
	if err := c.http.Do(ctx, http.MethodPost, agentPath(id)+"/heartbeat", hb, &out); err != nil {
		return nil, fmt.Errorf("heartbeat agent %s: %w", id, err)
	}
	return &out, nil
}

// Discover returns the agents that best match q, best first.
func (c *Client) Discover(ctx context.Context, q DiscoverQuery) (*DiscoverResult, error) {
	v := url.Values{}
	setList(v, "capabilities", q.Capabilities)
	setList(v, "tags", q.Tags)
	setNonEmpty(v, "tier", string(q.MinTier))
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(min(q.Limit, maxDiscoverLimit)))
	}
	if q.IncludeUnhealthy {
		v.Set("include_unhealthy", "true")
	}
	var out DiscoverResult
	if err := c.http.Do(ctx, http.MethodGet, withQuery("/api/v1/discover", v), nil, &out); err != nil {
		return nil, fmt.Errorf("discover agents: %w", err)
	}
	return &out, nil
}

func agentPath(id string) string { return "/api/v1/agents/" + url.PathEscape(id) }

func registrationQuery(endpoint, protocol string) string {
	q := url.Values{}
	setNonEmpty(q, "endpoint", endpoint)
	setNonEmpty(q, "protocol", protocol)
	return withQuery("", q)
}

func withQuery(path string, q url.Values) string {
	if len(q) == 0 {
		return path
	}
	return path + "?" + q.Encode()
}

// setList sends a list as one comma-joined value, which the server splits
// again; a capability or tag that itself contains a comma cannot be queried.
func setList(q url.Values, key string, values []string) {
	if len(values) > 0 {
		q.Set(key, strings.Join(values, ","))
	}
}

func setNonEmpty(q url.Values, key, value string) {
	if value != "" {
		q.Set(key, value)
	}
}
