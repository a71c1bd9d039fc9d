package sqlval

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestValues(t *testing.T) {
	t.Parallel()
	v, err := OptionalJSON(nil, "input")
	require.NoError(t, err)
	require.Nil(t, v)
	v, err = OptionalJSON(json.RawMessage(`{"a":1}`), "input")
	require.NoError(t, err)
	require.Equal(t, `{"a":1}`, v)
	_, err = OptionalJSON(json.RawMessage(`{"a":`), "input")
	require.EqualError(t, err, "input is not valid JSON")

	require.Nil(t, NullIfEmpty(""))
	require.Equal(t, "x", NullIfEmpty("x"))
	require.Nil(t, NullIfZero(0))
	require.Equal(t, int64(7), NullIfZero(7))
}
