package discovery

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ossa-platform/ossa/internal/manifest"
)

func TestDefaultProtocol(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		protocols []string
		want      string
	}{
		{nil, ProtocolHTTP},
		{[]string{"openapi"}, ProtocolHTTP},
		{[]string{"mcp"}, ProtocolMCP},
		{[]string{"mcp", "uadp"}, ProtocolMCP},
		{[]string{"openapi", "mcp"}, ProtocolHTTP},
		{[]string{"http", "mcp"}, ProtocolHTTP},
		{[]string{"mcp", "a2a", "openapi"}, ProtocolA2A},
	} {
		m, res, err := manifest.Validate([]byte(spec{name: "p", protocols: tc.protocols}.yaml()))
		require.NoError(t, err)
		require.True(t, res.Valid, res.Errors)
		require.Equal(t, tc.want, defaultProtocol(m), "%v", tc.protocols)
	}
}

func TestTagsMergeUADPTags(t *testing.T) {
	t.Parallel()
	doc := spec{name: "tags", tags: []string{"a", "b", "a"}}.yaml() +
		"  discovery:\n    uadp: {enabled: true, tags: [b, c]}\n"
	m, res, err := manifest.Validate([]byte(doc))
	require.NoError(t, err)
	require.True(t, res.Valid, res.Errors)
	require.Equal(t, []string{"a", "b", "c"}, tagsOf(m))
}
