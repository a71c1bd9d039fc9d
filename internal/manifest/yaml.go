package manifest

import (
	"bytes"
	"errors"
	"fmt"
	goccy "github.com/goccy/go-yaml"
	goccyparser "github.com/goccy/go-yaml/parser"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// parseYAML reads exactly one YAML document whose top level is a mapping.
func parseYAML(data []byte, lines lineIndex) (*document, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &SyntaxError{Line: 1, Column: 1, Msg: "document is empty"}
		}
		return nil, yamlSyntaxError(err, lines)
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, yamlSyntaxError(err, lines)
	default:
		return nil, nodeError(&next, "found a second YAML document; a manifest file holds exactly one")
	}

	if len(doc.Content) == 0 {
		return nil, &SyntaxError{Line: 1, Column: 1, Msg: "document is empty"}
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null" && root.Value == "" {
		return nil, &SyntaxError{Line: 1, Column: 1, Msg: "document is empty"}
	}
	if root.Kind != yaml.MappingNode {
		return nil, nodeError(root, "the top level must be a mapping, got %s", describeNode(root))
	}
	c := &yamlConverter{pos: make(positions, 64), active: make(map[*yaml.Node]bool)}
	v, err := c.convert(root, "", nodePos(root))
	if err != nil {
		return nil, err
	}
	return &document{root: v.(map[string]any), pos: c.pos}, nil
}

// yamlConverter turns a yaml.Node tree into plain JSON-compatible values,
// recording where each value came from.
type yamlConverter struct {
	pos    positions
	values int
	// active holds the anchored nodes being expanded through aliases, to
	// reject an alias inside the value it refers to.
	active map[*yaml.Node]bool
}

// convert converts n, found at path, recording at as its position.
func (c *yamlConverter) convert(n *yaml.Node, path string, at position) (any, error) {
	c.values++
	if c.values > maxValues {
		return nil, nodeError(n, "document expands to more than %d values (check its YAML aliases)", maxValues)
	}
	c.pos[path] = at
	switch n.Kind {
	case yaml.AliasNode:
		return c.alias(n, path, at)
	case yaml.MappingNode:
		return c.mapping(n, path)
	case yaml.SequenceNode:
		return c.sequence(n, path)
	case yaml.ScalarNode:
		return scalarValue(n)
	default:
		return nil, nodeError(n, "unexpected YAML node kind %d", n.Kind)
	}
}

func (c *yamlConverter) alias(n *yaml.Node, path string, at position) (any, error) {
	target := n.Alias
	if target == nil {
		return nil, nodeError(n, "unknown anchor %q", n.Value)
	}
	if c.active[target] {
		return nil, nodeError(n, "alias *%s refers to a value that contains it", n.Value)
	}
	c.active[target] = true
	defer delete(c.active, target)
	return c.convert(target, path, at)
}

func (c *yamlConverter) mapping(n *yaml.Node, path string) (map[string]any, error) {
	out := make(map[string]any, len(n.Content)/2)
	// Merged keys ("<<: *base") go in first so that explicit keys override
	// them, as the YAML merge-key convention requires.
	for i := 0; i+1 < len(n.Content); i += 2 {
		if isMergeKey(n.Content[i]) {
			if err := c.merge(out, n.Content[i+1], path); err != nil {
				return nil, err
			}
		}
	}
	seen := make(map[string]*yaml.Node, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if isMergeKey(k) {
			continue
		}
		key, err := mappingKey(k)
		if err != nil {
			return nil, err
		}
		if prev, dup := seen[key]; dup {
			return nil, nodeError(k, "mapping key %q is already defined at line %d", key, prev.Line)
		}
		seen[key] = k
		val, err := c.convert(v, childPath(path, key), valuePos(k, v))
		if err != nil {
			return nil, err
		}
		out[key] = val
	}
	return out, nil
}

