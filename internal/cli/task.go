package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ossa-platform/ossa/internal/storage"
	"github.com/ossa-platform/ossa/internal/taskagent"
)

func newTaskCmd() *cobra.Command {
	opts := &clientOptions{}
	cmd := &cobra.Command{
		Use:   "task",
		Short: "Submit, inspect, follow, answer and cancel tasks",
		PersistentPreRunE: func(*cobra.Command, []string) error {
			return opts.resolve()
		},
	}
	opts.register(cmd)
	client := func() *taskagent.Client {
		return taskagent.NewClient(opts.server, opts.httpClient(), opts.apiKey)
	}
	// Streams last as long as the task: no overall timeout.
	streaming := func() *taskagent.Client {
		return taskagent.NewClient(opts.server, &http.Client{}, opts.apiKey)
	}
	cmd.AddCommand(
		taskSubmitCmd(opts, client, streaming),
		taskGetCmd(opts, client),
		taskListCmd(opts, client),
		taskCancelCmd(opts, client),
		taskContinueCmd(opts, client, streaming),
		taskWatchCmd(opts, streaming),
	)
	return cmd
}

func taskSubmitCmd(opts *clientOptions, client, streaming func() *taskagent.Client) *cobra.Command {
	var (
		req            taskagent.SubmitRequest
		input, idemKey string
		wait           bool
	)
	cmd := &cobra.Command{
		Use:   "submit --capability NAME [--input @file.json] [--wait]",
		Short: "Submit a task to the best healthy agent offering a capability",
		Long: `Submit a task. The platform picks the best healthy agent offering the
capability (or the agent given with --agent), dispatches the task and records
its result. With --wait the command follows the task until it ends, prints
its output, and exits non-zero unless it completed.

--input takes JSON inline, @FILE to read a file, or - to read standard input.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if input != "" {
				data, err := readInputArg(input, cmd.InOrStdin())
				if err != nil {
					return err
				}
				req.Input = data
			}
			task, err := client().Submit(cmd.Context(), req, idemKey)
			if err != nil {
				return apiFailure(cmd, err)
			}
			if !wait {
				return opts.print(cmd.OutOrStdout(), task, func(w io.Writer) {
					fmt.Fprintf(w, "submitted task %s (%s)\n", task.ID, task.State)
				})
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "submitted task %s\n", task.ID)
			final, err := streaming().Watch(cmd.Context(), task.ID, progress(cmd.ErrOrStderr()))
			if err != nil {
				return apiFailure(cmd, err)
			}
			return printOutcome(cmd, opts, final)
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.Capability, "capability", "", "the capability the task needs")
	f.StringVar(&req.Agent, "agent", "", "run on this agent (ID or name) instead of choosing one")
	f.StringVar(&input, "input", "", "task input: JSON, @FILE or - for standard input")
	f.StringVar(&req.Tier, "tier", "", "lowest verified conformance tier of the agent: core, governed or advanced")
	f.StringSliceVar(&req.Tags, "tag", nil, "tags the agent must have")
	f.IntVar(&req.Priority, "priority", 0, "1 (most urgent) to 4 (default 2)")
	f.StringVar(&req.Timeout, "task-timeout", "", `timeout of each attempt, e.g. "90s" (default: the server's)`)
	f.IntVar(&req.MaxAttempts, "max-attempts", 0, "attempts before the task fails (default: the server's)")
	f.StringVar(&req.WaitForAgent, "wait-for-agent", "", `queue the task until a capable agent appears, for at most this long (e.g. "5m")`)
	f.StringVar(&idemKey, "idempotency-key", "", "makes a retried submission return the same task")
	f.BoolVar(&wait, "wait", false, "follow the task until it ends and print its output")
	return cmd
}

// readInputArg reads --input: inline JSON, @FILE or - (standard input).
func readInputArg(v string, stdin io.Reader) (json.RawMessage, error) {
	var data []byte
	switch {
	case v == "-":
		b, err := io.ReadAll(stdin)
		if err != nil {
			return nil, fmt.Errorf("read input from standard input: %w", err)
		}
		data = b
	case strings.HasPrefix(v, "@"):
		b, err := os.ReadFile(strings.TrimPrefix(v, "@"))
		if err != nil {
			return nil, fmt.Errorf("read input: %w", err)
		}
		data = b
	default:
		data = []byte(v)
	}
	data = bytes.TrimSpace(data)
	if !json.Valid(data) {
		return nil, errors.New("--input is not valid JSON (give a file as @FILE)")
	}
	return data, nil
}

// progress prints each event of a followed task on one line.
func progress(w io.Writer) func(taskagent.Event) error {
	return func(ev taskagent.Event) error {
		line := fmt.Sprintf("%s  %-14s", ev.CreatedAt.Local().Format("15:04:05.000"), ev.State)
		switch {
		case ev.Artifact != nil:
			line += " artifact " + ev.Artifact.Name
		case ev.Message != "":
			line += " " + ev.Message
		}
		fmt.Fprintln(w, strings.TrimRight(line, " "))
		return nil
	}
}

// printOutcome prints a finished task: its output for the table format, the
// whole task otherwise; a task that did not complete is a non-zero exit.
func printOutcome(cmd *cobra.Command, opts *clientOptions, t *taskagent.Task) error {
	err := opts.print(cmd.OutOrStdout(), t, func(w io.Writer) {
		if t.State != storage.TaskCompleted {
			return
		}
		if len(t.Output) > 0 {
			var pretty bytes.Buffer
			if json.Indent(&pretty, t.Output, "", "  ") == nil {
				fmt.Fprintln(w, pretty.String())
			} else {
				fmt.Fprintln(w, string(t.Output))
			}
		}
		for _, a := range t.Artifacts {
			fmt.Fprintf(w, "artifact %s", a.Name)
			if a.Text != "" {
				fmt.Fprintf(w, ": %s", a.Text)
			}
			fmt.Fprintln(w)
		}
	})
	if err != nil {
		return err
	}
	return unlessCompleted(cmd, t)
}

// unlessCompleted says on stderr why t is not completed, and how to answer
// it when it waits for input, and then fails with exit status 1.
func unlessCompleted(cmd *cobra.Command, t *taskagent.Task) error {
	if t.State == storage.TaskCompleted {
		return nil
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "task %s %s: %s\n", t.ID, t.State, t.Message)
	if t.State.Interrupted() {
		fmt.Fprintf(cmd.ErrOrStderr(), "answer it with: ossa task continue %s --input JSON [--wait]\n", t.ID)
	}
	return exitError{code: 1}
}

func taskContinueCmd(opts *clientOptions, client, streaming func() *taskagent.Client) *cobra.Command {
	var (
		input string
		wait  bool
	)
	cmd := &cobra.Command{
		Use:   "continue ID --input JSON [--wait]",
		Short: "Answer a task that waits for input",
		Long: `Answer a task that waits for its client (input-required or auth-required):
the input becomes the task's input and the task goes back to the agent that
asked. With --wait the command follows the task until it ends (or asks
again), prints its output, and exits non-zero unless it completed.

--input takes JSON inline, @FILE to read a file, or - to read standard input.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if input == "" {
				return errors.New("--input is required: the answer to what the task asked for")
			}
			data, err := readInputArg(input, cmd.InOrStdin())
			if err != nil {
				return err
			}
			task, err := client().Continue(cmd.Context(), args[0], data)
			if err != nil {
				return apiFailure(cmd, err)
			}
			if !wait {
				return opts.print(cmd.OutOrStdout(), task, func(w io.Writer) {
					fmt.Fprintf(w, "continued task %s (%s)\n", task.ID, task.State)
				})
			}
			final, err := streaming().Watch(cmd.Context(), task.ID, progress(cmd.ErrOrStderr()))
			if err != nil {
				return apiFailure(cmd, err)
			}
			return printOutcome(cmd, opts, final)
		},
	}
	cmd.Flags().StringVar(&input, "input", "", "the answer: JSON, @FILE or - for standard input")
	cmd.Flags().BoolVar(&wait, "wait", false, "follow the task until it ends and print its output")
	return cmd
}

func taskGetCmd(opts *clientOptions, client func() *taskagent.Client) *cobra.Command {
	return &cobra.Command{
		Use:   "get ID",
		Short: "Show a task",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := client().Get(cmd.Context(), args[0])
			if err != nil {
				return apiFailure(cmd, err)
			}
			return opts.print(cmd.OutOrStdout(), t, func(w io.Writer) { taskDetail(w, t) })
		},
	}
}

func taskListCmd(opts *clientOptions, client func() *taskagent.Client) *cobra.Command {
	var (
		lo     taskagent.ListOptions
		states []string
		all    bool
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List tasks, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, s := range states {
				lo.States = append(lo.States, storage.TaskState(s))
			}
			var tasks []taskagent.Task
			for {
				page, err := client().List(cmd.Context(), lo)
				if err != nil {
					return apiFailure(cmd, err)
				}
				tasks = append(tasks, page.Tasks...)
				if !all || page.NextCursor == "" {
					if !all && page.NextCursor != "" {
						fmt.Fprintf(cmd.ErrOrStderr(), "more tasks: --cursor %s (or --all)\n", page.NextCursor)
					}
					break
				}
				lo.Cursor = page.NextCursor
			}
			if tasks == nil {
				tasks = []taskagent.Task{}
			}
			return opts.print(cmd.OutOrStdout(), tasks, func(w io.Writer) { taskTable(w, tasks) })
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&states, "state", nil, "only tasks in one of these states")
	f.StringVar(&lo.Capability, "capability", "", "only tasks for this capability")
	f.StringVar(&lo.Agent, "agent", "", "only tasks whose last attempt ran on this agent (ID or name)")
	f.StringVar(&lo.Cursor, "cursor", "", "continue from a previous page")
	f.IntVar(&lo.Limit, "limit", 0, "page size, 1..500 (default 50)")
	f.BoolVar(&all, "all", false, "fetch every page")
	return cmd
}

func taskCancelCmd(opts *clientOptions, client func() *taskagent.Client) *cobra.Command {
	return &cobra.Command{
		Use:   "cancel ID...",
		Short: "Cancel tasks",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			failed := false
			for _, id := range args {
				t, err := client().Cancel(cmd.Context(), id)
				if err != nil {
					fmt.Fprintf(cmd.ErrOrStderr(), "%s: %v\n", id, err)
					failed = true
					continue
				}
				if err := opts.print(cmd.OutOrStdout(), t, func(w io.Writer) { fmt.Fprintf(w, "canceled %s\n", t.ID) }); err != nil {
					return err
				}
			}
			if failed {
				return exitError{code: 1}
			}
			return nil
		},
	}
}

func taskWatchCmd(opts *clientOptions, streaming func() *taskagent.Client) *cobra.Command {
	return &cobra.Command{
		Use:   "watch ID",
		Short: "Follow a task's events until it ends or waits for an answer",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var events []taskagent.Event
			show := progress(cmd.OutOrStdout())
			if opts.output != "table" {
				show = func(ev taskagent.Event) error { events = append(events, ev); return nil }
			}
			final, err := streaming().Watch(cmd.Context(), args[0], show)
			if err != nil {
				return apiFailure(cmd, err)
			}
			if opts.output != "table" {
				if err := opts.print(cmd.OutOrStdout(), map[string]any{"task": final, "events": events}, nil); err != nil {
					return err
				}
			}
			return unlessCompleted(cmd, final)
		},
	}
}

func taskTable(w io.Writer, tasks []taskagent.Task) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tCAPABILITY\tAGENT\tATTEMPTS\tCREATED")
	for _, t := range tasks {
		agent := "-"
		if t.AssignedAgent != nil {
			agent = t.AssignedAgent.Name
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d/%d\t%s\n", t.ID, t.State, orNone(t.Capability), agent, t.Attempts, t.MaxAttempts,
			t.CreatedAt.Local().Format(time.RFC3339))
	}
	_ = tw.Flush()
}

func taskDetail(w io.Writer, t *taskagent.Task) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s:\t%s\n", k, v) }
	row("ID", t.ID)
	row("State", string(t.State))
	if t.Message != "" {
		row("Message", t.Message)
	}
	row("Capability", orNone(t.Capability))
	if t.Agent != "" {
		row("Pinned agent", t.Agent)
	}
	if t.AssignedAgent != nil {
		row("Agent", t.AssignedAgent.Name+" ("+t.AssignedAgent.ID+")")
	}
	row("Attempts", fmt.Sprintf("%d of %d, %s each", t.Attempts, t.MaxAttempts, t.Timeout))
	row("Priority", fmt.Sprint(t.Priority))
	row("Created", t.CreatedAt.Local().Format(time.RFC3339))
	if !t.FinishedAt.IsZero() {
		row("Finished", t.FinishedAt.Local().Format(time.RFC3339))
	}
	if len(t.Output) > 0 {
		row("Output", string(t.Output))
	}
	for _, a := range t.Artifacts {
		row("Artifact", a.Name)
	}
	_ = tw.Flush()
}
