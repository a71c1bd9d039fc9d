package agentsdk

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/ossa-platform/ossa/internal/discovery"
	"github.com/ossa-platform/ossa/internal/httpx"
)

// Backoff between attempts to reach a platform that is not answering.
const (
	registerBackoffMin = time.Second
	registerBackoffMax = 30 * time.Second
)

// Register registers the agent's manifest and public URL with the platform
// at platformURL (the gateway), then heartbeats every interval until ctx
// ends, when it returns nil. It retries while the platform is unreachable
// or failing, re-registers when the platform has forgotten the agent (a
// heartbeat answered 404), and updates the registration when the agent's
// name and version are already registered (a restart). It returns an error
// only when the platform refuses the registration (a 4xx: invalid manifest,
// bad key).
func (a *Agent) Register(ctx context.Context, platformURL, apiKey string) error {
	if a.publicURL == "" {
		return errors.New("register agent: its public URL is unknown; set it with WithPublicURL (or PUBLIC_URL for Run)")
	}
	c := discovery.NewClient(platformURL, a.hc, apiKey)
	wait := registerBackoffMin
	for {
		err := a.register(ctx, c)
		if err == nil {
			break
		}
		if refused(err) {
			return err
		}
		a.log.WarnContext(ctx, "agent registration failed; retrying", "platform", platformURL, "retry_in", wait, "err", err)
		if !sleep(ctx, wait) {
			return nil
		}
		wait = min(2*wait, registerBackoffMax)
	}
	ticks, stop := a.newTicker(a.heartbeat)
	defer stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticks:
		}
		err := a.beat(ctx, c)
		if err != nil && ctx.Err() == nil {
			a.log.WarnContext(ctx, "agent heartbeat failed", "agent_id", a.ID(), "err", err)
		}
		a.onHeartbeat(err)
	}
}

// beat sends one heartbeat, registering again when the platform no longer
// knows the agent.
func (a *Agent) beat(ctx context.Context, c *discovery.Client) error {
	_, err := c.Heartbeat(ctx, a.ID(), discovery.Heartbeat{})
	if httpx.StatusCode(err) != http.StatusNotFound {
		return err
	}
	a.log.InfoContext(ctx, "platform forgot the agent; registering again", "agent_id", a.ID())
	return a.register(ctx, c)
}

// register creates the registration, or updates the one holding the
// agent's name and version.
func (a *Agent) register(ctx context.Context, c *discovery.Client) error {
	reg, err := c.Register(ctx, a.manifest, a.publicURL, a.protocol)
	if httpx.StatusCode(err) == http.StatusConflict {
		var id string
		if id, err = a.registeredID(ctx, c); err == nil {
			reg, err = c.Update(ctx, id, a.manifest, a.publicURL, a.protocol)
		}
	}
	if err != nil {
		return err
	}
	id := reg.Agent.ID
	a.id.Store(&id)
	for _, w := range reg.Warnings {
		a.log.WarnContext(ctx, "manifest warning", "agent_id", id, "warning", w.String())
	}
	a.log.InfoContext(ctx, "agent registered", "agent_id", id, "name", a.Name(), "endpoint", a.publicURL, "protocol", reg.Agent.Protocol)
	return nil
}

// registeredID finds the ID of the registration with the agent's name and
// version.
func (a *Agent) registeredID(ctx context.Context, c *discovery.Client) (string, error) {
	list, err := c.List(ctx, discovery.ListOptions{Name: a.Name(), Limit: 500})
	if err != nil {
		return "", err
	}
	for _, ag := range list.Agents {
		if ag.Version == a.m.Metadata.Version {
			return ag.ID, nil
		}
	}
	return "", fmt.Errorf("register agent: %s %s is taken but not listed", a.Name(), a.m.Metadata.Version)
}

// refused reports whether the platform refused the request for good: a 4xx
// other than 408 and 429.
func refused(err error) bool {
	s := httpx.StatusCode(err)
	return s >= 400 && s < 500 && s != http.StatusRequestTimeout && s != http.StatusTooManyRequests
}

// sleep waits for d or ctx's end; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
