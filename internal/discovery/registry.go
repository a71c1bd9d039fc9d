package discovery

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"

	"github.com/ossa-platform/ossa/internal/auth"
	"github.com/ossa-platform/ossa/internal/httpx"
	"github.com/ossa-platform/ossa/internal/manifest"
	"github.com/ossa-platform/ossa/internal/storage"
)

// Dispatch protocols: how the platform sends work to an agent.
const (
	ProtocolHTTP = "http"
	ProtocolA2A  = "a2a"
	ProtocolMCP  = "mcp"
)

// Sources of registry changes, for metrics and logs.
const (
	sourceAPI  = "api"
	sourceScan = "scan"
)

// RegisterRequest is a registration or an update: the manifest and how to
// reach the agent.
type RegisterRequest struct {
	// Manifest is the OSSA manifest, YAML or JSON.
	Manifest []byte
	// Endpoint is the agent's absolute http(s) base URL, or empty for a
	// pull-mode agent that fetches its work.
	Endpoint string
	// Protocol is http, a2a or mcp; empty takes it from the manifest (see
	// defaultProtocol).
	Protocol string
}

// Registration is the result of a registration or an update.
type Registration struct {
	Agent storage.Agent `json:"agent"`
	// Warnings are the validator's non-fatal findings.
	Warnings []manifest.Diagnostic `json:"warnings"`
}

// Heartbeat is what an agent may say in its heartbeat. The zero value is a
// plain "I am alive".
type Heartbeat struct {
	// Status is healthy (the default) or degraded.
	Status storage.Health `json:"status,omitempty"`
	// Load is the agent's utilisation, 0..1; nil leaves it unreported (0).
	Load *float64 `json:"load,omitempty"`
}

// Register validates and stores a new agent. Errors are *httpx.Error values
// carrying the HTTP status: 400 for a malformed manifest (with its line and
// column), 413 for one over manifest.MaxSize, 422 for schema, tier, endpoint
// or protocol violations (every one listed), 409 (wrapping
// storage.ErrConflict) when the name and version are taken.
func (s *Service) Register(ctx context.Context, req RegisterRequest) (*Registration, error) {
	return s.register(ctx, req, sourceAPI)
}

func (s *Service) register(ctx context.Context, req RegisterRequest, source string) (*Registration, error) {
	a, warnings, err := prepare(req)
	if err != nil {
		return nil, err
	}
	if err := auth.CheckAgent(ctx, a.Name); err != nil {
		return nil, err
	}
	if err := s.create(ctx, &a, source); err != nil {
		return nil, err
	}
	return s.registration(a.ID, warnings), nil
}

// create stores a new agent and then indexes it.
func (s *Service) create(ctx context.Context, a *storage.Agent, source string) error {
	a.Status = storage.AgentStatus{Health: storage.HealthUnknown, Reason: reasonNoEvidence}
	if err := s.store.Create(ctx, a); err != nil {
		if errors.Is(err, storage.ErrConflict) {
			return s.conflict(a.Name, a.Version, err)
		}
		return fmt.Errorf("register agent %s@%s: %w", a.Name, a.Version, err)
	}
	s.idx.put(*a, s.clock(), s.cfg)
	s.metrics.change("register", source)
	s.log.Info("agent registered", "agent_id", a.ID, "name", a.Name, "version", a.Version,
		"endpoint", a.Endpoint, "protocol", a.Protocol, "source", source)
	return nil
}

// Update replaces the manifest, endpoint and protocol of agent id, keeping
// its ID and health evidence. Errors are as for Register, plus 404 (wrapping
// storage.ErrNotFound) for an unknown ID.
func (s *Service) Update(ctx context.Context, id string, req RegisterRequest) (*Registration, error) {
	return s.update(ctx, id, req, sourceAPI)
}

func (s *Service) update(ctx context.Context, id string, req RegisterRequest, source string) (*Registration, error) {
	old, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := auth.CheckAgent(ctx, old.Name); err != nil {
		return nil, err
	}
	a, warnings, err := prepare(req)
	if err != nil {
		return nil, err
	}
	if err := auth.CheckAgent(ctx, a.Name); err != nil {
		return nil, err
	}
	a.ID = id
	if err := s.updateAgent(ctx, &a, source); err != nil {
		return nil, err
	}
	return s.registration(id, warnings), nil
}

