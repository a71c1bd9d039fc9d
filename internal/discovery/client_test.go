package discovery

import (
	"errors"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ossa-platform/ossa/internal/httpx"
	"github.com/ossa-platform/ossa/internal/manifest"
	"github.com/ossa-platform/ossa/internal/storage"
)

func TestClientRoundTrip(t *testing.T) {
	t.Parallel()
	f := newFixture(t, testConfig(t))
	srv := f.server(t)
	c := NewClient(srv.URL, srv.Client(), "")
	ctx := t.Context()

	reg, err := c.Register(ctx, []byte(spec{name: "client-agent", caps: []string{"x", "y"}, tags: []string{"t"}, tier: "governed"}.yaml()),
		"http://agent.local", ProtocolA2A)
	require.NoError(t, err)
	id := reg.Agent.ID
	require.Equal(t, "client-agent", reg.Agent.Name)
	require.Equal(t, ProtocolA2A, reg.Agent.Protocol)
	require.Empty(t, reg.Warnings)
	other, err := c.Register(ctx, []byte(spec{name: "other", caps: []string{"x"}}.yaml()), "", "")
	require.NoError(t, err)

	got, err := c.Get(ctx, id)
	require.NoError(t, err)
	require.Equal(t, reg.Agent.ID, got.ID)
	require.Equal(t, []string{"x", "y"}, got.Capabilities)

	list, err := c.List(ctx, ListOptions{Capabilities: []string{"x", "y"}, Tags: []string{"t"}, MinTier: manifest.TierGoverned,
		Class: "nlp", Health: []storage.Health{storage.HealthUnknown}, Name: "client-agent", Limit: 10})
	require.NoError(t, err)
	require.Len(t, list.Agents, 1)
	require.Empty(t, list.NextCursor)
	page, err := c.List(ctx, ListOptions{Limit: 1})
	require.NoError(t, err)
	require.Len(t, page.Agents, 1)
	page2, err := c.List(ctx, ListOptions{Limit: 1, Cursor: page.NextCursor})
	require.NoError(t, err)
	require.Len(t, page2.Agents, 1)
	require.NotEqual(t, page.Agents[0].ID, page2.Agents[0].ID)

	load := 0.25
	st, err := c.Heartbeat(ctx, id, Heartbeat{Load: &load})
	require.NoError(t, err)
	require.Equal(t, storage.HealthHealthy, st.Health)
	st, err = c.Heartbeat(ctx, other.Agent.ID, Heartbeat{Status: storage.HealthDegraded})
	require.NoError(t, err)
	require.Equal(t, storage.HealthDegraded, st.Health)

	res, err := c.Discover(ctx, DiscoverQuery{Capabilities: []string{"x"}, Limit: 5})
	require.NoError(t, err)
	require.Equal(t, 2, res.Total)
	require.Equal(t, id, res.Agents[0].ID)
	require.Equal(t, other.Agent.ID, res.Agents[1].ID)
	require.Greater(t, res.Agents[0].Score, res.Agents[1].Score)
	res, err = c.Discover(ctx, DiscoverQuery{Tags: []string{"t"}, MinTier: manifest.TierGoverned, IncludeUnhealthy: true})
	require.NoError(t, err)
	require.Equal(t, 1, res.Total)

	upd, err := c.Update(ctx, id, []byte(spec{name: "client-agent", version: "1.1.0", caps: []string{"z"}}.yaml()), "", "")
	require.NoError(t, err)
	require.Equal(t, "1.1.0", upd.Agent.Version)
	require.Equal(t, ProtocolHTTP, upd.Agent.Protocol)
	require.Empty(t, upd.Agent.Endpoint)

	require.NoError(t, c.Delete(ctx, id))
	_, err = c.Get(ctx, id)
	require.Equal(t, http.StatusNotFound, httpx.StatusCode(err))

	_, err = c.Register(ctx, []byte("ossa: \"0.1.8\"\nmetadata: {name: Bad}\n"), "", "")
	require.Equal(t, http.StatusUnprocessableEntity, httpx.StatusCode(err))
	var apiErr *httpx.APIError
	require.True(t, errors.As(err, &apiErr))
	require.NotEmpty(t, apiErr.Errors)
	_, err = c.Register(ctx, []byte(spec{name: "other"}.yaml()), "", "")
	require.Equal(t, http.StatusConflict, httpx.StatusCode(err))
	_, err = c.Discover(ctx, DiscoverQuery{MinTier: "gold"})
	require.Equal(t, http.StatusBadRequest, httpx.StatusCode(err))
}
