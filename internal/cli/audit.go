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

func newAuditCmd() *cobra.Command {
	opts := &clientOptions{}
	var q gateway.AuditQuery
	var since, until string
	var all bool
	cmd := &cobra.Command{
		Use:   "audit [--actor key:ID] [--action 'DELETE /api/v1/agents/{id}'] [--target PATH] [--since 24h]",
		Short: "Show the audit log of changes, newest first (admin)",
		Args:  cobra.NoArgs,
		PersistentPreRunE: func(*cobra.Command, []string) error {
			return opts.resolve()
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			now := time.Now()
			if q.Since, err = parseWhen(since, now); err != nil {
				return fmt.Errorf("--since: %w", err)
			}
			if q.Until, err = parseWhen(until, now); err != nil {
				return fmt.Errorf("--until: %w", err)
			}
			client := gateway.NewClient(opts.server, opts.httpClient(), opts.apiKey)
			var events []storage.AuditEvent
			for {
				page, err := client.ListAudit(cmd.Context(), q)
				if err != nil {
					return apiFailure(cmd, err)
				}
				events = append(events, page.Events...)
				if page.NextCursor == "" {
					break
				}
				if !all {
					fmt.Fprintf(cmd.ErrOrStderr(), "more events: --cursor %s (or --all)\n", page.NextCursor)
					break
				}
				q.Cursor = page.NextCursor
			}
			return opts.print(cmd.OutOrStdout(), events, func(w io.Writer) { auditTable(w, events) })
		},
	}
	opts.register(cmd)
	f := cmd.Flags()
	f.StringVar(&q.Actor, "actor", "", "only events by this principal, e.g. key:<id>")
	f.StringVar(&q.Action, "action", "", "only this route, e.g. 'POST /api/v1/agents'")
	f.StringVar(&q.Target, "target", "", "only this request path")
	f.StringVar(&since, "since", "", "only events at or after an RFC 3339 time or a duration ago (24h)")
	f.StringVar(&until, "until", "", "only events before an RFC 3339 time or a duration ago")
	f.StringVar(&q.Cursor, "cursor", "", "continue from a previous page")
	f.IntVar(&q.Limit, "limit", 0, "page size, 1..500 (default 50)")
	f.BoolVar(&all, "all", false, "fetch every page")
	return cmd
}

// parseWhen reads an RFC 3339 time or a duration before now; "" is zero.
func parseWhen(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time nor a duration such as 24h", s)
	}
	return t, nil
}

func auditTable(w io.Writer, events []storage.AuditEvent) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tACTOR\tNAME\tROLE\tACTION\tTARGET\tSTATUS\tREQUEST")
	for _, e := range events {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", e.Time.Format(time.RFC3339), e.Actor, orNone(e.ActorName),
			e.Role, e.Action, e.Target, e.Status, e.RequestID)
	}
	_ = tw.Flush()
}