// updateAgent stores a new definition of agent a.ID and then indexes it.
func (s *Service) updateAgent(ctx context.Context, a *storage.Agent, source string) error {
	if err := s.store.Update(ctx, a); err != nil {
		switch {
		case errors.Is(err, storage.ErrNotFound):
			s.idx.forget(a.ID)
			return notFound(a.ID)
		case errors.Is(err, storage.ErrConflict):
			return s.conflict(a.Name, a.Version, err)
		}
		return fmt.Errorf("update agent %s: %w", a.ID, err)
	}
	s.idx.put(*a, s.clock(), s.cfg)
	s.metrics.change("update", source)
	s.log.Info("agent updated", "agent_id", a.ID, "name", a.Name, "version", a.Version,
		"endpoint", a.Endpoint, "protocol", a.Protocol, "source", source)
	return nil
}

// Delete deregisters agent id. The error wraps storage.ErrNotFound (and is
// a 404 *httpx.Error) for an unknown ID.
func (s *Service) Delete(ctx context.Context, id string) error {
	if err := s.checkOwner(ctx, id); err != nil {
		return err
	}
	return s.delete(ctx, id, sourceAPI)
}

// checkOwner returns a 403 unless the caller may act for agent id (see
// auth.CheckAgent), and a 404 if an agent-role caller names an unknown
// agent. Only agent-role callers need the agent's name, so only they cost
// a lookup.
func (s *Service) checkOwner(ctx context.Context, id string) error {
	if p, ok := auth.FromContext(ctx); !ok || p.Role != auth.RoleAgent {
		return nil
	}
	a, err := s.Get(ctx, id)
	if err != nil {
		return err
	}
	return auth.CheckAgent(ctx, a.Name)
}

func (s *Service) delete(ctx context.Context, id, source string) error {
	if err := s.store.Delete(ctx, id); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			s.idx.forget(id)
		}
		return notFoundOr(err, id, "delete agent")
	}
	s.idx.remove(id)
	s.metrics.change("delete", source)
	s.log.Info("agent deregistered", "agent_id", id, "source", source)
	return nil
}

// Heartbeat records that agent id is alive (or degraded, if hb says so) and
// returns its status. A health change is saved before Heartbeat returns;
// other changes are saved within half the heartbeat TTL.
func (s *Service) Heartbeat(ctx context.Context, id string, hb Heartbeat) (storage.AgentStatus, error) {
	claim, load, err := checkHeartbeat(hb)
	if err != nil {
		return storage.AgentStatus{}, err
	}
	if err := s.checkOwner(ctx, id); err != nil {
		return storage.AgentStatus{}, err
	}
	st, ok := s.idx.heartbeat(id, s.clock(), claim, load, s.cfg)
	if !ok {
		// Perhaps registered through another replica since the last reload.
		if _, err := s.Get(ctx, id); err != nil {
			return storage.AgentStatus{}, err
		}
		if st, ok = s.idx.heartbeat(id, s.clock(), claim, load, s.cfg); !ok {
			return storage.AgentStatus{}, notFound(id)
		}
	}
	s.metrics.heartbeats.Inc()
	if err := s.persistStatus(ctx, id, false); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return storage.AgentStatus{}, notFound(id)
		}
		return storage.AgentStatus{}, err
	}
	return st, nil
}

func checkHeartbeat(hb Heartbeat) (storage.Health, float64, error) {
	claim := hb.Status
	switch claim {
	case "":
		claim = storage.HealthHealthy
	case storage.HealthHealthy, storage.HealthDegraded:
	default:
		return "", 0, httpx.Errorf(http.StatusBadRequest, "status %q: a heartbeat may say healthy or degraded", hb.Status)
	}
	var load float64
	if hb.Load != nil {
		load = *hb.Load
		if load < 0 || load > 1 {
			return "", 0, httpx.Errorf(http.StatusBadRequest, "load %g: must be between 0 and 1", load)
		}
	}
	return claim, load, nil
}

// registration builds the answer to a successful write from the index, so
// it shows the live status.
func (s *Service) registration(id string, warnings []manifest.Diagnostic) *Registration {
	a, _ := s.idx.get(id)
	if warnings == nil {
		warnings = []manifest.Diagnostic{}
	}
	return &Registration{Agent: a, Warnings: warnings}
}

// conflict is the 409 for a taken name and version, naming the holder when
// the index knows it.
func (s *Service) conflict(name, version string, cause error) error {
	detail := fmt.Sprintf("agent %s version %s is already registered", name, version)
	if id, ok := s.idx.idByName(name, version); ok {
		detail += " as " + id
	}
	return fmt.Errorf("%w: %w", httpx.Errorf(http.StatusConflict, "%s", detail), cause)
}

func notFound(id string) error {
	return fmt.Errorf("%w: %w", httpx.Errorf(http.StatusNotFound, "agent %q not found", id), storage.ErrNotFound)
}

