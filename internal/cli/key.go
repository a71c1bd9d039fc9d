package cli

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ossa-platform/ossa/internal/gateway"
	"github.com/ossa-platform/ossa/internal/storage"
)

func newKeyCmd() *cobra.Command {
	opts := &clientOptions{}
	cmd := &cobra.Command{
		Use:   "key",
		Short: "Create, list and revoke API keys (admin)",
		PersistentPreRunE: func(*cobra.Command, []string) error {
			return opts.resolve()
		},
	}
	opts.register(cmd)
	client := func() *gateway.Client {
		return gateway.NewClient(opts.server, opts.httpClient(), opts.apiKey)
	}
	cmd.AddCommand(keyCreateCmd(opts, client), keyListCmd(opts, client), keyRevokeCmd(client))
	return cmd
}

func keyCreateCmd(opts *clientOptions, client func() *gateway.Client) *cobra.Command {
	var req gateway.CreateKeyRequest
	cmd := &cobra.Command{
		Use:   "create --name NAME --role ROLE [--agent AGENT] [--expires-in 720h]",
		Short: "Create an API key and print it, this once",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			created, err := client().CreateKey(cmd.Context(), req)
			if err != nil {
				return apiFailure(cmd, err)
			}
			return opts.print(cmd.OutOrStdout(), created, func(w io.Writer) {
				k := created.Key
				fmt.Fprintf(w, "created API key %s (name %s, role %s", k.ID, k.Name, k.Role)
				if k.Agent != "" {
					fmt.Fprintf(w, ", agent %s", k.Agent)
				}
				if !k.ExpiresAt.IsZero() {
					fmt.Fprintf(w, ", expires %s", k.ExpiresAt.Format(time.RFC3339))
				}
				fmt.Fprintf(w, ")\n\n    %s\n\nStore it now: it is shown only this once.\n", created.Secret)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.Name, "name", "", "what the key is for, e.g. ci")
	f.StringVar(&req.Role, "role", "", "admin, operator, agent or viewer")
	f.StringVar(&req.Agent, "agent", "", "for --role agent: the agent name the key acts for")
	f.StringVar(&req.ExpiresIn, "expires-in", "", "expire the key after this long, e.g. 720h (default: never)")
	_ = cmd.MarkFlagRequired("name")
	_ = cmd.MarkFlagRequired("role")
	return cmd
}

func keyListCmd(opts *clientOptions, client func() *gateway.Client) *cobra.Command {
	var cursor string
	var limit int
	var all bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List API keys (never the keys themselves)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var keys []storage.APIKey
			for {
				page, err := client().ListKeys(cmd.Context(), cursor, limit)
				if err != nil {
					return apiFailure(cmd, err)
				}
				keys = append(keys, page.Keys...)
				if page.NextCursor == "" {
					break
				}
				if !all {
					fmt.Fprintf(cmd.ErrOrStderr(), "more keys: --cursor %s (or --all)\n", page.NextCursor)
					break
				}
				cursor = page.NextCursor
			}
			return opts.print(cmd.OutOrStdout(), keys, func(w io.Writer) { keyTable(w, keys) })
		},
	}
	cmd.Flags().StringVar(&cursor, "cursor", "", "continue from a previous page")
	cmd.Flags().IntVar(&limit, "limit", 0, "page size, 1..500 (default 50)")
	cmd.Flags().BoolVar(&all, "all", false, "fetch every page")
	return cmd
}

func keyRevokeCmd(client func() *gateway.Client) *cobra.Command {
	return &cobra.Command{
		Use:   "revoke ID...",
		Short: "Revoke API keys",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			failed := false
			for _, id := range args {
				if err := client().RevokeKey(cmd.Context(), id); err != nil {
					fmt.Fprintf(cmd.ErrOrStderr(), "%s: %v\n", id, err)
					failed = true
					continue
				}
				fmt.Fprintf(cmd.OutOrStdout(), "revoked %s\n", id)
			}
			if failed {
				return exitError{code: 1}
			}
			return nil
		},
	}
}

func keyTable(w io.Writer, keys []storage.APIKey) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tROLE\tAGENT\tPREFIX\tCREATED\tEXPIRES\tLAST USED\tSTATE")
	now := time.Now()
	for _, k := range keys {
		state := "active"
		switch {
		case !k.RevokedAt.IsZero():
			state = "revoked"
		case !k.Active(now):
			state = "expired"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s…\t%s\t%s\t%s\t%s\n", k.ID, k.Name, k.Role, orNone(k.Agent), k.Prefix,
			k.CreatedAt.Format(time.RFC3339), neverOr(k.ExpiresAt), neverOr(k.LastUsedAt), state)
	}
	_ = tw.Flush()
}

func neverOr(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.Format(time.RFC3339)
}
