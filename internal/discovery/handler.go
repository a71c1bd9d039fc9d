package discovery

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/ossa-platform/ossa/internal/httpx"
	"github.com/ossa-platform/ossa/internal/manifest"
	"github.com/ossa-platform/ossa/internal/storage"
)

// Media types a registration may use. JSON comes first: a request without a
// Content-Type is read as the JSON envelope.
var registrationTypes = []string{"application/json", "application/yaml", "application/x-yaml", "text/yaml"}

// Permissions the gateway checks for each route.
const (
	permRead      = "agents:read"
	permWrite     = "agents:write"
	permHeartbeat = "agents:heartbeat"
)

// List page sizes.
const (
	defaultListLimit = 50
	maxListLimit     = 500
)

// Routes is the service's HTTP surface; docs/discovery.md describes it. It
// reads nothing from s, so RouteTable can take it from a nil *Service.
func (s *Service) Routes() []httpx.Route {
	return []httpx.Route{
		{Method: http.MethodPost, Path: "/api/v1/agents", Handler: s.handleRegister,
			Summary: "Register an agent from its OSSA manifest.", Permission: permWrite},
		{Method: http.MethodGet, Path: "/api/v1/agents", Handler: s.handleList,
			Summary: "List agents, filtered, a page at a time.", Permission: permRead},
		{Method: http.MethodGet, Path: "/api/v1/agents/{id}", Handler: s.handleGet,
			Summary: "Get an agent with its live status.", Permission: permRead},
		{Method: http.MethodPut, Path: "/api/v1/agents/{id}", Handler: s.handleUpdate,
			Summary: "Replace an agent's manifest, endpoint and protocol.", Permission: permWrite},
		{Method: http.MethodDelete, Path: "/api/v1/agents/{id}", Handler: s.handleDelete,
			Summary: "Deregister an agent.", Permission: permWrite},
		{Method: http.MethodPost, Path: "/api/v1/agents/{id}/heartbeat", Handler: s.handleHeartbeat,
			Summary: "Report that an agent is alive.", Permission: permHeartbeat},
		{Method: http.MethodGet, Path: "/api/v1/discover", Handler: s.handleDiscover,
			Summary: "Find the healthy agents best able to provide capabilities, ranked.", Permission: permRead},
	}
}

// RouteTable is the route table (methods, paths, permissions) for a gateway
// that routes to discovery in another process; its handlers must not be
// called.
func RouteTable() []httpx.Route { return (*Service)(nil).Routes() }

// AgentList is a page of agents.
type AgentList struct {
	Agents []storage.Agent `json:"agents"`
	// NextCursor fetches the next page; empty on the last.
	NextCursor string `json:"next_cursor,omitempty"`
}

// DiscoverResult is the answer to a discovery query.
type DiscoverResult struct {
	Agents []Ranked `json:"agents"`
	// Total is how many agents matched before the limit applied.
	Total int `json:"total"`
}

func (s *Service) handleRegister(w http.ResponseWriter, r *http.Request) error {
	req, err := readRegistration(r)
	if err != nil {
		return err
	}
	reg, err := s.Register(r.Context(), req)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/agents/"+url.PathEscape(reg.Agent.ID))
	httpx.WriteJSON(w, http.StatusCreated, reg)
	return nil
}

func (s *Service) handleUpdate(w http.ResponseWriter, r *http.Request) error {
	req, err := readRegistration(r)
	if err != nil {
		return err
	}
	reg, err := s.Update(r.Context(), r.PathValue("id"), req)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, reg)
	return nil
}

func (s *Service) handleGet(w http.ResponseWriter, r *http.Request) error {
	a, err := s.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, a)
	return nil
}

func (s *Service) handleDelete(w http.ResponseWriter, r *http.Request) error {
	if err := s.Delete(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Service) handleHeartbeat(w http.ResponseWriter, r *http.Request) error {
	body, err := httpx.ReadBody(r)
	if err != nil {
		return err
	}
	var hb Heartbeat
	if len(bytes.TrimSpace(body)) > 0 {
		if err := httpx.RequireContentType(r, "application/json"); err != nil {
			return err
		}
		if err := httpx.UnmarshalStrict(body, &hb); err != nil {
			return err
		}
	}
	st, err := s.Heartbeat(r.Context(), r.PathValue("id"), hb)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, st)
	return nil
}

func (s *Service) handleList(w http.ResponseWriter, r *http.Request) error {
	f, err := parseListFilter(r.URL.Query())
	if err != nil {
		return err
	}
	page, err := s.store.List(r.Context(), f)
	if err != nil {
		if errors.Is(err, storage.ErrInvalidCursor) {
			return httpx.Errorf(http.StatusBadRequest, "cursor: not a cursor this API issued; start again without one")
		}
		return fmt.Errorf("list agents: %w", err)
	}
	// The store's status may trail the live one by up to half a heartbeat
	// TTL for changes other than health; show the live one.
	s.idx.overlayStatus(page.Agents)
	httpx.WriteJSON(w, http.StatusOK, AgentList{Agents: page.Agents, NextCursor: page.NextCursor})
	return nil
}

