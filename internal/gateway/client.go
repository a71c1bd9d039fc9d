package gateway

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/ossa-platform/ossa/internal/httpx"
	"github.com/ossa-platform/ossa/internal/storage"
)

// Client is the typed client of the gateway's key and audit API, used by
// the CLI. Errors from the API are *httpx.APIError (wrapped).
type Client struct {
	http httpx.Client
}

// NewClient returns a client for the gateway at baseURL. hc nil means
// http.DefaultClient; apiKey is sent as a bearer token.
func NewClient(baseURL string, hc *http.Client, apiKey string) *Client {
	return &Client{http: httpx.Client{BaseURL: baseURL, HTTP: hc, APIKey: apiKey}}
}

// CreateKey creates a key; the answer holds the key itself, this once.
func (c *Client) CreateKey(ctx context.Context, req CreateKeyRequest) (*CreatedKey, error) {
	var out CreatedKey
	if err := c.http.Do(ctx, http.MethodPost, "/api/v1/keys", req, &out); err != nil {
		return nil, fmt.Errorf("create key: %w", err)
	}
	return &out, nil
}

// ListKeys returns one page of keys.
func (c *Client) ListKeys(ctx context.Context, cursor string, limit int) (*KeyList, error) {
	q := url.Values{}
	setNonEmpty(q, "cursor", cursor)
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var out KeyList
	if err := c.http.Do(ctx, http.MethodGet, "/api/v1/keys"+encode(q), nil, &out); err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	return &out, nil
}

// GetKey returns one key's record.
func (c *Client) GetKey(ctx context.Context, id string) (*storage.APIKey, error) {
	var out storage.APIKey
	if err := c.http.Do(ctx, http.MethodGet, "/api/v1/keys/"+url.PathEscape(id), nil, &out); err != nil {
		return nil, fmt.Errorf("get key %s: %w", id, err)
	}
	return &out, nil
}

// RevokeKey revokes key id.
func (c *Client) RevokeKey(ctx context.Context, id string) error {
	if err := c.http.Do(ctx, http.MethodDelete, "/api/v1/keys/"+url.PathEscape(id), nil, nil); err != nil {
		return fmt.Errorf("revoke key %s: %w", id, err)
	}
	return nil
}

// AuditQuery filters ListAudit; zero fields do not filter.
type AuditQuery struct {
	Actor, Action, Target string
	Since, Until          time.Time
	Cursor                string
	Limit                 int
}

// ListAudit returns one page of audit events, newest first.
func (c *Client) ListAudit(ctx context.Context, aq AuditQuery) (*AuditList, error) {
	q := url.Values{}
	setNonEmpty(q, "actor", aq.Actor)
	setNonEmpty(q, "action", aq.Action)
	setNonEmpty(q, "target", aq.Target)
	if !aq.Since.IsZero() {
		q.Set("since", aq.Since.UTC().Format(time.RFC3339Nano))
	}
	if !aq.Until.IsZero() {
		q.Set("until", aq.Until.UTC().Format(time.RFC3339Nano))
	}
	setNonEmpty(q, "cursor", aq.Cursor)
	if aq.Limit > 0 {
		q.Set("limit", strconv.Itoa(aq.Limit))
	}
	var out AuditList
	if err := c.http.Do(ctx, http.MethodGet, "/api/v1/audit"+encode(q), nil, &out); err != nil {
		return nil, fmt.Errorf("list audit events: %w", err)
	}
	return &out, nil
}

func setNonEmpty(q url.Values, k, v string) {
	if v != "" {
		q.Set(k, v)
	}
}

func encode(q url.Values) string {
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}
