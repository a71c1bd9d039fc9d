package httpx

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
)

// DecodeJSON reads a JSON request body into v. It insists on a JSON content
// type (415 otherwise), rejects unknown fields and trailing data (400), and maps
// an over-limit body to 413, so every handler fails the same way on bad input.
func DecodeJSON(r *http.Request, v any) error {
	if err := RequireContentType(r, "application/json"); err != nil {
		return err
	}
	body, err := ReadBody(r)
	if err != nil {
		return err
	}
	return UnmarshalStrict(body, v)
}

// UnmarshalStrict decodes one JSON value, rejecting unknown fields and trailing
// data, and reports errors as 400 problems that name the offending field.
func UnmarshalStrict(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(body, err)
	}
	if dec.More() {
		return Errorf(http.StatusBadRequest, "request body must hold a single JSON value")
	}
	return nil
}

// ReadBody reads the whole body, mapping the body-limit error to 413.
func ReadBody(r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, Errorf(http.StatusRequestEntityTooLarge, "request body exceeds the limit of %d bytes", tooLarge.Limit)
		}
		return nil, Errorf(http.StatusBadRequest, "read request body: %v", err)
	}
	return body, nil
}

// RequireContentType returns a 415 problem unless the request's media type is
// one of allowed. A missing Content-Type is treated as the first allowed type so
// that curl -d works without ceremony.
func RequireContentType(r *http.Request, allowed ...string) error {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return Errorf(http.StatusUnsupportedMediaType, "malformed Content-Type %q", ct)
	}
	for _, a := range allowed {
		if mt == a {
			return nil
		}
	}
	return &Error{
		Status:  http.StatusUnsupportedMediaType,
		Detail:  fmt.Sprintf("Content-Type %q is not supported here; use %s", mt, strings.Join(allowed, " or ")),
		Headers: http.Header{"Accept-Post": {strings.Join(allowed, ", ")}},
	}
}

func jsonError(body []byte, err error) error {
	var syntax *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF):
		return Errorf(http.StatusBadRequest, "request body is empty; a JSON object is required")
	case errors.As(err, &syntax):
		// Offset counts the offending byte itself; point at it.
		line, col := lineCol(body, max(syntax.Offset-1, 0))
		return Errorf(http.StatusBadRequest, "malformed JSON at line %d:%d: %v", line, col, syntax)
	case errors.As(err, &typeErr):
		return Errorf(http.StatusBadRequest, "field %q must be %s, got JSON %s", typeErr.Field, typeErr.Type, typeErr.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return Errorf(http.StatusBadRequest, "unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
	default:
		return Errorf(http.StatusBadRequest, "malformed JSON: %v", err)
	}
}

func lineCol(body []byte, offset int64) (line, col int) {
	if offset > int64(len(body)) {
		offset = int64(len(body))
	}
	prefix := body[:offset]
	line = bytes.Count(prefix, []byte("\n")) + 1
	col = int(offset) - bytes.LastIndexByte(prefix, '\n')
	return line, col
}
