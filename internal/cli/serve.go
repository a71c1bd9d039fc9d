package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ossa-platform/ossa/internal/app"
	"github.com/ossa-platform/ossa/internal/config"
)

type serveOptions struct {
	cfg          config.Config
	configFile   string
	listTargets  bool
	printConfig  bool
	verifyConfig bool
}

func newServeCmd() *cobra.Command {
	opts := &serveOptions{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run ossa services (all of them by default)",
		Long: `Run ossa services. With no flags every service runs in one process on :3000 with
an embedded SQLite store under ./data. --target picks services, as each Helm
Deployment does. Every flag can also be set in the --config YAML file or as an
OSSA_* environment variable (--database-url is OSSA_DATABASE_URL); flags win
over the environment, which wins over the file.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runServe(cmd, opts)
		},
	}
	fs := cmd.Flags()
	opts.cfg.RegisterFlags(fs)
	fs.StringVarP(&opts.configFile, "config", "c", "", "YAML configuration file (env OSSA_CONFIG)")
	fs.BoolVar(&opts.listTargets, "list-targets", false, "print the targets and the modules they need, then exit")
	fs.BoolVar(&opts.printConfig, "print-config", false, "print the effective configuration as YAML, then exit")
	fs.BoolVar(&opts.verifyConfig, "verify-config", false, "validate the configuration, then exit")
	return cmd
}

func runServe(cmd *cobra.Command, opts *serveOptions) error {
	out := cmd.OutOrStdout()
	if opts.listTargets {
		fmt.Fprint(out, app.ListTargets())
		return nil
	}
	if err := loadConfig(cmd.Flags(), &opts.cfg, opts.configFile); err != nil {
		return err
	}
	switch {
	case opts.printConfig:
		y, err := opts.cfg.YAML()
		if err != nil {
			return err
		}
		_, err = out.Write(y)
		return err
	case opts.verifyConfig:
		fmt.Fprintln(out, "configuration is valid")
		return nil
	}

	log := newLogger(opts.cfg.Log, cmd.ErrOrStderr())
	slog.SetDefault(log)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	a, err := app.New(ctx, opts.cfg, log, app.WithOutput(cmd.OutOrStdout()))
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", a.Addr())
	if err != nil {
		return fmt.Errorf("listen on %s: %w", a.Addr(), err)
	}
	return a.Run(ctx, ln)
}

// loadConfig layers the file and environment under the parsed flags and
// validates the result.
func loadConfig(fs *pflag.FlagSet, cfg *config.Config, file string) error {
	if file == "" {
		file = os.Getenv("OSSA_CONFIG")
	}
	if err := cfg.Load(fs, file, os.Environ()); err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("invalid configuration:\n  %s", strings.ReplaceAll(err.Error(), "\n", "\n  "))
	}
	return nil
}

func newLogger(cfg config.LogConfig, w io.Writer) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.Level)); err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	format := cfg.Format
	if format == "auto" {
		format = "json"
		if f, ok := w.(*os.File); ok && isTerminal(f) {
			format = "text"
		}
	}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}