// prepare validates a request and builds the agent it describes (without ID
// or status).
func prepare(req RegisterRequest) (storage.Agent, []manifest.Diagnostic, error) {
	m, res, err := validateManifest(req.Manifest)
	if err != nil {
		return storage.Agent{}, nil, err
	}
	return buildAgent(m, res, req.Endpoint, req.Protocol)
}

// validateManifest runs the validator and maps a document that is not a
// manifest to 400 (413 when too large). Schema and tier violations are left
// in the result for buildAgent to report with the request's own problems.
func validateManifest(data []byte) (*manifest.Manifest, manifest.Result, error) {
	m, res, err := manifest.Validate(data)
	if err == nil {
		return m, res, nil
	}
	var syn *manifest.SyntaxError
	switch {
	case errors.As(err, &syn):
		return nil, res, httpx.Errorf(http.StatusBadRequest, "malformed manifest at %s", syn.Error())
	case errors.Is(err, manifest.ErrTooLarge):
		return nil, res, httpx.Errorf(http.StatusRequestEntityTooLarge, "manifest exceeds %d bytes", manifest.MaxSize)
	default:
		return nil, res, httpx.Errorf(http.StatusBadRequest, "unreadable manifest: %v", err)
	}
}

// buildAgent checks the endpoint and protocol and derives the stored agent
// from a validated manifest. Every violation, of the manifest or of the
// request, is reported together in one 422.
func buildAgent(m *manifest.Manifest, res manifest.Result, endpoint, protocol string) (storage.Agent, []manifest.Diagnostic, error) {
	var violations []manifest.Diagnostic
	if msg := checkEndpoint(endpoint); msg != "" {
		violations = append(violations, requestDiagnostic("endpoint", msg))
	}
	if protocol != "" && protocol != ProtocolHTTP && protocol != ProtocolA2A && protocol != ProtocolMCP {
		violations = append(violations, requestDiagnostic("protocol",
			fmt.Sprintf("%q is not a dispatch protocol; use http, a2a or mcp", protocol)))
	}
	violations = append(violations, res.Errors...)
	if len(violations) > 0 || !res.Valid || m == nil {
		return storage.Agent{}, nil, httpx.Errorf(http.StatusUnprocessableEntity,
			"registration has %d violation(s); see errors", len(violations)).WithErrors(violations)
	}
	if protocol == "" {
		protocol = defaultProtocol(m)
	}
	doc, err := m.JSON()
	if err != nil {
		return storage.Agent{}, nil, fmt.Errorf("build agent: %w", err)
	}
	a := storage.Agent{
		Name:         m.Metadata.Name,
		Version:      m.Metadata.Version,
		Tier:         string(m.Spec.ConformanceTier),
		TierReached:  string(res.TierReached),
		Class:        m.Spec.Class,
		Capabilities: m.AllCapabilities(),
		Tags:         tagsOf(m),
		Protocol:     protocol,
		Endpoint:     endpoint,
		Manifest:     doc,
	}
	return a, res.Warnings, nil
}

// requestDiagnostic reports a problem with a request field rather than the
// manifest; its path is the field name.
func requestDiagnostic(field, msg string) manifest.Diagnostic {
	return manifest.Diagnostic{Path: field, Message: msg, Severity: manifest.SeverityError}
}

// checkEndpoint returns why endpoint is unacceptable, or "".
func checkEndpoint(endpoint string) string {
	if endpoint == "" {
		return ""
	}
	u, err := url.Parse(endpoint)
	switch {
	case err != nil:
		return fmt.Sprintf("%q is not a URL: %v", endpoint, err)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Sprintf("%q must be an absolute http or https URL", endpoint)
	case u.Host == "":
		return fmt.Sprintf("%q has no host", endpoint)
	case u.User != nil:
		return "the endpoint must not embed credentials"
	}
	return ""
}

// defaultProtocol picks how to dispatch to an agent that does not say: a2a
// if the manifest lists it; mcp if it lists mcp and no HTTP-style protocol
// (openapi or http); otherwise http.
func defaultProtocol(m *manifest.Manifest) string {
	switch {
	case m.HasProtocol("a2a"):
		return ProtocolA2A
	case m.HasProtocol("mcp") && !m.HasProtocol("openapi") && !m.HasProtocol("http"):
		return ProtocolMCP
	default:
		return ProtocolHTTP
	}
}

// tagsOf returns metadata.tags then spec.discovery.uadp.tags, without
// duplicates.
func tagsOf(m *manifest.Manifest) []string {
	lists := [][]string{m.Metadata.Tags}
	if d := m.Spec.Discovery; d != nil && d.UADP != nil {
		lists = append(lists, d.UADP.Tags)
	}
	tags := []string{}
	for _, list := range lists {
		for _, t := range list {
			if !slices.Contains(tags, t) {
				tags = append(tags, t)
			}
		}
	}
	return tags
}
