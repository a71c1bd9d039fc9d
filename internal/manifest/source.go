package manifest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxValues caps the values one document may expand to. A manifest has a few
// hundred; the cap stops YAML alias bombs ("billion laughs") and
// self-referencing aliases long before they exhaust memory.
const maxValues = 100_000

// position is a 1-based line and column in the source.
type position struct {
	line, col int
}

// positions maps each JSON pointer in a document to the source position of
// its value. For a mapping or sequence that is the value of a key, the
// position is the key's: that is the line people look for.
type positions map[string]position

// locate returns the position of path or, when path is absent from the
// source (a missing required property, a normalised value), of its nearest
// existing ancestor.
func (p positions) locate(path string) position {
	for {
		if at, ok := p[path]; ok {
			return at
		}
		i := strings.LastIndexByte(path, '/')
		if i < 0 {
			return p[""]
		}
		path = path[:i]
	}
}

// document is a parsed manifest: a JSON-compatible value tree and the source
// position of every value in it.
type document struct {
	root map[string]any
	pos  positions
}

// parseDocument reads one manifest document from YAML or JSON. Input that
// looks like JSON and is valid JSON goes through encoding/json, because a few
// valid JSON strings (escaped "\/", surrogate pairs) are not valid YAML; all
// else goes through the YAML parser, which also accepts JSON.
func parseDocument(data []byte) (*document, error) {
	lines := newLineIndex(data)
	if err := checkText(data, lines); err != nil {
		return nil, err
	}
	if !looksLikeJSON(data) {
		return parseYAML(data, lines)
	}
	if json.Valid(data) {
		return parseJSON(data, lines)
	}
	doc, yerr := parseYAML(data, lines)
	if yerr == nil {
		return doc, nil
	}
	// Neither JSON nor YAML: report it as the JSON it looks like, with
	// encoding/json's exact position rather than the YAML parser's view.
	if jerr := jsonSyntaxError(data, lines); jerr != nil {
		return nil, jerr
	}
	return nil, yerr
}

// looksLikeJSON reports whether the first significant byte opens a JSON
// object or array.
func looksLikeJSON(data []byte) bool {
	data = bytes.TrimPrefix(data, []byte("\uFEFF"))
	data = bytes.TrimLeft(data, " \t\r\n")
	return len(data) > 0 && (data[0] == '{' || data[0] == '[')
}

// checkText rejects bytes that are not UTF-8 text. The YAML parser reports
// these without a position, so find it here.
func checkText(data []byte, lines lineIndex) error {
	for off := 0; off < len(data); {
		r, size := utf8.DecodeRune(data[off:])
		switch {
		case r == utf8.RuneError && size <= 1:
			return lines.errorAt(off, "invalid UTF-8 byte 0x%02x", data[off])
		case !allowedRune(r):
			return lines.errorAt(off, "control character %U is not allowed", r)
		}
		off += size
	}
	return nil
}

// allowedRune is YAML 1.2's printable set (c-printable), which also covers
// every character JSON permits outside strings.
func allowedRune(r rune) bool {
	switch {
	case r == '\t' || r == '\n' || r == '\r':
		return true
	case r < 0x20 || r == 0x7F:
		return false
	case r >= 0x80 && r <= 0x9F:
		return r == 0x85
	case r >= 0xD800 && r <= 0xDFFF, r == 0xFFFE, r == 0xFFFF:
		return false
	}
	return true
}

// lineIndex converts byte offsets into line and column positions.
type lineIndex struct {
	data   []byte
	starts []int // byte offset at which each line starts
}

func newLineIndex(data []byte) lineIndex {
	starts := make([]int, 1, 64)
	for i, b := range data {
		if b == '\n' {
			starts = append(starts, i+1)
		}
	}
	return lineIndex{data: data, starts: starts}
}

// at returns the position of byte offset off. Columns count characters, as
// the YAML parser's do.
func (li lineIndex) at(off int) position {
	off = min(max(off, 0), len(li.data))
	line := sort.Search(len(li.starts), func(i int) bool { return li.starts[i] > off }) - 1
	start := li.starts[line]
	return position{line: line + 1, col: utf8.RuneCount(li.data[start:off]) + 1}
}

func (li lineIndex) errorAt(off int, format string, args ...any) *SyntaxError {
	at := li.at(off)
	return &SyntaxError{Line: at.line, Column: at.col, Msg: fmt.Sprintf(format, args...)}
}

// escapePointer escapes one JSON pointer reference token (RFC 6901).
func escapePointer(tok string) string {
	if !strings.ContainsAny(tok, "~/") {
		return tok
	}
	return strings.ReplaceAll(strings.ReplaceAll(tok, "~", "~0"), "/", "~1")
}

// childPath appends a key to a JSON pointer.
func childPath(path, key string) string {
	return path + "/" + escapePointer(key)
}

// indexPath appends an array index to a JSON pointer.
func indexPath(path string, i int) string {
	return path + "/" + strconv.Itoa(i)
}

// kindName names a decoded value's JSON type for messages.
func kindName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "a mapping"
	case []any:
		return "a list"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	default:
		return "a number"
	}
}
