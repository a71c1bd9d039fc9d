package manifest

import (
	"fmt"
	"strings"
)

// Normalisation rule IDs, reported on warnings.
const (
	ruleNormCapabilities = "NORM-001"
	ruleNormProtocols    = "NORM-002"
)

// normalize rewrites the older manifest body that upstream examples 01–04
// use into the canonical one, in place, and returns a warning for each
// rewrite. It only rewrites lists it can convert without guessing; anything
// else is left for the schema to reject.
//
//   - spec.capabilities as a list of names or of {name, description}
//     objects becomes {primary: [names...]} (descriptions are dropped).
//   - spec.protocols as a non-empty list of names becomes a list of
//     {name, version: "", required: false} objects.
//
// Positions of the new values point at the items they came from, so later
// diagnostics (an unknown protocol name, too many capabilities) still land
// on the right line.
func normalize(root map[string]any, pos positions) []Diagnostic {
	spec, ok := root["spec"].(map[string]any)
	if !ok {
		return nil
	}
	var warnings []Diagnostic
	if d, ok := normalizeCapabilities(spec, pos); ok {
		warnings = append(warnings, d)
	}
	if d, ok := normalizeProtocols(spec, pos); ok {
		warnings = append(warnings, d)
	}
	return warnings
}

func normalizeCapabilities(spec map[string]any, pos positions) (Diagnostic, bool) {
	const path = "/spec/capabilities"
	list, ok := spec["capabilities"].([]any)
	if !ok {
		return Diagnostic{}, false
	}
	names := make([]any, 0, len(list))
	for i, item := range list {
		name, from, ok := capabilityName(item, indexPath(path, i))
		if !ok {
			return Diagnostic{}, false
		}
		names = append(names, name)
		pos[indexPath(path+"/primary", i)] = pos.locate(from)
	}
	pos[path+"/primary"] = pos.locate(path)
	spec["capabilities"] = map[string]any{"primary": names}
	return Diagnostic{
		Path:     path,
		Message:  fmt.Sprintf("older list of capabilities normalised to {primary: [%s]}", joinAny(names)),
		Rule:     ruleNormCapabilities,
		Severity: SeverityWarning,
	}, true
}

// capabilityName accepts "name" or {name: "name", ...} and returns the name
// and the path of the value it came from.
func capabilityName(item any, path string) (string, string, bool) {
	switch item := item.(type) {
	case string:
		return item, path, true
	case map[string]any:
		name, ok := item["name"].(string)
		return name, childPath(path, "name"), ok
	default:
		return "", "", false
	}
}

func normalizeProtocols(spec map[string]any, pos positions) (Diagnostic, bool) {
	const path = "/spec/protocols"
	list, ok := spec["protocols"].([]any)
	if !ok || len(list) == 0 {
		return Diagnostic{}, false
	}
	for _, item := range list {
		if _, ok := item.(string); !ok {
			return Diagnostic{}, false
		}
	}
	protocols := make([]any, len(list))
	for i, name := range list {
		protocols[i] = map[string]any{"name": name, "version": "", "required": false}
		item := indexPath(path, i)
		pos[childPath(item, "name")] = pos.locate(item)
	}
	spec["protocols"] = protocols
	return Diagnostic{
		Path:     path,
		Message:  fmt.Sprintf("older list of protocol names [%s] normalised to {name, version: \"\", required: false} objects", joinAny(list)),
		Rule:     ruleNormProtocols,
		Severity: SeverityWarning,
	}, true
}

func joinAny(vs []any) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = fmt.Sprint(v)
	}
	return strings.Join(parts, ", ")
}
