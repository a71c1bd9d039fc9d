package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/ossa-platform/ossa/internal/manifest"
)

// fileResult is the outcome of validating one file, as --output json prints it.
type fileResult struct {
	File string `json:"file"`
	manifest.Result
	// SyntaxError is set when the file is not well-formed YAML or JSON.
	SyntaxError *manifest.SyntaxError `json:"syntax_error,omitempty"`
	// ReadError is set when the file could not be read.
	ReadError string `json:"read_error,omitempty"`
}

func newValidateCmd() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "validate FILE...",
		Short: "Validate OSSA 0.1.8 agent manifests and report the conformance tier reached",
		Long: `Validate OSSA 0.1.8 agent manifests (YAML or JSON). For each file it prints
valid or invalid, the conformance tier the manifest reaches, and every error
with its JSON path and line:column. Exit status 1 if any file is invalid.
Globs are expanded, so quoting 'examples/agents/*.yml' works too.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "text" && output != "json" {
				return fmt.Errorf("--output %q: must be text or json", output)
			}
			files, err := expandGlobs(args)
			if err != nil {
				return err
			}
			results := make([]fileResult, 0, len(files))
			allValid := true
			for _, f := range files {
				r := validateFile(f)
				allValid = allValid && r.Valid
				results = append(results, r)
			}
			out := cmd.OutOrStdout()
			if output == "json" {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				if err := enc.Encode(results); err != nil {
					return err
				}
			} else {
				for _, r := range results {
					printResult(out, r)
				}
			}
			if !allValid {
				return exitError{code: 1}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}

func expandGlobs(args []string) ([]string, error) {
	var files []string
	for _, a := range args {
		matches, err := filepath.Glob(a)
		if err != nil {
			return nil, fmt.Errorf("bad pattern %q: %w", a, err)
		}
		if len(matches) == 0 {
			// Keep the literal name so the user sees "no such file" for it.
			matches = []string{a}
		}
		files = append(files, matches...)
	}
	return files, nil
}

func validateFile(path string) fileResult {
	r := fileResult{File: path}
	data, err := os.ReadFile(path)
	if err != nil {
		r.ReadError = err.Error()
		return r
	}
	_, res, err := manifest.Validate(data)
	var se *manifest.SyntaxError
	switch {
	case errors.As(err, &se):
		r.SyntaxError = se
	case err != nil:
		r.ReadError = err.Error()
	default:
		r.Result = res
	}
	return r
}

func printResult(w io.Writer, r fileResult) {
	switch {
	case r.ReadError != "":
		fmt.Fprintf(w, "%s: invalid\n  %s\n", r.File, r.ReadError)
		return
	case r.SyntaxError != nil:
		fmt.Fprintf(w, "%s: invalid (not well-formed)\n  %s\n", r.File, r.SyntaxError.Error())
		return
	}
	reached := string(r.TierReached)
	if reached == "" {
		reached = "none"
	}
	verdict := "valid"
	if !r.Valid {
		verdict = "invalid"
	}
	fmt.Fprintf(w, "%s: %s (declared tier %s, tier reached %s)\n", r.File, verdict, orNone(string(r.DeclaredTier)), reached)
	for _, d := range r.Errors {
		fmt.Fprintf(w, "  %s\n", d.String())
	}
	for _, d := range r.Warnings {
		fmt.Fprintf(w, "  %s\n", d.String())
	}
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