func (s *Service) handleDiscover(w http.ResponseWriter, r *http.Request) error {
	q, err := parseDiscoverQuery(r.URL.Query())
	if err != nil {
		return err
	}
	agents, total := s.idx.discover(q)
	httpx.WriteJSON(w, http.StatusOK, DiscoverResult{Agents: agents, Total: total})
	return nil
}

// readRegistration reads either form of a registration body (see
// docs/discovery.md): a YAML manifest with endpoint and protocol as query
// parameters, or the JSON envelope
// {"manifest": <object or YAML/JSON text>, "endpoint": "...", "protocol": "..."}.
func readRegistration(r *http.Request) (RegisterRequest, error) {
	if err := httpx.RequireContentType(r, registrationTypes...); err != nil {
		return RegisterRequest{}, err
	}
	isYAML := false
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, _ := mime.ParseMediaType(ct) // RequireContentType has parsed it
		isYAML = mt != "application/json"
	}
	q := r.URL.Query()
	allowed := []string{}
	if isYAML {
		allowed = []string{"endpoint", "protocol"}
	}
	if err := httpx.CheckQuery(q, allowed...); err != nil {
		return RegisterRequest{}, err
	}
	body, err := httpx.ReadBody(r)
	if err != nil {
		return RegisterRequest{}, err
	}
	if isYAML {
		return RegisterRequest{Manifest: body, Endpoint: q.Get("endpoint"), Protocol: q.Get("protocol")}, nil
	}
	var env struct {
		Manifest json.RawMessage `json:"manifest"`
		Endpoint string          `json:"endpoint"`
		Protocol string          `json:"protocol"`
	}
	if err := httpx.UnmarshalStrict(body, &env); err != nil {
		return RegisterRequest{}, err
	}
	doc := bytes.TrimSpace(env.Manifest)
	switch {
	case len(doc) == 0 || string(doc) == "null":
		return RegisterRequest{}, httpx.Errorf(http.StatusBadRequest, "manifest: required")
	case doc[0] == '"':
		var text string
		if err := json.Unmarshal(doc, &text); err != nil {
			return RegisterRequest{}, httpx.Errorf(http.StatusBadRequest, "manifest: %v", err)
		}
		doc = []byte(text)
	}
	return RegisterRequest{Manifest: doc, Endpoint: env.Endpoint, Protocol: env.Protocol}, nil
}

func parseListFilter(q url.Values) (storage.AgentFilter, error) {
	if err := httpx.CheckQuery(q, "capability", "tag", "tier", "class", "health", "name", "cursor", "limit"); err != nil {
		return storage.AgentFilter{}, err
	}
	f := storage.AgentFilter{
		Capabilities: listParam(q, "capability"),
		Tags:         listParam(q, "tag"),
		Class:        q.Get("class"),
		Name:         q.Get("name"),
		Cursor:       q.Get("cursor"),
	}
	tier, err := tierParam(q)
	if err != nil {
		return f, err
	}
	f.MinTier = string(tier)
	for _, h := range listParam(q, "health") {
		if !storage.Health(h).Valid() {
			return f, httpx.Errorf(http.StatusBadRequest, "health: %q is not one of healthy, degraded, unhealthy, unknown", h)
		}
		f.Health = append(f.Health, storage.Health(h))
	}
	if f.Limit, err = httpx.QueryLimit(q, defaultListLimit, maxListLimit); err != nil {
		return f, err
	}
	return f, nil
}

func parseDiscoverQuery(v url.Values) (Query, error) {
	if err := httpx.CheckQuery(v, "capabilities", "tags", "tier", "limit", "include_unhealthy"); err != nil {
		return Query{}, err
	}
	q := Query{Capabilities: listParam(v, "capabilities"), Tags: listParam(v, "tags")}
	var err error
	if q.MinTier, err = tierParam(v); err != nil {
		return q, err
	}
	if q.Limit, err = httpx.QueryLimit(v, defaultDiscoverLimit, maxDiscoverLimit); err != nil {
		return q, err
	}
	if s := v.Get("include_unhealthy"); s != "" {
		if q.IncludeUnhealthy, err = strconv.ParseBool(s); err != nil {
			return q, httpx.Errorf(http.StatusBadRequest, "include_unhealthy: %q is not true or false", s)
		}
	}
	return q, nil
}

// listParam collects a parameter that may repeat and may hold a comma list.
func listParam(q url.Values, name string) []string {
	var out []string
	for _, v := range q[name] {
		for item := range strings.SplitSeq(v, ",") {
			if item = strings.TrimSpace(item); item != "" && !slices.Contains(out, item) {
				out = append(out, item)
			}
		}
	}
	return out
}

func tierParam(q url.Values) (manifest.Tier, error) {
	s := q.Get("tier")
	if s == "" {
		return "", nil
	}
	t, err := manifest.ParseTier(s)
	if err != nil {
		return "", httpx.Errorf(http.StatusBadRequest, "tier: %v", err)
	}
	return t, nil
}
