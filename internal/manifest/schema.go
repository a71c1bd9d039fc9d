package manifest

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
)

//go:embed schema/agent-0.1.8.json
var schemaJSON []byte

// SchemaID is the $id of the embedded schema.
const SchemaID = "https://ossa-platform.github.io/ossa/schemas/agent-0.1.8.json"

// SchemaJSON returns a copy of the embedded JSON Schema (draft 2020-12) that
// defines an OSSA 0.1.8 agent manifest, for serving or embedding in API
// documents.
func SchemaJSON() []byte {
	return bytes.Clone(schemaJSON)
}

// compiledSchema compiles the embedded schema once. A compiled schema is
// immutable, so Validate may share it between goroutines.
var compiledSchema = sync.OnceValue(func() *jsonschema.Schema {
	sch, err := compileSchema()
	if err != nil {
		// The schema is part of the binary; tests compile it, so this is a
		// build defect rather than a runtime condition.
		panic(fmt.Sprintf("manifest: %v", err))
	}
	return sch
})

func compileSchema() (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schemaJSON))
	if err != nil {
		return nil, fmt.Errorf("decode embedded schema: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	// Formats are annotations only by default in 2020-12; upstream validates
	// with ajv-formats, so dates and URI references are asserted.
	c.AssertFormat()
	if err := c.AddResource(SchemaID, doc); err != nil {
		return nil, fmt.Errorf("add embedded schema: %w", err)
	}
	sch, err := c.Compile(SchemaID)
	if err != nil {
		return nil, fmt.Errorf("compile embedded schema: %w", err)
	}
	return sch, nil
}

// schemaErrors validates the document and returns one error diagnostic per
// violation (positions are filled in later).
func schemaErrors(root map[string]any) []Diagnostic {
	err := compiledSchema().Validate(any(root))
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return []Diagnostic{{Path: "/", Message: err.Error(), Severity: SeverityError}}
	}
	var out []Diagnostic
	collectLeaves(ve, &out)
	return out
}

// collectLeaves walks the error tree. Inner nodes only say "a subschema
// failed" ($ref, properties); the leaves name the actual violations.
func collectLeaves(ve *jsonschema.ValidationError, out *[]Diagnostic) {
	if len(ve.Causes) > 0 {
		for _, c := range ve.Causes {
			collectLeaves(c, out)
		}
		return
	}
	path := pointer(ve.InstanceLocation)
	if req, ok := ve.ErrorKind.(*kind.Required); ok {
		// One diagnostic per missing property, at the property's own path,
		// so each says exactly what to add.
		for _, name := range req.Missing {
			*out = append(*out, Diagnostic{Path: childPath(path, name), Message: "required property is missing", Severity: SeverityError})
		}
		return
	}
	*out = append(*out, Diagnostic{Path: path, Message: describe(ve.ErrorKind), Severity: SeverityError})
}

func pointer(tokens []string) string {
	var b strings.Builder
	for _, t := range tokens {
		b.WriteByte('/')
		b.WriteString(escapePointer(t))
	}
	return b.String()
}

// patternHints explains the schema's regular expressions in words.
var patternHints = map[string]string{
	`^[a-z0-9-_]+$`:  "lowercase letters, digits, '-' and '_' only",
	`^\d+\.\d+\.\d+`: `MAJOR.MINOR.PATCH, for example "1.0.0"`,
	`^<\d+ms$`:       `a bound in milliseconds, for example "<100ms"`,
}

// formatHints explains the asserted formats in words.
var formatHints = map[string]string{
	"date":          "a date (YYYY-MM-DD)",
	"uri-reference": "a URI reference (a path such as /health, or a URL)",
}

// describe turns a jsonschema error kind into a message without schema URLs
// or keyword jargon.
func describe(k jsonschema.ErrorKind) string {
	switch k := k.(type) {
	case *kind.Type:
		return fmt.Sprintf("must be %s, got %s", typeNames(k.Want), article(k.Got))
	case *kind.Enum:
		return fmt.Sprintf("value must be one of %s (got %s)", joinValues(k.Want), display(k.Got))
	case *kind.Const:
		return fmt.Sprintf("value must be %s (got %s)", display(k.Want), display(k.Got))
	case *kind.Format:
		hint := formatHints[k.Want]
		if hint == "" {
			hint = "a valid " + k.Want
		}
		return fmt.Sprintf("%s is not %s", display(k.Got), hint)
	case *kind.Pattern:
		if hint, ok := patternHints[k.Want]; ok {
			return fmt.Sprintf("%s does not match %s: use %s", strconv.Quote(k.Got), k.Want, hint)
		}
		return fmt.Sprintf("%s does not match %s", strconv.Quote(k.Got), k.Want)
	case *kind.MinItems:
		return fmt.Sprintf("must have at least %s (got %d)", plural(k.Want, "item"), k.Got)
	case *kind.MaxItems:
		return fmt.Sprintf("must have at most %s (got %d)", plural(k.Want, "item"), k.Got)
	case *kind.MinLength:
		return fmt.Sprintf("must be at least %s long (got %d)", plural(k.Want, "character"), k.Got)
	case *kind.MaxLength:
		return fmt.Sprintf("must be at most %s long (got %d)", plural(k.Want, "character"), k.Got)
	case *kind.Minimum:
		return fmt.Sprintf("must be at least %s (got %s)", ratString(k.Want), ratString(k.Got))
	case *kind.Maximum:
		return fmt.Sprintf("must be at most %s (got %s)", ratString(k.Want), ratString(k.Got))
	default:
		// Keywords the schema does not use today. Let the library phrase
		// them: its Error() for a bare error is "at '': <message>".
		msg := (&jsonschema.ValidationError{ErrorKind: k}).Error()
		return strings.TrimPrefix(msg, "at '': ")
	}
}

func typeNames(want []string) string {
	names := make([]string, len(want))
	for i, w := range want {
		names[i] = article(w)
	}
	return strings.Join(names, " or ")
}

// article names a JSON Schema type in words. YAML users write "mapping" and
// "list", so those are the words used.
func article(typ string) string {
	switch typ {
	case "object":
		return "a mapping"
	case "array":
		return "a list"
	case "integer":
		return "an integer"
	case "null":
		return "null"
	default:
		return "a " + typ
	}
}

func display(v any) string {
	switch v := v.(type) {
	case string:
		return strconv.Quote(v)
	case map[string]any, []any, nil:
		return kindName(v)
	default:
		return fmt.Sprint(v)
	}
}

func joinValues(vs []any) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = display(v)
	}
	return strings.Join(parts, ", ")
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

func ratString(r *big.Rat) string {
	if r.IsInt() {
		return r.Num().String()
	}
	f, _ := r.Float64()
	return strconv.FormatFloat(f, 'g', -1, 64)
}
