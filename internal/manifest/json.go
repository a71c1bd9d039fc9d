package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"strconv"
)

// parseJSON reads a JSON manifest with encoding/json's tokenizer, recording
// the position of every value as parseYAML does.
func parseJSON(data []byte, lines lineIndex) (*document, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	c := &jsonConverter{dec: dec, lines: lines, pos: make(positions, 64)}
	v, err := c.value("", position{}, false)
	if err != nil {
		return nil, err
	}
	if off, tok, err := c.next(); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, c.syntaxError(err)
		}
		return nil, lines.errorAt(off, "unexpected %v after the end of the JSON document", tok)
	}
	root, ok := v.(map[string]any)
	if !ok {
		at := c.pos[""]
		return nil, &SyntaxError{Line: at.line, Column: at.col,
			Msg: "the top level must be a mapping, got " + kindName(v)}
	}
	return &document{root: root, pos: c.pos}, nil
}

// jsonConverter walks the token stream of one JSON value.
type jsonConverter struct {
	dec    *json.Decoder
	lines  lineIndex
	pos    positions
	values int
}

// next returns the next token and the byte offset at which it starts.
// InputOffset is the end of the previous token; separators and whitespace
// lie between.
func (c *jsonConverter) next() (int, json.Token, error) {
	off := int(c.dec.InputOffset())
	for off < len(c.lines.data) && bytes.IndexByte([]byte(" \t\r\n,:"), c.lines.data[off]) >= 0 {
		off++
	}
	tok, err := c.dec.Token()
	return off, tok, err
}

// value reads one value at path. keyAt is the position of the key it belongs
// to, if any: nested objects and arrays are reported at their key.
func (c *jsonConverter) value(path string, keyAt position, hasKey bool) (any, error) {
	off, tok, err := c.next()
	if err != nil {
		return nil, c.syntaxError(err)
	}
	c.values++
	if c.values > maxValues {
		return nil, c.lines.errorAt(off, "document has more than %d values", maxValues)
	}
	at := c.lines.at(off)
	if d, ok := tok.(json.Delim); ok && hasKey && (d == '{' || d == '[') {
		at = keyAt
	}
	c.pos[path] = at
	switch tok := tok.(type) {
	case json.Delim:
		if tok == '{' {
			return c.object(path)
		}
		return c.array(path)
	case json.Number:
		return jsonNumber(tok), nil
	default: // string, bool, nil
		return tok, nil
	}
}

func (c *jsonConverter) object(path string) (map[string]any, error) {
	out := make(map[string]any)
	seen := make(map[string]position)
	for c.dec.More() {
		off, tok, err := c.next()
		if err != nil {
			return nil, c.syntaxError(err)
		}
		at := c.lines.at(off)
		key, ok := tok.(string)
		if !ok {
			return nil, &SyntaxError{Line: at.line, Column: at.col, Msg: "object keys must be strings"}
		}
		if prev, dup := seen[key]; dup {
			return nil, &SyntaxError{Line: at.line, Column: at.col,
				Msg: "mapping key " + strconv.Quote(key) + " is already defined at line " + strconv.Itoa(prev.line)}
		}
		seen[key] = at
		v, err := c.value(childPath(path, key), at, true)
		if err != nil {
			return nil, err
		}
		out[key] = v
	}
	return out, c.closing()
}

func (c *jsonConverter) array(path string) ([]any, error) {
	out := make([]any, 0, 4)
	for i := 0; c.dec.More(); i++ {
		v, err := c.value(indexPath(path, i), position{}, false)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, c.closing()
}

// closing consumes the '}' or ']' that ends a collection.
func (c *jsonConverter) closing() error {
	if _, _, err := c.next(); err != nil {
		return c.syntaxError(err)
	}
	return nil
}

// syntaxError locates a tokenizer error. parseJSON only sees input that
// json.Valid accepted, so this is a safety net; jsonSyntaxError reports
// malformed JSON precisely.
func (c *jsonConverter) syntaxError(err error) *SyntaxError {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return c.lines.errorAt(len(c.lines.data), "unexpected end of JSON input")
	}
	return c.lines.errorAt(int(c.dec.InputOffset()), "%s", err.Error())
}

// jsonSyntaxError returns the first syntax error in malformed JSON, or nil
// if data is valid. Unmarshal checks the whole input before decoding and
// reports the offset just past the offending byte, counted from the start.
func jsonSyntaxError(data []byte, lines lineIndex) *SyntaxError {
	var se *json.SyntaxError
	if !errors.As(json.Unmarshal(data, &struct{}{}), &se) {
		return nil
	}
	off := int(se.Offset) - 1
	if se.Offset >= int64(len(data)) {
		off = len(data) // unexpected end: point past the last byte
	}
	return lines.errorAt(off, "%s", se.Error())
}

// jsonNumber converts a number to int64 when it is an integer that fits,
// else to float64, keeping json.Number only for values beyond float64.
func jsonNumber(n json.Number) any {
	if i, err := n.Int64(); err == nil {
		return i
	}
	if f, err := n.Float64(); err == nil && !math.IsInf(f, 0) {
		return f
	}
	return n
}
