package cli

import (
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ossa-platform/ossa/internal/discovery"
	"github.com/ossa-platform/ossa/internal/manifest"
	"github.com/ossa-platform/ossa/internal/storage"
)

func newAgentCmd() *cobra.Command {
	opts := &clientOptions{}
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Register, list, inspect, remove and find agents",
		PersistentPreRunE: func(*cobra.Command, []string) error {
			return opts.resolve()
		},
	}
	opts.register(cmd)
	client := func() *discovery.Client {
		return discovery.NewClient(opts.server, opts.httpClient(), opts.apiKey)
	}
	cmd.AddCommand(
		agentRegisterCmd(opts, client),
		agentListCmd(opts, client),
		agentGetCmd(opts, client),
		agentRemoveCmd(client),
		agentFindCmd(opts, client),
		agentHeartbeatCmd(opts, client),
	)
	return cmd
}

func agentRegisterCmd(opts *clientOptions, client func() *discovery.Client) *cobra.Command {
	var file, endpoint, protocol, update string
	cmd := &cobra.Command{
		Use:   "register -f agent.yml [--endpoint URL]",
		Short: "Register an agent from its OSSA manifest (or update one with --update ID)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			data, err := readManifestArg(file)
			if err != nil {
				return err
			}
			var reg *discovery.Registration
			if update != "" {
				reg, err = client().Update(cmd.Context(), update, data, endpoint, protocol)
			} else {
				reg, err = client().Register(cmd.Context(), data, endpoint, protocol)
			}
			if err != nil {
				return apiFailure(cmd, err)
			}
			return opts.print(cmd.OutOrStdout(), reg, func(w io.Writer) {
				verb := "registered"
				if update != "" {
					verb = "updated"
				}
				fmt.Fprintf(w, "%s %s@%s as %s (tier %s, protocol %s)\n", verb, reg.Agent.Name, reg.Agent.Version, reg.Agent.ID, reg.Agent.TierReached, reg.Agent.Protocol)
				for _, d := range reg.Warnings {
					fmt.Fprintf(w, "  %s\n", d.String())
				}
			})
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "manifest file (YAML or JSON); - reads standard input")
	cmd.Flags().StringVar(&endpoint, "endpoint", "", "the agent's base URL (omit for pull-mode agents)")
	cmd.Flags().StringVar(&protocol, "protocol", "", "http, a2a or mcp (default: from the manifest)")
	cmd.Flags().StringVar(&update, "update", "", "replace the registration of this agent ID instead of creating one")
	_ = cmd.MarkFlagRequired("file")
	return cmd
}

func readManifestArg(file string) ([]byte, error) {
	if file == "-" {
		return io.ReadAll(io.LimitReader(os.Stdin, manifest.MaxSize+1))
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	return data, nil
}

func agentListCmd(opts *clientOptions, client func() *discovery.Client) *cobra.Command {
	var lo discovery.ListOptions
	var tier string
	var health []string
	var all bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List registered agents",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			lo.MinTier = manifest.Tier(tier)
			for _, h := range health {
				lo.Health = append(lo.Health, storage.Health(h))
			}
			var agents []storage.Agent
			for {
				page, err := client().List(cmd.Context(), lo)
				if err != nil {
					return apiFailure(cmd, err)
				}
				agents = append(agents, page.Agents...)
				if !all || page.NextCursor == "" {
					if !all && page.NextCursor != "" {
						fmt.Fprintf(cmd.ErrOrStderr(), "more agents: --cursor %s (or --all)\n", page.NextCursor)
					}
					break
				}
				lo.Cursor = page.NextCursor
			}
			return opts.print(cmd.OutOrStdout(), agents, func(w io.Writer) { agentTable(w, agents, nil) })
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&lo.Capabilities, "capability", nil, "only agents with every listed capability")
	f.StringSliceVar(&lo.Tags, "tag", nil, "only agents with every listed tag")
	f.StringVar(&tier, "tier", "", "only agents whose verified tier is at least core, governed or advanced")
	f.StringVar(&lo.Class, "class", "", "only agents of this class")
	f.StringSliceVar(&health, "health", nil, "only agents in one of these health states")
	f.StringVar(&lo.Name, "name", "", "only agents with this name")
	f.StringVar(&lo.Cursor, "cursor", "", "continue from a previous page")
	f.IntVar(&lo.Limit, "limit", 0, "page size, 1..500 (default 50)")
	f.BoolVar(&all, "all", false, "fetch every page")
	return cmd
}

func agentGetCmd(opts *clientOptions, client func() *discovery.Client) *cobra.Command {
	return &cobra.Command{
		Use:   "get ID",
		Short: "Show one agent",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := client().Get(cmd.Context(), args[0])
			if err != nil {
				return apiFailure(cmd, err)
			}
			return opts.print(cmd.OutOrStdout(), a, func(w io.Writer) { agentDetail(w, a) })
		},
	}
}