// merge copies the mapping (or list of mappings) v into out. Earlier
// mappings in a list win, so they are merged last.
func (c *yamlConverter) merge(out map[string]any, v *yaml.Node, path string) error {
	sources := []*yaml.Node{v}
	if resolve(v).Kind == yaml.SequenceNode {
		sources = resolve(v).Content
	}
	for i := len(sources) - 1; i >= 0; i-- {
		src := sources[i]
		if resolve(src).Kind != yaml.MappingNode {
			return nodeError(src, "merge key << needs a mapping or a list of mappings, got %s", describeNode(src))
		}
		m, err := c.convert(src, path, c.pos[path])
		if err != nil {
			return err
		}
		for k, val := range m.(map[string]any) {
			out[k] = val
		}
	}
	return nil
}

func (c *yamlConverter) sequence(n *yaml.Node, path string) ([]any, error) {
	out := make([]any, 0, len(n.Content))
	for i, item := range n.Content {
		v, err := c.convert(item, indexPath(path, i), nodePos(item))
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// mappingKey returns the key as a string. JSON has only string keys, so a
// YAML key that resolves to anything else (1, true, null, a list) is
// rejected rather than silently stringified.
func mappingKey(k *yaml.Node) (string, error) {
	r := resolve(k)
	if r.Kind != yaml.ScalarNode || r.ShortTag() != "!!str" {
		msg := "mapping keys must be strings, got " + describeNode(k)
		if r.Kind == yaml.ScalarNode {
			msg += " (quote it)"
		}
		return "", nodeError(k, "%s", msg)
	}
	return r.Value, nil
}

func isMergeKey(k *yaml.Node) bool {
	return k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge"
}

// scalarValue converts a scalar by its resolved tag. Timestamps, binary and
// custom-tagged scalars stay strings exactly as written, so `created:
// 2025-09-01` is the string "2025-09-01". Non-finite floats (.inf, .nan)
// have no JSON form and also stay strings.
func scalarValue(n *yaml.Node) (any, error) {
	switch n.ShortTag() {
	case "!!null":
		return nil, nil
	case "!!bool":
		switch n.Value {
		case "true", "True", "TRUE":
			return true, nil
		case "false", "False", "FALSE":
			return false, nil
		}
	case "!!int":
		if i, err := strconv.ParseInt(n.Value, 10, 64); err == nil {
			return i, nil
		}
	case "!!float":
		if f, err := strconv.ParseFloat(n.Value, 64); err == nil && isFinite(f) {
			return f, nil
		}
	default:
		return n.Value, nil
	}
	// Other spellings (0x1F, 1_000, .5, !!bool yes): let the YAML library
	// resolve them.
	var v any
	if err := n.Decode(&v); err != nil {
		return nil, nodeError(n, "cannot read %q as %s", n.Value, n.ShortTag())
	}
	switch v := v.(type) {
	case int:
		return int64(v), nil
	case uint64:
		if v <= math.MaxInt64 {
			return int64(v), nil
		}
		return v, nil
	case float64:
		if !isFinite(v) {
			return n.Value, nil
		}
		return v, nil
	default:
		return v, nil
	}
}

func isFinite(f float64) bool {
	return !math.IsInf(f, 0) && !math.IsNaN(f)
}

// resolve follows an alias to the node it refers to.
func resolve(n *yaml.Node) *yaml.Node {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		return n.Alias
	}
	return n
}

func nodePos(n *yaml.Node) position {
	return position{line: n.Line, col: n.Column}
}

// valuePos is where a mapping value is reported: at the key for a nested
// mapping or list (whose own position is its first child), at the value
// itself for a scalar.
func valuePos(k, v *yaml.Node) position {
	switch resolve(v).Kind {
	case yaml.MappingNode, yaml.SequenceNode:
		return nodePos(k)
	default:
		return nodePos(v)
	}
}

func nodeError(n *yaml.Node, format string, args ...any) *SyntaxError {
	return &SyntaxError{Line: max(n.Line, 1), Column: n.Column, Msg: fmt.Sprintf(format, args...)}
}

// describeNode names a node's type for messages.
func describeNode(n *yaml.Node) string {
	n = resolve(n)
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return "null"
		case "!!str":
			return fmt.Sprintf("the string %q", n.Value)
		case "!!int", "!!float":
			return "the number " + n.Value
		case "!!bool":
			return "the boolean " + n.Value
		default:
			return fmt.Sprintf("%s %s", strings.TrimPrefix(n.ShortTag(), "!!"), n.Value)
		}
	default:
		return "an alias"
	}
}

