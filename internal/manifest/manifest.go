package manifest

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Manifest is a validated OSSA 0.1.8 agent manifest. The typed fields mirror
// the schema; Raw holds the whole normalised document, including extension
// keys the types do not model, and is what JSON serialises.
type Manifest struct {
	OSSA     string   `json:"ossa"`
	Kind     string   `json:"kind,omitempty"`
	Metadata Metadata `json:"metadata"`
	Spec     Spec     `json:"spec"`

	// Raw is the normalised document as decoded from YAML or JSON: maps,
	// slices, strings, bools, nil, int64/uint64/float64 (or json.Number for
	// JSON numbers beyond float64). Treat it as read-only.
	Raw map[string]any `json:"-"`
}

// Metadata identifies the agent.
type Metadata struct {
	Name        string            `json:"name"`
	Version     string            `json:"version"`
	Description string            `json:"description,omitempty"`
	Author      string            `json:"author,omitempty"`
	License     string            `json:"license,omitempty"`
	Created     string            `json:"created,omitempty"` // YYYY-MM-DD
	Updated     string            `json:"updated,omitempty"` // YYYY-MM-DD
	Tags        []string          `json:"tags,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// Spec describes what the agent does and how to reach it.
type Spec struct {
	ConformanceTier      Tier                  `json:"conformance_tier"`
	Class                string                `json:"class"`
	Category             string                `json:"category,omitempty"`
	Capabilities         Capabilities          `json:"capabilities"`
	Protocols            []Protocol            `json:"protocols,omitempty"`
	FrameworkSupport     map[string]Framework  `json:"framework_support,omitempty"`
	Endpoints            map[string]string     `json:"endpoints,omitempty"`
	Performance          *Performance          `json:"performance,omitempty"`
	Security             *Security             `json:"security,omitempty"`
	ComplianceFrameworks []ComplianceFramework `json:"compliance_frameworks,omitempty"`
	Discovery            *Discovery            `json:"discovery,omitempty"`
}

// Capabilities are plain string identifiers such as "summarization".
type Capabilities struct {
	Primary   []string `json:"primary"`
	Secondary []string `json:"secondary,omitempty"`
}

// Protocol is a protocol the agent speaks. Name is one of openapi, mcp,
// uadp, graphql, grpc, websocket, a2a or http.
type Protocol struct {
	Name       string   `json:"name"`
	Version    string   `json:"version"`
	Required   bool     `json:"required"`
	Extensions []string `json:"extensions,omitempty"`
}

// Framework describes support for one agent framework (langchain, mcp, ...).
type Framework struct {
	Enabled         bool           `json:"enabled"`
	IntegrationType string         `json:"integration_type,omitempty"`
	Version         string         `json:"version,omitempty"`
	Config          map[string]any `json:"config,omitempty"`
}

// Performance holds the agent's declared performance targets.
type Performance struct {
	Latency      *Latency      `json:"latency,omitempty"`
	Throughput   *Throughput   `json:"throughput,omitempty"`
	Availability *Availability `json:"availability,omitempty"`
	Concurrency  *Concurrency  `json:"concurrency,omitempty"`
}

// Latency bounds are strings such as "<100ms".
type Latency struct {
	HealthCheck  string `json:"health_check,omitempty"`
	Capabilities string `json:"capabilities,omitempty"`
}

// Throughput is the sustained request rate the agent supports.
type Throughput struct {
	RequestsPerSecond float64 `json:"requests_per_second,omitempty"`
}

// Availability is the uptime the agent targets, in percent (90–100).
type Availability struct {
	UptimeTarget float64 `json:"uptime_target,omitempty"`
}

// Concurrency is a platform extension: the most tasks dispatched to one
// instance of the agent at once.
type Concurrency struct {
	MaxConcurrent int `json:"max_concurrent,omitempty"`
}

// Security declares how the agent authenticates, authorises and protects
// data.
type Security struct {
	Authentication []string    `json:"authentication,omitempty"`
	Authorization  string      `json:"authorization,omitempty"`
	Encryption     *Encryption `json:"encryption,omitempty"`
	Audit          *Audit      `json:"audit,omitempty"`
}

// Encryption names the ciphers used at rest and in transit.
type Encryption struct {
	AtRest    string `json:"at_rest,omitempty"`
	InTransit string `json:"in_transit,omitempty"`
}

// Audit is a platform extension: whether the agent keeps an audit log.
type Audit struct {
	Enabled bool `json:"enabled"`
}

// ComplianceFramework is a regulatory framework and how far the agent is
// along implementing it.
type ComplianceFramework struct {
	Name          string `json:"name"`
	Level         string `json:"level"`
	AuditReady    bool   `json:"audit_ready,omitempty"`
	MaturityLevel int    `json:"maturity_level,omitempty"`
}

// Discovery holds discovery settings (spec.discovery).
type Discovery struct {
	UADP *UADPDiscovery `json:"uadp,omitempty"`
}

// UADPDiscovery configures UADP discovery (spec.discovery.uadp).
type UADPDiscovery struct {
	Enabled  bool     `json:"enabled"`
	Tags     []string `json:"tags,omitempty"`
	Priority int      `json:"priority,omitempty"`
}

// AllCapabilities returns the primary then the secondary capabilities,
// without duplicates, in declaration order.
func (m *Manifest) AllCapabilities() []string {
	caps := m.Spec.Capabilities
	out := make([]string, 0, len(caps.Primary)+len(caps.Secondary))
	seen := make(map[string]bool, cap(out))
	for _, list := range [][]string{caps.Primary, caps.Secondary} {
		for _, c := range list {
			if !seen[c] {
				seen[c] = true
				out = append(out, c)
			}
		}
	}
	return out
}

// MaxConcurrency returns spec.performance.concurrency.max_concurrent, or 0
// when the manifest sets no limit.
func (m *Manifest) MaxConcurrency() int {
	if p := m.Spec.Performance; p != nil && p.Concurrency != nil {
		return p.Concurrency.MaxConcurrent
	}
	return 0
}

// HasProtocol reports whether spec.protocols lists name. Protocol names are
// lowercase ("openapi", "a2a", ...) and compared exactly.
func (m *Manifest) HasProtocol(name string) bool {
	for _, p := range m.Spec.Protocols {
		if p.Name == name {
			return true
		}
	}
	return false
}

// JSON returns the normalised document as canonical JSON: object keys
// sorted, no HTML escaping, no trailing newline. Extension keys are kept.
// A Manifest built by hand (Raw nil) serialises its typed fields instead.
func (m *Manifest) JSON() ([]byte, error) {
	var v any = m
	if m.Raw != nil {
		v = m.Raw
	}
	b, err := marshalJSON(v)
	if err != nil {
		return nil, fmt.Errorf("encode manifest %q: %w", m.Metadata.Name, err)
	}
	return b, nil
}

// marshalJSON encodes v without escaping <, > and &: latency bounds such as
// "<50ms" should stay readable in storage.
func marshalJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// decodeManifest fills the typed view of a schema-valid document.
func decodeManifest(root map[string]any) (*Manifest, error) {
	b, err := marshalJSON(root)
	if err != nil {
		return nil, err
	}
	m := &Manifest{}
	if err := json.Unmarshal(b, m); err != nil {
		return nil, err
	}
	m.Raw = root
	return m, nil
}
