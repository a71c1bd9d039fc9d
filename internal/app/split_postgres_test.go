package app

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ossa-platform/ossa/internal/auth"
	"github.com/ossa-platform/ossa/internal/testenv"
)

// The cluster topology of the discovery Deployment: --target=discovery alone
// against PostgreSQL, migrated at start, serving the registry API.
func TestDiscoveryTargetOnPostgres(t *testing.T) {
	cfg := testConfig(t, "--target=discovery", "--auth.internal-secret="+splitSecret)
	cfg.Database.URL = testenv.PostgresURL(t)
	base, stop := started(t, cfg)

	manifest, err := os.ReadFile("../../examples/agents/echo.yml")
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPost, base+"/api/v1/agents?endpoint=http://127.0.0.1:1", bytes.NewReader(manifest))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/yaml")
	authorize(t, req)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusCreated, resp.StatusCode)

	req, err = http.NewRequest(http.MethodGet, base+"/api/v1/agents?capability=echo", nil)
	require.NoError(t, err)
	authorize(t, req)
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var list struct {
		Agents []struct {
			Name string `json:"name"`
		} `json:"agents"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&list))
	require.Len(t, list.Agents, 1)
	require.Equal(t, "echo", list.Agents[0].Name)
	require.NoError(t, stop())
}

const splitSecret = "split-mode-test-secret-0123456789abcdef"

// authorize signs the request as the gateway would: a split-mode service
// trusts only identities signed with the shared internal secret.
func authorize(t *testing.T, req *http.Request) {
	t.Helper()
	f, err := auth.NewForwarder(splitSecret)
	require.NoError(t, err)
	require.NoError(t, f.Sign(req.Header, auth.Principal{Subject: "test", Role: auth.RoleOperator}, req.Method, req.URL.Path, req.URL.RawQuery))
}
