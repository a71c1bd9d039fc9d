package a2a

import (
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSSEReader(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"LF", "data: a\n\ndata: b\n\n", []string{"a", "b"}},
		{"CRLF", "data: a\r\n\r\ndata: b\r\n\r\n", []string{"a", "b"}},
		{"CR", "data: a\r\rdata: b\r\r\n", []string{"a", "b"}},
		{"mixed", "data: a\r\n\ndata: b\r\r\n", []string{"a", "b"}},
		{"multi-line data", "data: a\ndata: b\n\n", []string{"a\nb"}},
		{"comments and fields", ": ping\n\nevent: x\nid: 1\nretry: 5\ndata:a\n\n", []string{"a"}},
		{"no trailing blank line", "data: a", []string{"a"}},
		{"empty", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newSSEReader(strings.NewReader(tt.in))
			var got []string
			for {
				data, err := r.next()
				if errors.Is(err, io.EOF) {
					break
				}
				require.NoError(t, err)
				got = append(got, string(data))
			}
			require.Equal(t, tt.want, got)
		})
	}
}

func TestSSEReaderBoundsEvents(t *testing.T) {
	t.Parallel()
	r := newSSEReader(strings.NewReader("data: " + strings.Repeat("x", maxEventSize+1) + "\n\n"))
	_, err := r.next()
	require.ErrorContains(t, err, "exceeds")
}

// FuzzParseCall checks that no request body panics the envelope parser and
// that accepted calls have a method and a valid id.
func FuzzParseCall(f *testing.F) {
	for _, seed := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"GetTask","params":{"id":"x"}}`,
		`[{"jsonrpc":"2.0"}]`, `{"id":null}`, `"x"`, ``, `{"jsonrpc":"2.0","id":"a","method":"m","params":[]}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		c, id, err := parseCall(body)
		require.True(t, json.Valid(id), "id %q", id)
		if err == nil {
			require.NotEmpty(t, c.method)
			require.True(t, validID(c.id))
		}
	})
}

// FuzzStreamEvent checks that decoding any input never panics and that
// what decodes re-encodes.
func FuzzStreamEvent(f *testing.F) {
	for _, seed := range []string{
		`{"task":{"id":"t","status":{"state":"TASK_STATE_WORKING"},"artifacts":[{"artifactId":"a","parts":[{"raw":"AA=="}]}]}}`,
		`{"kind":"message","messageId":"m","role":"agent","parts":[{"kind":"file","file":{"uri":"u"}}]}`,
		`{"statusUpdate":null}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var ev StreamEvent
		if json.Unmarshal(data, &ev) != nil {
			return
		}
		_, err := json.Marshal(ev)
		require.NoError(t, err)
	})
}
