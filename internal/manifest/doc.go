// Package manifest is the single definition of an OSSA 0.1.8 agent manifest
// (the "ossa:" dialect, dialect A of the upstream project) as the platform
// accepts it.
//
// The definition is an embedded JSON Schema (schema/agent-0.1.8.json)
// followed by conformance-tier rules that are checked, not merely asserted:
// a manifest that declares spec.conformance_tier: governed must actually
// declare authentication, a health endpoint and an openapi protocol.
//
// Validate parses YAML or JSON, keeps the line and column of every value,
// normalises the older list-shaped capabilities and protocols bodies,
// validates against the schema and the tier rules, and returns typed
// diagnostics that point at a JSON pointer path and a source position.
// docs/manifest.md describes the accepted dialect, the platform's
// extensions and the rule IDs.
package manifest