// yamlLine matches the position prefix the YAML library puts on its errors.
var yamlLine = regexp.MustCompile(`^line (\d+): `)

// yamlUnknownAnchor matches the library's one composer error that carries no
// position at all.
var yamlUnknownAnchor = regexp.MustCompile(`^unknown anchor '(.*)' referenced$`)

// yamlParserProblems are the library's parser (not scanner) errors. It
// prints their line 0-based, as the line of the enclosing collection, so
// they need one added; scanner errors are already 1-based. Errors on the
// first line carry no "line N:" prefix at all.
var yamlParserProblems = map[string]bool{
	"did not find expected <stream-start>":   true,
	"did not find expected <document start>": true,
	"found undefined tag handle":             true,
	"did not find expected node content":     true,
	"did not find expected '-' indicator":    true,
	"did not find expected key":              true,
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"found duplicate %YAML directive":        true,
	"found incompatible YAML document":       true,
	"found duplicate %TAG directive":         true,
}

// yamlSyntaxError turns the YAML library's error text into a SyntaxError
// with a 1-based line. The library does not expose columns, so Column is 0
// except where the position can be found in the source.
func yamlSyntaxError(err error, lines lineIndex) *SyntaxError {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 1
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		n, convErr := strconv.Atoi(m[1])
		if convErr == nil {
			msg = msg[len(m[0]):]
			line = n
			if yamlParserProblems[msg] {
				line++
			}
		}
	}
	if m := yamlUnknownAnchor.FindStringSubmatch(msg); m != nil {
		if off := findAlias(lines.data, m[1]); off >= 0 {
			return lines.errorAt(off, "unknown anchor %q", m[1])
		}
	}
	located := locateSyntaxError(lines.data)
	switch {
	case located == nil:
		return &SyntaxError{Line: line, Msg: msg}
	case located.Line == line:
		// Same place: yaml.v3's wording is usually the clearer one.
		return &SyntaxError{Line: line, Column: located.Column, Msg: msg}
	default:
		return located
	}
}

// locateSyntaxError re-parses a document yaml.v3 rejected with goccy/go-yaml,
// whose syntax errors carry a line and a column (yaml.v3's carry only a line),
// so users are pointed at the exact spot. It returns nil when goccy accepts the
// document or cannot place the error; the caller then keeps yaml.v3's line.
func locateSyntaxError(data []byte) *SyntaxError {
	_, err := goccyparser.ParseBytes(data, 0)
	var se *goccy.SyntaxError
	if !errors.As(err, &se) || se.Token == nil || se.Token.Position == nil || se.Token.Position.Line < 1 {
		return nil
	}
	return &SyntaxError{Line: se.Token.Position.Line, Column: se.Token.Position.Column, Msg: se.Message}
}

// findAlias returns the offset of the first "*name" alias in data, or -1.
func findAlias(data []byte, name string) int {
	needle := []byte("*" + name)
	for off := 0; ; {
		i := bytes.Index(data[off:], needle)
		if i < 0 {
			return -1
		}
		end := off + i + len(needle)
		if end == len(data) || bytes.IndexByte([]byte(" \t\r\n,]}"), data[end]) >= 0 {
			return off + i
		}
		off = end
	}
}
