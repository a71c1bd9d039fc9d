package manifest

import (
	"math/big"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"github.com/stretchr/testify/require"
)

func TestDescribe(t *testing.T) {
	t.Parallel()
	tests := []struct {
		kind jsonschema.ErrorKind
		want string
	}{
		{&kind.Type{Got: "array", Want: []string{"object"}}, "must be a mapping, got a list"},
		{&kind.Type{Got: "number", Want: []string{"integer", "null"}}, "must be an integer or null, got a number"},
		{&kind.Enum{Got: true, Want: []any{"a", "b"}}, `value must be one of "a", "b" (got true)`},
		{&kind.Const{Got: nil, Want: "0.1.8"}, `value must be "0.1.8" (got null)`},
		{&kind.Format{Got: "x", Want: "date"}, `"x" is not a date (YYYY-MM-DD)`},
		{&kind.Format{Got: "x", Want: "email"}, `"x" is not a valid email`},
		{&kind.Pattern{Got: "x", Want: "^y$"}, `"x" does not match ^y$`},
		{&kind.MaxItems{Got: 11, Want: 10}, "must have at most 10 items (got 11)"},
		{&kind.MinLength{Got: 0, Want: 1}, "must be at least 1 character long (got 0)"},
		{&kind.Minimum{Got: big.NewRat(1, 2), Want: big.NewRat(1, 1)}, "must be at least 1 (got 0.5)"},
		{&kind.UniqueItems{Duplicates: [2]int{0, 1}}, "items at 0 and 1 are equal"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, describe(tt.kind))
	}
}
