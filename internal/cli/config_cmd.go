package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"
)

func newConfigCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Manage the client configuration: named contexts of a server and an API key",
		Long: `The client configuration holds named contexts, each a server URL and an API
key, and the current one, like kubectl's. It lives in $OSSA_CLIENT_CONFIG, else
$XDG_CONFIG_HOME/ossa/config.yaml (~/.config/ossa/config.yaml), and is written
readable by its owner only. Commands take --server and --api-key from flags
first, then OSSA_SERVER and OSSA_API_KEY, then the current context.`,
	}
	cmd.AddCommand(configSetContextCmd(), configUseContextCmd(), configViewCmd())
	return cmd
}

func configSetContextCmd() *cobra.Command {
	var server, apiKey string
	var use bool
	cmd := &cobra.Command{
		Use:   "set-context NAME [--server URL] [--api-key KEY|-]",
		Short: "Create or change a context (--api-key - reads the key from standard input)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if apiKey == "-" {
				line, err := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
				if err != nil && !errors.Is(err, io.EOF) {
					return fmt.Errorf("read API key: %w", err)
				}
				apiKey = strings.TrimSpace(line)
			}
			return editClientConfig(func(c *clientConfig) error {
				ctx, ok := c.context(args[0])
				if !ok {
					c.Contexts = append(c.Contexts, clientContext{Name: args[0]})
					ctx = &c.Contexts[len(c.Contexts)-1]
				}
				if cmd.Flags().Changed("server") {
					ctx.Server = server
				}
				if cmd.Flags().Changed("api-key") {
					ctx.APIKey = apiKey
				}
				if use || c.CurrentContext == "" {
					c.CurrentContext = args[0]
				}
				fmt.Fprintf(cmd.OutOrStdout(), "context %q set\n", args[0])
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&server, "server", "", "platform URL")
	cmd.Flags().StringVar(&apiKey, "api-key", "", "API key; - reads it from standard input (keeps it out of shell history)")
	cmd.Flags().BoolVar(&use, "use", false, "also make it the current context")
	return cmd
}

func configUseContextCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "use-context NAME",
		Short: "Make a context the current one",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return editClientConfig(func(c *clientConfig) error {
				if _, ok := c.context(args[0]); !ok {
					return fmt.Errorf("no context %q; create it with ossa config set-context", args[0])
				}
				c.CurrentContext = args[0]
				fmt.Fprintf(cmd.OutOrStdout(), "switched to context %q\n", args[0])
				return nil
			})
		},
	}
}

func configViewCmd() *cobra.Command {
	var raw bool
	cmd := &cobra.Command{
		Use:   "view",
		Short: "Print the client configuration (API keys masked unless --raw)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path, err := clientConfigPath()
			if err != nil {
				return err
			}
			c, err := loadClientConfig(path)
			if err != nil {
				return err
			}
			if !raw {
				for i := range c.Contexts {
					if k := c.Contexts[i].APIKey; k != "" {
						c.Contexts[i].APIKey = k[:min(len(k), 11)] + "…"
					}
				}
			}
			out, err := yaml.Marshal(c)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "# %s\n%s", path, out)
			return nil
		},
	}
	cmd.Flags().BoolVar(&raw, "raw", false, "show API keys in full")
	return cmd
}

// editClientConfig loads the client configuration, applies edit and saves it.
func editClientConfig(edit func(*clientConfig) error) error {
	path, err := clientConfigPath()
	if err != nil {
		return err
	}
	c, err := loadClientConfig(path)
	if err != nil {
		return err
	}
	if err := edit(c); err != nil {
		return err
	}
	return c.save(path)
}
