package manifest

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Result is the outcome of validating one manifest.
type Result struct {
	// Valid is true when there are no error diagnostics.
	Valid bool `json:"valid"`
	// DeclaredTier is spec.conformance_tier, if it names a known tier.
	DeclaredTier Tier `json:"declared_tier,omitempty"`
	// TierReached is the highest tier whose rules all pass, whatever the
	// manifest declares; empty when the manifest does not even meet core.
	TierReached Tier         `json:"tier_reached,omitempty"`
	Errors      []Diagnostic `json:"errors,omitempty"`
	Warnings    []Diagnostic `json:"warnings,omitempty"`
}

// Validate parses a manifest from YAML or JSON and validates it against the
// schema and the conformance-tier rules.
//
// The error is non-nil only when data is not a manifest document at all: a
// *SyntaxError (malformed YAML or JSON, several documents, duplicate or
// non-string keys, a top level that is not a mapping) or, for input over
// MaxSize, an error wrapping ErrTooLarge. Otherwise every problem is a
// diagnostic in the Result.
//
// The Manifest is nil when the document breaks the schema, since its typed
// view would be partial. It is returned when only tier rules fail, so
// callers must check Result.Valid. The rules of the declared tier and those
// below it are errors; a missing or unknown tier is checked as core.
//
// Validate is safe for concurrent use.
func Validate(data []byte) (*Manifest, Result, error) {
	if len(data) > MaxSize {
		return nil, Result{}, fmt.Errorf("%w: %d bytes, limit is %d", ErrTooLarge, len(data), MaxSize)
	}
	doc, err := parseDocument(data)
	if err != nil {
		return nil, Result{}, err
	}
	warnings := normalize(doc.root, doc.pos)

	errs := schemaErrors(doc.root)
	var m *Manifest
	if len(errs) == 0 {
		if m, err = decodeManifest(doc.root); err != nil {
			errs = append(errs, decodeDiagnostic(err))
		}
	}

	findings := tierFindings(doc.root)
	res := Result{DeclaredTier: declaredTier(doc.root)}
	if len(errs) == 0 {
		res.TierReached = highestTier(findings)
	}
	schemaErrs := errs
	checked := max(res.DeclaredTier.Rank(), TierCore.Rank())
	for _, t := range tiers[:checked] {
		errs = append(errs, notCoveredBy(schemaErrs, findings[t])...)
	}

	res.Errors = located(errs, doc.pos)
	res.Warnings = located(warnings, doc.pos)
	res.Valid = len(res.Errors) == 0
	return m, res, nil
}

// declaredTier returns spec.conformance_tier if it is a known tier.
func declaredTier(root map[string]any) Tier {
	s, _ := object(root, "spec")["conformance_tier"].(string)
	t, err := ParseTier(s)
	if err != nil {
		return ""
	}
	return t
}

// highestTier is the highest tier whose rules, and all lower tiers' rules,
// pass.
func highestTier(findings map[Tier][]Diagnostic) Tier {
	var reached Tier
	for _, t := range tiers {
		if len(findings[t]) > 0 {
			break
		}
		reached = t
	}
	return reached
}

// notCoveredBy drops rule findings at or below a path that already has a
// schema error: "security must be a mapping" makes "security needs
// authentication" noise.
func notCoveredBy(schemaErrs, findings []Diagnostic) []Diagnostic {
	var out []Diagnostic
	for _, f := range findings {
		covered := false
		for _, e := range schemaErrs {
			if f.Path == e.Path || strings.HasPrefix(f.Path, e.Path+"/") {
				covered = true
				break
			}
		}
		if !covered {
			out = append(out, f)
		}
	}
	return out
}

// located fills in source positions and orders the diagnostics.
func located(ds []Diagnostic, pos positions) []Diagnostic {
	for i := range ds {
		at := pos.locate(ds[i].Path)
		ds[i].Line, ds[i].Column = at.line, at.col
	}
	return sortDiagnostics(ds)
}

// decodeDiagnostic reports a schema-valid value that does not fit its Go
// type, such as an integer too large for int.
func decodeDiagnostic(err error) Diagnostic {
	path := "/"
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		path = "/" + strings.ReplaceAll(te.Field, ".", "/")
		return Diagnostic{Path: path, Message: fmt.Sprintf("value does not fit a %s", te.Type), Severity: SeverityError}
	}
	return Diagnostic{Path: path, Message: "cannot decode manifest: " + err.Error(), Severity: SeverityError}
}
