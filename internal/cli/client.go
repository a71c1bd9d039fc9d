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
	output  string
	timeout time.Duration
}

func (o *clientOptions) register(cmd *cobra.Command) {
	fs := cmd.PersistentFlags()
	fs.StringVar(&o.server, "server", "", "platform URL (env OSSA_SERVER; default http://localhost:3000)")
	fs.StringVar(&o.apiKey, "api-key", "", "API key (env OSSA_API_KEY)")
	fs.StringVarP(&o.output, "output", "o", "table", "output format: table, json or yaml")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Second, "request timeout")
}

// resolve fills unset options from the environment and checks them.
func (o *clientOptions) resolve() error {
	if o.server == "" {
		o.server = os.Getenv("OSSA_SERVER")
	}
	if o.server == "" {
		o.server = "http://localhost:3000"
	}
	if o.apiKey == "" {
		o.apiKey = os.Getenv("OSSA_API_KEY")
	}
	switch o.output {
	case "table", "json", "yaml":
	default:
		return fmt.Errorf("--output %q: must be table, json or yaml", o.output)
	}
	return nil
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
