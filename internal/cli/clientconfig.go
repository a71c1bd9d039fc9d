package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"go.yaml.in/yaml/v3"
)

// clientConfigEnv overrides where the client configuration file is.
const clientConfigEnv = "OSSA_CLIENT_CONFIG"

// clientConfig is the CLI's own configuration file, shaped like kubectl's:
// named contexts of a server and an API key, and the current one.
type clientConfig struct {
	CurrentContext string          `yaml:"current-context,omitempty"`
	Contexts       []clientContext `yaml:"contexts"`
}

// clientContext is one platform the CLI can talk to.
type clientContext struct {
	Name   string `yaml:"name"`
	Server string `yaml:"server,omitempty"`
	APIKey string `yaml:"api_key,omitempty"`
}

// clientConfigPath is $OSSA_CLIENT_CONFIG, else
// $XDG_CONFIG_HOME/ossa/config.yaml (~/.config/ossa/config.yaml).
func clientConfigPath() (string, error) {
	if p := os.Getenv(clientConfigEnv); p != "" {
		return p, nil
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("locate the client configuration (set %s): %w", clientConfigEnv, err)
	}
	return filepath.Join(dir, "ossa", "config.yaml"), nil
}

// loadClientConfig reads the file at path; a missing file is empty.
func loadClientConfig(path string) (*clientConfig, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &clientConfig{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read client configuration: %w", err)
	}
	var c clientConfig
	if err := yaml.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("client configuration %s: %w", path, err)
	}
	return &c, nil
}

// save writes the file readable by its owner only (it holds API keys),
// replacing it atomically so a crash never leaves half a file.
func (c *clientConfig) save(path string) error {
	data, err := yaml.Marshal(c)
	if err != nil {
		return fmt.Errorf("encode client configuration: %w", err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("write client configuration: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".config-*.yaml") // created 0600
	if err != nil {
		return fmt.Errorf("write client configuration: %w", err)
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write client configuration: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write client configuration: %w", err)
	}
	if err := os.Chmod(tmp.Name(), 0o600); err != nil {
		return fmt.Errorf("write client configuration: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write client configuration: %w", err)
	}
	return nil
}

// context returns the context named name.
func (c *clientConfig) context(name string) (*clientContext, bool) {
	for i := range c.Contexts {
		if c.Contexts[i].Name == name {
			return &c.Contexts[i], true
		}
	}
	return nil, false
}
