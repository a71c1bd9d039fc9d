package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/ossa-platform/ossa/internal/httpx"
	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"
)

// clientOptions are the flags every command that talks to a running platform
// shares.
type clientOptions struct {
	server  string
	apiKey  string
	context string
	output  string
	timeout time.Duration
}

func (o *clientOptions) register(cmd *cobra.Command) {
	fs := cmd.PersistentFlags()
	fs.StringVar(&o.server, "server", "", "platform URL (env OSSA_SERVER; default http://localhost:3000)")
	fs.StringVar(&o.apiKey, "api-key", "", "API key (env OSSA_API_KEY)")
	fs.StringVar(&o.context, "context", "", "context of the client configuration to use (default: its current-context)")
	fs.StringVarP(&o.output, "output", "o", "table", "output format: table, json or yaml")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Second, "request timeout")
}

// resolve fills unset options from the environment, then from the client
// configuration file's context (flags > env > file), and checks them.
func (o *clientOptions) resolve() error {
	fromFile, err := o.fileContext()
	if err != nil {
		return err
	}
	for _, v := range []struct {
		dst       *string
		env, file string
	}{
		{&o.server, "OSSA_SERVER", fromFile.Server},
		{&o.apiKey, "OSSA_API_KEY", fromFile.APIKey},
	} {
		if *v.dst == "" {
			*v.dst = os.Getenv(v.env)
		}
		if *v.dst == "" {
			*v.dst = v.file
		}
	}
	if o.server == "" {
		o.server = "http://localhost:3000"
	}
	switch o.output {
	case "table", "json", "yaml":
	default:
		return fmt.Errorf("--output %q: must be table, json or yaml", o.output)
	}
	return nil
}

// fileContext is the selected context of the client configuration: the
// --context one, else the file's current-context; empty if neither.
func (o *clientOptions) fileContext() (clientContext, error) {
	path, err := clientConfigPath()
	if err != nil {
		if o.context != "" {
			return clientContext{}, err
		}
		return clientContext{}, nil // no home: flags and env only
	}
	cfg, err := loadClientConfig(path)
	if err != nil {
		return clientContext{}, err
	}
	name := o.context
	if name == "" {
		name = cfg.CurrentContext
	}
	if name == "" {
		return clientContext{}, nil
	}
	c, ok := cfg.context(name)
	if !ok {
		return clientContext{}, fmt.Errorf("context %q is not in %s; see ossa config view", name, path)
	}
	return *c, nil
}

func (o *clientOptions) httpClient() *http.Client {
	return &http.Client{Timeout: o.timeout}
}

// print writes v as JSON or YAML, or calls table for the table format.
func (o *clientOptions) print(w io.Writer, v any, table func(io.Writer)) error {
	switch o.output {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	case "yaml":
		// Through JSON so YAML keys match the API's field names.
		buf, err := json.Marshal(v)
		if err != nil {
			return err
		}
		var generic any
		if err := json.Unmarshal(buf, &generic); err != nil {
			return err
		}
		out, err := yaml.Marshal(generic)
		if err != nil {
			return err
		}
		_, err = w.Write(out)
		return err
	default:
		table(w)
		return nil
	}
}

func asAPIError(err error) *httpx.APIError {
	var ae *httpx.APIError
	if errors.As(err, &ae) {
		return ae
	}
	return nil
}

// decodeInto re-decodes a generic JSON value (a problem's errors) into out.
func decodeInto(v any, out any) error {
	buf, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return json.Unmarshal(buf, out)
}
