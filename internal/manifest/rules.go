package manifest

import (
	"fmt"
	"regexp"
	"strings"
)

// rule is one conformance-tier rule. check returns a finding for each way
// the document fails the rule, at the path where the fix goes. Rules read
// the raw document defensively because they also run on documents that
// failed the schema, to report everything wrong in one pass.
type rule struct {
	id    string
	tier  Tier
	check func(root map[string]any) []finding
}

type finding struct {
	path, message string
}

// rules are the tier rules in docs/manifest.md. CORE-001 (the document
// conforms to the schema), GOV-001 and ADV-001 (the lower tier's rules
// pass) are structural and live in Validate, not in this table.
var rules = []rule{
	{id: "CORE-002", tier: TierCore, check: checkIdentity},
	{id: "CORE-003", tier: TierCore, check: checkPrimaryCapability},
	{id: "GOV-002", tier: TierGoverned, check: checkAuthentication},
	{id: "GOV-003", tier: TierGoverned, check: checkHealthEndpoint},
	{id: "GOV-004", tier: TierGoverned, check: checkOpenAPIProtocol},
	{id: "ADV-002", tier: TierAdvanced, check: checkAudit},
	{id: "ADV-003", tier: TierAdvanced, check: checkCompliance},
	{id: "ADV-004", tier: TierAdvanced, check: checkEncryption},
}

// semver is Semantic Versioning 2.0.0. The schema's version pattern is
// anchored only at the start, as upstream's is, so "1.2.3xyz" passes it;
// CORE-002 holds versions to the real grammar.
var semver = regexp.MustCompile(`^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)` +
	`(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?` +
	`(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$`)

// CORE-002: metadata names the agent and gives a semantic version.
func checkIdentity(root map[string]any) []finding {
	meta := object(root, "metadata")
	var out []finding
	if name, _ := meta["name"].(string); name == "" {
		out = append(out, finding{"/metadata/name", "an agent name is required"})
	}
	version, _ := meta["version"].(string)
	switch {
	case version == "":
		out = append(out, finding{"/metadata/version", "a version is required"})
	case !semver.MatchString(version):
		out = append(out, finding{"/metadata/version",
			fmt.Sprintf("%q is not a semantic version (MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD])", version)})
	}
	return out
}

// CORE-003: at least one non-empty primary capability.
func checkPrimaryCapability(root map[string]any) []finding {
	caps := object(object(root, "spec"), "capabilities")
	primary, _ := caps["primary"].([]any)
	for _, c := range primary {
		if s, ok := c.(string); ok && strings.TrimSpace(s) != "" {
			return nil
		}
	}
	return []finding{{"/spec/capabilities/primary", "at least one non-empty primary capability is required"}}
}

// GOV-002: an authentication method other than none.
func checkAuthentication(root map[string]any) []finding {
	auth, _ := object(object(root, "spec"), "security")["authentication"].([]any)
	for _, m := range auth {
		if s, ok := m.(string); ok && s != "" && s != "none" {
			return nil
		}
	}
	return []finding{{"/spec/security/authentication",
		"governed tier requires an authentication method other than none (api_key, oauth2, jwt or basic)"}}
}

// GOV-003: a health endpoint the platform can probe.
func checkHealthEndpoint(root map[string]any) []finding {
	if h, _ := object(object(root, "spec"), "endpoints")["health"].(string); h != "" {
		return nil
	}
	return []finding{{"/spec/endpoints/health", "governed tier requires a health endpoint"}}
}

// GOV-004: an openapi protocol entry, so the agent's API is described.
func checkOpenAPIProtocol(root map[string]any) []finding {
	protocols, _ := object(root, "spec")["protocols"].([]any)
	for _, p := range protocols {
		if p, ok := p.(map[string]any); ok && p["name"] == "openapi" {
			return nil
		}
	}
	return []finding{{"/spec/protocols", "governed tier requires an openapi protocol"}}
}

// ADV-002: audit logging switched on.
func checkAudit(root map[string]any) []finding {
	audit := object(object(object(root, "spec"), "security"), "audit")
	if enabled, _ := audit["enabled"].(bool); enabled {
		return nil
	}
	return []finding{{"/spec/security/audit/enabled", "advanced tier requires audit logging (enabled: true)"}}
}

// ADV-003: at least one compliance framework.
func checkCompliance(root map[string]any) []finding {
	if fws, _ := object(root, "spec")["compliance_frameworks"].([]any); len(fws) > 0 {
		return nil
	}
	return []finding{{"/spec/compliance_frameworks", "advanced tier requires at least one compliance framework"}}
}

// ADV-004: encryption both at rest and in transit.
func checkEncryption(root map[string]any) []finding {
	enc := object(object(object(root, "spec"), "security"), "encryption")
	var out []finding
	if s, _ := enc["at_rest"].(string); s == "" || s == "none" {
		out = append(out, finding{"/spec/security/encryption/at_rest",
			"advanced tier requires encryption at rest (aes_256 or aes_128)"})
	}
	if s, _ := enc["in_transit"].(string); s == "" || s == "none" {
		out = append(out, finding{"/spec/security/encryption/in_transit",
			"advanced tier requires encryption in transit (tls_1_3 or tls_1_2)"})
	}
	return out
}

// object returns m[key] if it is a mapping, else nil (reads of a nil map are
// safe, which keeps the rules short).
func object(m map[string]any, key string) map[string]any {
	v, _ := m[key].(map[string]any)
	return v
}

// tierFindings runs every rule and returns the failures as error
// diagnostics, grouped by the tier the rule belongs to.
func tierFindings(root map[string]any) map[Tier][]Diagnostic {
	out := make(map[Tier][]Diagnostic, len(tiers))
	for _, r := range rules {
		for _, f := range r.check(root) {
			out[r.tier] = append(out[r.tier], Diagnostic{
				Path: f.path, Message: f.message, Rule: r.id, Severity: SeverityError,
			})
		}
	}
	return out
}
