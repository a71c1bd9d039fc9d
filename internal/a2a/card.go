package a2a

import (
	"context"
	"encoding/json"
	"net/http"
)

// WellKnownCardPath is where an agent publishes its Agent Card (RFC 8615,
// docs/topics/agent-discovery.md); LegacyCardPath is the v0.2 location some
// clients still try.
const (
	WellKnownCardPath = "/.well-known/agent-card.json"
	LegacyCardPath    = "/.well-known/agent.json"
)

// Protocol bindings an AgentInterface can declare.
const (
	BindingJSONRPC  = "JSONRPC"
	BindingGRPC     = "GRPC"
	BindingHTTPJSON = "HTTP+JSON"
)

// AgentCard describes an agent: who it is, where and how to reach it, and
// what it can do (a2a.proto AgentCard).
//
// The v0.3 fields (LegacySecurity, URL, PreferredTransport, ProtocolVersion,
// AdditionalInterfaces) sit beside the v1.0 ones so that clients of either
// version can read the same document; WithLegacyFields fills them from
// SupportedInterfaces.
type AgentCard struct {
	Name                 string                `json:"name"`
	Description          string                `json:"description"`
	SupportedInterfaces  []AgentInterface      `json:"supportedInterfaces"`
	Provider             *AgentProvider        `json:"provider,omitempty"`
	Version              string                `json:"version"`
	DocumentationURL     string                `json:"documentationUrl,omitempty"`
	Capabilities         AgentCapabilities     `json:"capabilities"`
	SecuritySchemes      map[string]Scheme     `json:"securitySchemes,omitempty"`
	SecurityRequirements []SecurityRequirement `json:"securityRequirements,omitempty"`
	DefaultInputModes    []string              `json:"defaultInputModes"`
	DefaultOutputModes   []string              `json:"defaultOutputModes"`
	Skills               []AgentSkill          `json:"skills"`
	IconURL              string                `json:"iconUrl,omitempty"`

	// v0.3 fields.
	LegacySecurity       []map[string][]string `json:"security,omitempty"`
	URL                  string                `json:"url,omitempty"`
	PreferredTransport   string                `json:"preferredTransport,omitempty"`
	ProtocolVersion      string                `json:"protocolVersion,omitempty"`
	AdditionalInterfaces []LegacyInterface     `json:"additionalInterfaces,omitempty"`
}

// AgentInterface is one URL where the agent serves a protocol binding at a
// protocol version.
type AgentInterface struct {
	URL             string `json:"url"`
	ProtocolBinding string `json:"protocolBinding"`
	Tenant          string `json:"tenant,omitempty"`
	ProtocolVersion string `json:"protocolVersion"`
}

// LegacyInterface is the v0.3 AgentInterface.
type LegacyInterface struct {
	URL       string `json:"url"`
	Transport string `json:"transport"`
}

// AgentProvider is the organisation behind an agent.
type AgentProvider struct {
	Organization string `json:"organization"`
	URL          string `json:"url"`
}

// AgentCapabilities are the optional protocol features an agent supports.
type AgentCapabilities struct {
	Streaming         bool `json:"streaming"`
	PushNotifications bool `json:"pushNotifications"`
	ExtendedAgentCard bool `json:"extendedAgentCard,omitempty"`
}

// AgentSkill is something the agent can do.
type AgentSkill struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Tags        []string `json:"tags"`
	Examples    []string `json:"examples,omitempty"`
	InputModes  []string `json:"inputModes,omitempty"`
	OutputModes []string `json:"outputModes,omitempty"`
}

// Scheme is a security scheme. The card carries it in both generations'
// shapes at once — the v1.0 oneof ({"httpAuthSecurityScheme": {…}}) and the
// v0.3 OpenAPI-style object ({"type": "http", "scheme": …}) — since the
// same document serves both.
type Scheme struct {
	APIKey   *APIKeyScheme   `json:"apiKeySecurityScheme,omitempty"`
	HTTPAuth *HTTPAuthScheme `json:"httpAuthSecurityScheme,omitempty"`
}

// APIKeyScheme is an API key sent in a header, query parameter or cookie.
type APIKeyScheme struct {
	Description string `json:"description,omitempty"`
	// Location is "header", "query" or "cookie".
	Location string `json:"location"`
	Name     string `json:"name"`
}

// HTTPAuthScheme is HTTP authentication, such as "Bearer".
type HTTPAuthScheme struct {
	Description  string `json:"description,omitempty"`
	Scheme       string `json:"scheme"`
	BearerFormat string `json:"bearerFormat,omitempty"`
}

// MarshalJSON writes the v1.0 oneof plus the v0.3 flat fields.
func (s Scheme) MarshalJSON() ([]byte, error) {
	type v1 Scheme
	out := map[string]any{}
	b, err := json.Marshal(v1(s))
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, err
	}
	switch {
	case s.APIKey != nil:
		out["type"], out["in"], out["name"] = "apiKey", s.APIKey.Location, s.APIKey.Name
		setNonEmpty(out, "description", s.APIKey.Description)
	case s.HTTPAuth != nil:
		out["type"], out["scheme"] = "http", s.HTTPAuth.Scheme
		setNonEmpty(out, "bearerFormat", s.HTTPAuth.BearerFormat)
		setNonEmpty(out, "description", s.HTTPAuth.Description)
	}
	return json.Marshal(out)
}

