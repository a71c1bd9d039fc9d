package gateway

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ossa-platform/ossa/internal/auth"
	"github.com/ossa-platform/ossa/internal/httpx"
	"github.com/ossa-platform/ossa/internal/storage"
)

// Page sizes of the key and audit lists.
const (
	defaultListLimit = 50
	maxListLimit     = 500
	maxKeyNameLen    = 100
)

// CreateKeyRequest is the body of POST /api/v1/keys.
type CreateKeyRequest struct {
	Name string `json:"name"`
	Role string `json:"role"`
	// Agent binds an agent-role key to one agent name; required for that
	// role and refused for the others.
	Agent string `json:"agent,omitempty"`
	// ExpiresAt or ExpiresIn (a Go duration such as "720h") sets an expiry;
	// neither means the key does not expire.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	ExpiresIn string    `json:"expires_in,omitempty"`
}

// CreatedKey is the answer to a key creation: the key record and, this once,
// the key itself.
type CreatedKey struct {
	Key storage.APIKey `json:"key"`
	// Secret is the API key. It is not stored and cannot be shown again.
	Secret string `json:"secret"`
}

// KeyList is a page of keys.
type KeyList struct {
	Keys       []storage.APIKey `json:"keys"`
	NextCursor string           `json:"next_cursor,omitempty"`
}

// AuditList is a page of audit events, newest first.
type AuditList struct {
	Events     []storage.AuditEvent `json:"events"`
	NextCursor string               `json:"next_cursor,omitempty"`
}

func (s *Service) ownRoutes() []httpx.Route {
	return []httpx.Route{
		{Method: http.MethodPost, Path: "/api/v1/keys", Handler: s.handleCreateKey,
			Summary: "Create an API key; the answer shows it once.", Permission: auth.PermKeysAdmin},
		{Method: http.MethodGet, Path: "/api/v1/keys", Handler: s.handleListKeys,
			Summary: "List API keys, revoked and expired ones included.", Permission: auth.PermKeysAdmin},
		{Method: http.MethodGet, Path: "/api/v1/keys/{id}", Handler: s.handleGetKey,
			Summary: "Get one API key's record.", Permission: auth.PermKeysAdmin},
		{Method: http.MethodDelete, Path: "/api/v1/keys/{id}", Handler: s.handleRevokeKey,
			Summary: "Revoke an API key.", Permission: auth.PermKeysAdmin},
		{Method: http.MethodGet, Path: "/api/v1/audit", Handler: s.handleAudit,
			Summary: "List audit events, newest first, filtered.", Permission: auth.PermAuditRead},
	}
}

func (s *Service) handleCreateKey(w http.ResponseWriter, r *http.Request) error {
	var req CreateKeyRequest
	if err := httpx.DecodeJSON(r, &req); err != nil {
		return err
	}
	k, err := s.checkKeyRequest(req)
	if err != nil {
		return err
	}
	created, err := s.createKey(r.Context(), k)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/keys/"+url.PathEscape(created.Key.ID))
	w.Header().Set("Cache-Control", "no-store")
	httpx.WriteJSON(w, http.StatusCreated, created)
	return nil
}

// checkKeyRequest validates a creation request into a key record.
func (s *Service) checkKeyRequest(req CreateKeyRequest) (storage.APIKey, error) {
	var problems []string
	name := strings.TrimSpace(req.Name)
	if name == "" || len(name) > maxKeyNameLen {
		problems = append(problems, fmt.Sprintf("name: required, at most %d characters", maxKeyNameLen))
	}
	role, err := auth.ParseRole(req.Role)
	if err != nil {
		problems = append(problems, "role: "+err.Error())
	}
	switch {
	case role == auth.RoleAgent && req.Agent == "":
		problems = append(problems, "agent: an agent-role key must name the agent it acts for")
	case role != auth.RoleAgent && req.Agent != "":
		problems = append(problems, "agent: only agent-role keys are bound to an agent")
	}
	expires := req.ExpiresAt
	if req.ExpiresIn != "" {
		d, err := time.ParseDuration(req.ExpiresIn)
		switch {
		case !req.ExpiresAt.IsZero():
			problems = append(problems, "expires_in: give expires_at or expires_in, not both")
		case err != nil || d <= 0:
			problems = append(problems, fmt.Sprintf("expires_in: %q is not a positive duration such as 720h", req.ExpiresIn))
		default:
			expires = s.clock().Add(d)
		}
	}
	if !expires.IsZero() && !expires.After(s.clock()) {
		problems = append(problems, "expires_at: must be in the future")
	}
	if len(problems) > 0 {
		return storage.APIKey{}, httpx.Errorf(http.StatusBadRequest, "%s", strings.Join(problems, "; ")).WithErrors(problems)
	}
	return storage.APIKey{Name: name, Role: string(role), Agent: req.Agent, ExpiresAt: expires}, nil
}

func (s *Service) handleListKeys(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	if err := httpx.CheckQuery(q, "cursor", "limit"); err != nil {
		return err
	}
	limit, err := httpx.QueryLimit(q, defaultListLimit, maxListLimit)
	if err != nil {
		return err
	}
	// Show this replica's latest uses, not the ones a minute old.
	if err := s.authn.flush(r.Context()); err != nil {
		s.log.WarnContext(r.Context(), "write key last-used times", "err", err)
	}
	page, err := s.keys.List(r.Context(), storage.KeyFilter{Cursor: q.Get("cursor"), Limit: limit})
	if err != nil {
		return listError("keys", err)
	}
	httpx.WriteJSON(w, http.StatusOK, KeyList{Keys: page.Keys, NextCursor: page.NextCursor})
	return nil
}

func (s *Service) handleGetKey(w http.ResponseWriter, r *http.Request) error {
	k, err := s.keys.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		return keyNotFoundOr(err, r.PathValue("id"))
	}
	httpx.WriteJSON(w, http.StatusOK, k)
	return nil
}

func (s *Service) handleRevokeKey(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if err := s.keys.Revoke(r.Context(), id, s.clock()); err != nil {
		return keyNotFoundOr(err, id)
	}
	s.authn.forget(id)
	s.log.InfoContext(r.Context(), "API key revoked", "key_id", id)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Service) handleAudit(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	if err := httpx.CheckQuery(q, "actor", "action", "target", "since", "until", "cursor", "limit"); err != nil {
		return err
	}
	f := storage.AuditFilter{Actor: q.Get("actor"), Action: q.Get("action"), Target: q.Get("target"), Cursor: q.Get("cursor")}
	var err error
	if f.Limit, err = httpx.QueryLimit(q, defaultListLimit, maxListLimit); err != nil {
		return err
	}
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if v := q.Get(p.name); v != "" {
			if *p.dst, err = time.Parse(time.RFC3339Nano, v); err != nil {
				return httpx.Errorf(http.StatusBadRequest, "%s: %q is not an RFC 3339 time such as 2025-06-01T00:00:00Z", p.name, v)
			}
		}
	}
	page, err := s.audit.List(r.Context(), f)
	if err != nil {
		return listError("audit events", err)
	}
	httpx.WriteJSON(w, http.StatusOK, AuditList{Events: page.Events, NextCursor: page.NextCursor})
	return nil
}

func keyNotFoundOr(err error, id string) error {
	if errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("%w: %w", httpx.Errorf(http.StatusNotFound, "API key %q not found", id), err)
	}
	return err
}

func listError(what string, err error) error {
	if errors.Is(err, storage.ErrInvalidCursor) {
		return httpx.Errorf(http.StatusBadRequest, "cursor: not a cursor this API issued; start again without one")
	}
	return fmt.Errorf("list %s: %w", what, err)
}
