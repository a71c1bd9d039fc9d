package cli

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/ossa-platform/ossa/internal/app"
	"github.com/ossa-platform/ossa/internal/config"
	"github.com/ossa-platform/ossa/internal/taskagent"
)

func newMigrateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Manage the database schema",
	}
	var databaseURL string
	var timeout time.Duration
	up := &cobra.Command{
		Use:   "up",
		Short: "Apply every migration not yet applied (safe to run concurrently)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("database-url") {
				if env := os.Getenv(config.EnvName("database-url")); env != "" {
					databaseURL = env
				}
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			st, err := app.OpenStore(ctx, databaseURL)
			if err != nil {
				return fmt.Errorf("open database %s: %w", config.RedactURL(databaseURL), err)
			}
			defer st.Close()
			if err := st.Migrate(ctx); err != nil {
				return fmt.Errorf("migrate %s: %w", config.RedactURL(databaseURL), err)
			}
			// The task queue's tables are River's, migrated by River.
			if err := taskagent.Migrate(ctx, st, nil); err != nil {
				return fmt.Errorf("migrate %s: %w", config.RedactURL(databaseURL), err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "database %s is up to date\n", config.RedactURL(databaseURL))
			return nil
		},
	}
	up.Flags().StringVar(&databaseURL, "database-url", "data/ossa.db", "postgres:// URL or SQLite file path (env OSSA_DATABASE_URL)")
	up.Flags().DurationVar(&timeout, "timeout", 5*time.Minute, "give up after this long")
	cmd.AddCommand(up)
	return cmd
}
