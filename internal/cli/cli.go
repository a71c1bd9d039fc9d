// Package cli is the ossa command tree. Each subcommand is a thin layer over
// internal/app (serve, migrate), internal/manifest (validate) or the typed
// service clients (agent, …), so tests and the CLI exercise the same code.
package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// Version is set at build time with -ldflags "-X .../internal/cli.Version=…".
var Version = "dev"

// exitError carries a specific exit status without printing anything more;
// the command has already told the user what went wrong.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// Main runs the CLI with args and returns the process exit status.
func Main(args []string, stdout, stderr io.Writer) int {
	root := newRootCmd(stdout, stderr)
	root.SetArgs(args)
	if err := root.Execute(); err != nil {
		var ee exitError
		if errors.As(err, &ee) {
			return ee.code
		}
		fmt.Fprintln(stderr, "Error:", err)
		return 1
	}
	return 0
}

func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "ossa",
		Short: "The OSSA v0.1.8 agent platform",
		Long: `ossa runs the Open Standards for Scalable Agents platform and talks to it.

  ossa serve                      run every service in one process (SQLite under ./data)
  ossa serve --target=discovery   run one service against PostgreSQL
  ossa validate agent.yml         check OSSA manifests and their conformance tier
  ossa agent list                 list registered agents
  ossa task submit --capability summarization --input @doc.json --wait`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(
		newServeCmd(),
		newMigrateCmd(),
		newValidateCmd(),
		newAgentCmd(),
		newTaskCmd(),
		newKeyCmd(),
		newAuditCmd(),
		newConfigCmd(),
		newVersionCmd(),
	)
	return root
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the ossa version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			goVersion := "unknown"
			if bi, ok := debug.ReadBuildInfo(); ok {
				goVersion = bi.GoVersion
			}
			fmt.Fprintf(cmd.OutOrStdout(), "ossa %s (OSSA manifest 0.1.8, %s)\n", Version, goVersion)
			return nil
		},
	}
}

// isTerminal reports whether f is a character device, for choosing log and
// output formats without a dependency.
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
