package manifest

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDiagnosticString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		d    Diagnostic
		want string
	}{
		{
			name: "schema error",
			d:    Diagnostic{Path: "/spec/class", Line: 12, Column: 5, Message: "value must be one of ...", Severity: SeverityError},
			want: "line 12:5 /spec/class: value must be one of ...",
		},
		{
			name: "rule error",
			d:    Diagnostic{Path: "/spec/protocols", Line: 8, Column: 1, Message: "needs openapi", Rule: "GOV-004", Severity: SeverityError},
			want: "line 8:1 /spec/protocols: needs openapi [GOV-004]",
		},
		{
			name: "warning",
			d:    Diagnostic{Path: "/spec/capabilities", Line: 7, Column: 3, Message: "normalised", Rule: "NORM-001", Severity: SeverityWarning},
			want: "line 7:3 /spec/capabilities: warning: normalised [NORM-001]",
		},
		{
			name: "no position",
			d:    Diagnostic{Path: "/ossa", Message: "required property is missing", Severity: SeverityError},
			want: "/ossa: required property is missing",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, tt.d.String())
		})
	}
}

func TestSyntaxErrorString(t *testing.T) {
	t.Parallel()
	require.Equal(t, "line 3:7: bad", (&SyntaxError{Line: 3, Column: 7, Msg: "bad"}).Error())
	require.Equal(t, "line 3: bad", (&SyntaxError{Line: 3, Msg: "bad"}).Error())
}

func TestSortDiagnostics(t *testing.T) {
	t.Parallel()
	a := Diagnostic{Path: "/b", Line: 2, Message: "x"}
	b := Diagnostic{Path: "/a", Line: 2, Message: "y"}
	c := Diagnostic{Path: "/z", Line: 1, Message: "z"}
	got := sortDiagnostics([]Diagnostic{a, b, c, a})
	require.Equal(t, []Diagnostic{c, b, a}, got)
}
