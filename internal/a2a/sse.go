package a2a

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// Server-Sent Events, as far as A2A uses them: every event is one "data"
// field holding a JSON-RPC response; comments keep idle connections alive.

// sseWriter writes events to a response, flushing each one.
type sseWriter struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

func newSSEWriter(w http.ResponseWriter) *sseWriter {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	// Proxies such as nginx buffer responses unless told not to, which
	// would hold events back until the stream ends.
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	s := &sseWriter{w: w, rc: http.NewResponseController(w)}
	_ = s.rc.Flush()
	return s
}

// data writes one event. JSON from encoding/json has no newlines, so one
// data line holds it.
func (s *sseWriter) data(payload []byte) error {
	if bytes.ContainsAny(payload, "\r\n") {
		return errors.New("sse: event data contains a newline")
	}
	if _, err := fmt.Fprintf(s.w, "data: %s\n\n", payload); err != nil {
		return err
	}
	return s.rc.Flush()
}

// keepAlive writes a comment, which clients ignore.
func (s *sseWriter) keepAlive() error {
	if _, err := io.WriteString(s.w, ": keep-alive\n\n"); err != nil {
		return err
	}
	return s.rc.Flush()
}

// maxEventSize bounds one event, so that a peer cannot make a reader buffer
// without limit.
const maxEventSize = 8 << 20

// sseReader reads the data of events from a stream.
type sseReader struct {
	r       *bufio.Reader
	pending [][]byte // lines split off a chunk that held bare CRs
}

func newSSEReader(r io.Reader) *sseReader {
	return &sseReader{r: bufio.NewReaderSize(r, 64<<10)}
}

// next returns the data of the next event that has any, joining multi-line
// data with newlines; io.EOF at the end of the stream.
func (s *sseReader) next() ([]byte, error) {
	var data []byte
	hasData := false
	for {
		line, err := s.readLine()
		if err != nil {
			if errors.Is(err, io.EOF) && hasData {
				return data, nil
			}
			return nil, err
		}
		if len(line) == 0 {
			if hasData {
				return data, nil
			}
			continue
		}
		field, value, _ := bytes.Cut(line, []byte(":"))
		if len(field) == 0 {
			continue // a comment
		}
		if string(field) != "data" {
			continue // event, id and retry fields mean nothing to A2A
		}
		if hasData {
			data = append(data, '\n')
		}
		data = append(data, bytes.TrimPrefix(value, []byte(" "))...)
		hasData = true
		if len(data) > maxEventSize {
			return nil, fmt.Errorf("sse: event exceeds %d bytes", maxEventSize)
		}
	}
}

// readLine returns the next line without its terminator. SSE ends lines
// with LF, CRLF or a bare CR; a bare CR is only seen once the LF after it
// (or the end of the stream) arrives.
func (s *sseReader) readLine() ([]byte, error) {
	if len(s.pending) > 0 {
		line := s.pending[0]
		s.pending = s.pending[1:]
		return line, nil
	}
	var chunk []byte
	for {
		part, err := s.r.ReadSlice('\n')
		chunk = append(chunk, part...)
		if len(chunk) > maxEventSize {
			return nil, fmt.Errorf("sse: line exceeds %d bytes", maxEventSize)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil && (len(chunk) == 0 || !errors.Is(err, io.EOF)) {
			return nil, err
		}
		break
	}
	chunk = bytes.TrimSuffix(chunk, []byte("\n"))
	lines := bytes.Split(chunk, []byte("\r"))
	if len(lines) > 1 && len(lines[len(lines)-1]) == 0 {
		lines = lines[:len(lines)-1] // the CR of a CRLF
	}
	s.pending = lines[1:]
	return lines[0], nil
}
