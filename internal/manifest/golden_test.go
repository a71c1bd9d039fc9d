package manifest

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the .golden files under examples/agents/invalid")

const examplesDir = "../../examples/agents"

// render is what the golden files hold: the syntax error, or one
// Diagnostic.String() per line, errors then warnings.
func render(data []byte) string {
	_, res, err := Validate(data)
	if err != nil {
		return err.Error() + "\n"
	}
	var b strings.Builder
	for _, d := range append(res.Errors, res.Warnings...) {
		b.WriteString(d.String())
		b.WriteByte('\n')
	}
	return b.String()
}

func TestInvalidExamplesGolden(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join(examplesDir, "invalid", "*"))
	require.NoError(t, err)
	var inputs []string
	for _, f := range files {
		if ext := filepath.Ext(f); ext == ".yml" || ext == ".json" {
			inputs = append(inputs, f)
		}
	}
	require.NotEmpty(t, inputs)

	for _, in := range inputs {
		t.Run(filepath.Base(in), func(t *testing.T) {
			t.Parallel()
			data, err := os.ReadFile(in)
			require.NoError(t, err)

			_, res, verr := Validate(data)
			require.True(t, verr != nil || !res.Valid, "examples under invalid/ must not validate")

			got := render(data)
			golden := strings.TrimSuffix(in, filepath.Ext(in)) + ".golden"
			if *update {
				require.NoError(t, os.WriteFile(golden, []byte(got), 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err, "run: go test ./internal/manifest -update")
			require.Equal(t, string(want), got)
		})
	}
}

func TestValidExamples(t *testing.T) {
	t.Parallel()
	// The tier each example reaches, which may be above the one it declares.
	reaches := map[string]Tier{
		"minimal-core.yml":             TierCore,
		"echo.yml":                     TierCore,
		"text-stats.yml":               TierGoverned,
		"invoice-auditor-governed.yml": TierGoverned,
		"compliance-advanced.yml":      TierAdvanced,
		"legacy-body.yml":              TierCore,
		"llm.yml":                      TierCore,
	}
	files, err := filepath.Glob(filepath.Join(examplesDir, "*.yml"))
	require.NoError(t, err)
	require.Len(t, files, len(reaches), "add new examples to the table")

	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			t.Parallel()
			data, err := os.ReadFile(f)
			require.NoError(t, err)

			m, res, err := Validate(data)
			require.NoError(t, err)
			require.True(t, res.Valid, "errors: %v", res.Errors)
			require.NotNil(t, m)
			require.NotEmpty(t, res.DeclaredTier)
			require.GreaterOrEqual(t, res.TierReached.Rank(), res.DeclaredTier.Rank(),
				"declared %s, reached %q", res.DeclaredTier, res.TierReached)
			require.Equal(t, reaches[filepath.Base(f)], res.TierReached)
			if filepath.Base(f) == "legacy-body.yml" {
				require.Len(t, res.Warnings, 2, "the older body is normalised with warnings")
			} else {
				require.Empty(t, res.Warnings)
			}
		})
	}
}
