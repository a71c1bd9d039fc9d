package manifest

import (
	"cmp"
	"errors"
	"slices"
	"strconv"
	"strings"
)

// Severity says whether a diagnostic makes a manifest invalid.
type Severity string

// Diagnostic severities.
const (
	SeverityError   Severity = "error"
	SeverityWarning Severity = "warning"
)

// Diagnostic is one finding about a manifest.
//
// Path is a JSON pointer (RFC 6901) to the value concerned, or to where a
// missing value belongs (for example /spec/security/authentication when
// authentication is absent). Line and Column are 1-based and locate Path in
// the source; when Path does not exist in the source they locate its nearest
// existing ancestor. Rule is the ID of the tier or normalisation rule that
// produced the diagnostic (see docs/manifest.md); schema violations have no
// rule.
type Diagnostic struct {
	Path     string   `json:"path"`
	Line     int      `json:"line,omitempty"`
	Column   int      `json:"column,omitempty"`
	Message  string   `json:"message"`
	Rule     string   `json:"rule,omitempty"`
	Severity Severity `json:"severity"`
}

// String formats the diagnostic for people, one line:
//
//	line 12:5 /spec/class: value must be one of "general", ... (got "x")
//	line 9:3 /spec/security/authentication: governed tier requires ... [GOV-002]
//	line 7:3 /spec/capabilities: warning: older list form ... [NORM-001]
func (d Diagnostic) String() string {
	var b strings.Builder
	if d.Line > 0 {
		b.WriteString("line ")
		b.WriteString(strconv.Itoa(d.Line))
		if d.Column > 0 {
			b.WriteByte(':')
			b.WriteString(strconv.Itoa(d.Column))
		}
		b.WriteByte(' ')
	}
	b.WriteString(d.Path)
	b.WriteString(": ")
	if d.Severity == SeverityWarning {
		b.WriteString("warning: ")
	}
	b.WriteString(d.Message)
	if d.Rule != "" {
		b.WriteString(" [")
		b.WriteString(d.Rule)
		b.WriteByte(']')
	}
	return b.String()
}

// SyntaxError reports input that is not a well-formed manifest document:
// malformed YAML or JSON, several YAML documents, duplicate or non-string
// mapping keys, unresolvable or runaway aliases, or a top level that is not
// a mapping. Line is 1-based. Column is 1-based, or 0 when the position
// within the line is unknown: the YAML library reports only a line for its
// own syntax errors.
type SyntaxError struct {
	Line   int
	Column int
	Msg    string
}

// Error formats the error as "line L:C: msg", or "line L: msg" when the
// column is unknown.
func (e *SyntaxError) Error() string {
	if e.Column > 0 {
		return "line " + strconv.Itoa(e.Line) + ":" + strconv.Itoa(e.Column) + ": " + e.Msg
	}
	return "line " + strconv.Itoa(e.Line) + ": " + e.Msg
}

// MaxSize is the largest manifest Validate accepts, in bytes.
const MaxSize = 1 << 20

// ErrTooLarge is returned (wrapped) by Validate for input over MaxSize.
var ErrTooLarge = errors.New("manifest too large")

// sortDiagnostics orders diagnostics by line, then path, then message, and
// drops exact duplicates, so output is stable whatever order the validator
// reports in.
func sortDiagnostics(ds []Diagnostic) []Diagnostic {
	slices.SortFunc(ds, func(a, b Diagnostic) int {
		return cmp.Or(
			cmp.Compare(a.Line, b.Line),
			cmp.Compare(a.Path, b.Path),
			cmp.Compare(a.Message, b.Message),
			cmp.Compare(a.Rule, b.Rule),
			cmp.Compare(a.Column, b.Column),
		)
	})
	return slices.Compact(ds)
}