func agentRemoveCmd(client func() *discovery.Client) *cobra.Command {
	return &cobra.Command{
		Use:     "rm ID...",
		Aliases: []string{"remove", "delete"},
		Short:   "Deregister agents",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			failed := false
			for _, id := range args {
				if err := client().Delete(cmd.Context(), id); err != nil {
					fmt.Fprintf(cmd.ErrOrStderr(), "%s: %v\n", id, err)
					failed = true
					continue
				}
				fmt.Fprintf(cmd.OutOrStdout(), "removed %s\n", id)
			}
			if failed {
				return exitError{code: 1}
			}
			return nil
		},
	}
}

func agentFindCmd(opts *clientOptions, client func() *discovery.Client) *cobra.Command {
	var q discovery.DiscoverQuery
	var tier string
	cmd := &cobra.Command{
		Use:   "find CAPABILITY...",
		Short: "Find the best agents offering every given capability, ranked",
		Args:  cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			q.Capabilities = args
			q.MinTier = manifest.Tier(tier)
			res, err := client().Discover(cmd.Context(), q)
			if err != nil {
				return apiFailure(cmd, err)
			}
			return opts.print(cmd.OutOrStdout(), res, func(w io.Writer) {
				agents := make([]storage.Agent, len(res.Agents))
				scores := make([]float64, len(res.Agents))
				for i, r := range res.Agents {
					agents[i], scores[i] = r.Agent, r.Score
				}
				agentTable(w, agents, scores)
				if len(agents) == 0 {
					fmt.Fprintf(w, "no healthy agent offers %s\n", strings.Join(args, ", "))
				}
			})
		},
	}
	cmd.Flags().StringVar(&tier, "tier", "", "minimum verified tier")
	cmd.Flags().StringSliceVar(&q.Tags, "tag", nil, "required tags")
	cmd.Flags().IntVar(&q.Limit, "limit", 10, "how many agents")
	cmd.Flags().BoolVar(&q.IncludeUnhealthy, "include-unhealthy", false, "also list unhealthy and unknown agents, ranked last")
	return cmd
}

func agentHeartbeatCmd(opts *clientOptions, client func() *discovery.Client) *cobra.Command {
	var status string
	cmd := &cobra.Command{
		Use:   "heartbeat ID",
		Short: "Send a heartbeat for an agent",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := client().Heartbeat(cmd.Context(), args[0], discovery.Heartbeat{Status: storage.Health(status)})
			if err != nil {
				return apiFailure(cmd, err)
			}
			return opts.print(cmd.OutOrStdout(), st, func(w io.Writer) {
				fmt.Fprintf(w, "%s is %s\n", args[0], st.Health)
			})
		},
	}
	cmd.Flags().StringVar(&status, "status", "", "healthy (default) or degraded")
	return cmd
}

func agentTable(w io.Writer, agents []storage.Agent, scores []float64) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	header := "ID\tNAME\tVERSION\tTIER\tPROTOCOL\tHEALTH\tCAPABILITIES"
	if scores != nil {
		header += "\tSCORE"
	}
	fmt.Fprintln(tw, header)
	for i, a := range agents {
		line := fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s\t%s", a.ID, a.Name, a.Version, a.TierReached, a.Protocol, a.Status.Health, strings.Join(a.Capabilities, ","))
		if scores != nil {
			line += fmt.Sprintf("\t%.3f", scores[i])
		}
		fmt.Fprintln(tw, line)
	}
	_ = tw.Flush()
}

func agentDetail(w io.Writer, a *storage.Agent) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s:\t%s\n", k, v) }
	row("ID", a.ID)
	row("Name", a.Name+"@"+a.Version)
	row("Tier", fmt.Sprintf("%s (declared %s)", a.TierReached, a.Tier))
	row("Class", a.Class)
	row("Capabilities", strings.Join(a.Capabilities, ", "))
	row("Tags", strings.Join(a.Tags, ", "))
	row("Protocol", a.Protocol)
	row("Endpoint", orNone(a.Endpoint))
	row("Health", string(a.Status.Health)+reasonSuffix(a.Status.Reason))
	row("Last heartbeat", when(a.Status.LastHeartbeatAt))
	row("Last probe", when(a.Status.LastProbeAt))
	row("Probes ok", fmt.Sprintf("%d/%d", a.Status.ProbesOK, a.Status.ProbesTotal))
	row("Latency", fmt.Sprintf("%.1f ms", a.Status.LatencyMS))
	row("Uptime", fmt.Sprintf("%.2f%%", a.Status.Uptime*100))
	row("Registered", a.CreatedAt.Format(time.RFC3339))
	_ = tw.Flush()
}

func reasonSuffix(r string) string {
	if r == "" {
		return ""
	}
	return " (" + r + ")"
}

func when(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.Format(time.RFC3339)
}

// apiFailure prints an API error with its details (e.g. every manifest
// diagnostic) and returns a non-zero exit.
func apiFailure(cmd *cobra.Command, err error) error {
	fmt.Fprintln(cmd.ErrOrStderr(), "Error:", err)
	var details []manifest.Diagnostic
	if ae := asAPIError(err); ae != nil && ae.Errors != nil {
		if decodeInto(ae.Errors, &details) == nil {
			for _, d := range details {
				fmt.Fprintf(cmd.ErrOrStderr(), "  %s\n", d.String())
			}
		}
	}
	return exitError{code: 1}
}
