package manifest

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzValidate checks that Validate never panics and that its results hold
// their invariants whatever the input. testdata/fuzz/FuzzValidate holds a
// seed corpus that plain `go test` runs; the examples are added as seeds too.
func FuzzValidate(f *testing.F) {
	for _, pattern := range []string{"*.yml", "invalid/*.yml", "invalid/*.json"} {
		files, err := filepath.Glob(filepath.Join(examplesDir, pattern))
		if err != nil {
			f.Fatal(err)
		}
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	f.Add([]byte(minimal))
	f.Add([]byte(governed + advancedExtras))

	f.Fuzz(func(t *testing.T, data []byte) {
		m, res, err := Validate(data)
		if err != nil {
			checkError(t, err)
			if m != nil || res.Valid || len(res.Errors) > 0 {
				t.Fatalf("error %v came with a result: %+v", err, res)
			}
			return
		}
		if res.Valid != (len(res.Errors) == 0) {
			t.Fatalf("Valid=%v with %d errors", res.Valid, len(res.Errors))
		}
		for _, d := range append(res.Errors, res.Warnings...) {
			if d.Path == "" || d.Path[0] != '/' {
				t.Fatalf("diagnostic without a JSON pointer path: %+v", d)
			}
			if d.Line < 1 || d.Message == "" {
				t.Fatalf("diagnostic without position or message: %+v", d)
			}
		}
		if res.TierReached != "" {
			if m == nil {
				t.Fatalf("tier %s reached without a manifest", res.TierReached)
			}
			if _, err := m.JSON(); err != nil {
				t.Fatalf("JSON of a schema-valid manifest: %v", err)
			}
		}
		if res.Valid && res.TierReached.Rank() < max(res.DeclaredTier.Rank(), 1) {
			t.Fatalf("valid but declared %q and reached %q", res.DeclaredTier, res.TierReached)
		}
	})
}

func checkError(t *testing.T, err error) {
	t.Helper()
	if errors.Is(err, ErrTooLarge) {
		return
	}
	var se *SyntaxError
	if !errors.As(err, &se) {
		t.Fatalf("error is neither *SyntaxError nor ErrTooLarge: %T %v", err, err)
	}
	if se.Line < 1 || se.Column < 0 || se.Msg == "" {
		t.Fatalf("syntax error without a position or message: %+v", se)
	}
}