// UnmarshalJSON reads either shape.
func (s *Scheme) UnmarshalJSON(b []byte) error {
	type v1 Scheme
	var out v1
	if err := json.Unmarshal(b, &out); err != nil {
		return err
	}
	if out.APIKey == nil && out.HTTPAuth == nil {
		var flat struct {
			Type, In, Name, Scheme, BearerFormat, Description string
		}
		if err := json.Unmarshal(b, &flat); err != nil {
			return err
		}
		switch flat.Type {
		case "apiKey":
			out.APIKey = &APIKeyScheme{Location: flat.In, Name: flat.Name, Description: flat.Description}
		case "http":
			out.HTTPAuth = &HTTPAuthScheme{Scheme: flat.Scheme, BearerFormat: flat.BearerFormat, Description: flat.Description}
		}
	}
	*s = Scheme(out)
	return nil
}

func setNonEmpty(m map[string]any, k, v string) {
	if v != "" {
		m[k] = v
	}
}

// SecurityRequirement lists the schemes (by name, with scopes) a client must
// satisfy together.
type SecurityRequirement struct {
	Schemes map[string]StringList `json:"schemes"`
}

// StringList is a2a.proto StringList.
type StringList struct {
	List []string `json:"list"`
}

// RequireSchemes sets the card's security requirements to "any one of
// names", in both generations' shapes.
func (c *AgentCard) RequireSchemes(names ...string) {
	c.SecurityRequirements, c.LegacySecurity = nil, nil
	for _, n := range names {
		c.SecurityRequirements = append(c.SecurityRequirements, SecurityRequirement{Schemes: map[string]StringList{n: {List: []string{}}}})
		c.LegacySecurity = append(c.LegacySecurity, map[string][]string{n: {}})
	}
}

// WithLegacyFields returns c with the v0.3 fields filled from the first
// JSON-RPC interface (when they are unset), so that v0.3 clients find the
// endpoint, and with required lists non-nil (so they encode as []).
func (c AgentCard) WithLegacyFields() AgentCard {
	for _, list := range []*[]string{&c.DefaultInputModes, &c.DefaultOutputModes} {
		if *list == nil {
			*list = []string{}
		}
	}
	if c.SupportedInterfaces == nil {
		c.SupportedInterfaces = []AgentInterface{}
	}
	// Clone before filling in: c shares its slices with the caller.
	c.Skills = append([]AgentSkill{}, c.Skills...)
	for i := range c.Skills {
		if c.Skills[i].Tags == nil {
			c.Skills[i].Tags = []string{}
		}
	}
	if c.URL != "" {
		return c
	}
	for _, in := range c.SupportedInterfaces {
		if in.ProtocolBinding == BindingJSONRPC {
			c.URL, c.PreferredTransport = in.URL, BindingJSONRPC
			c.ProtocolVersion = "0.3.0"
			c.AdditionalInterfaces = []LegacyInterface{{URL: in.URL, Transport: BindingJSONRPC}}
			break
		}
	}
	return c
}

// JSONRPCURL returns the URL of the card's JSON-RPC interface, preferring
// protocol version 1.0, or "" when it declares none.
func (c AgentCard) JSONRPCURL() string {
	found := ""
	for _, in := range c.SupportedInterfaces {
		if in.ProtocolBinding != BindingJSONRPC {
			continue
		}
		if in.ProtocolVersion == ProtocolVersion || found == "" {
			found = in.URL
		}
	}
	if found == "" && (c.PreferredTransport == "" || c.PreferredTransport == BindingJSONRPC) {
		found = c.URL
	}
	return found
}

type baseURLKey struct{}

// BaseURL returns the scheme and host the current card request was made to
// (e.g. "http://agent.local:8080"), for card functions that build absolute
// URLs without knowing their public address. It is "" outside CardHandler.
func BaseURL(ctx context.Context) string {
	s, _ := ctx.Value(baseURLKey{}).(string)
	return s
}

// CardHandler serves the card returned by card (with its v0.3 fields
// filled) to GET and HEAD. Cards are public: browsers may fetch them from
// other origins.
func CardHandler(card func(ctx context.Context) AgentCard) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		ctx := context.WithValue(r.Context(), baseURLKey{}, scheme+"://"+r.Host)
		body, err := json.Marshal(card(ctx).WithLegacyFields())
		if err != nil {
			http.Error(w, "cannot encode the agent card", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Access-Control-Allow-Origin", "*")
		w.Header().Set("Cache-Control", "public, max-age=60")
		if r.Method == http.MethodGet {
			_, _ = w.Write(body)
		}
	})
}
