package app

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/ossa-platform/ossa/internal/auth"
	"github.com/ossa-platform/ossa/internal/config"
	"github.com/ossa-platform/ossa/internal/discovery"
	"github.com/ossa-platform/ossa/internal/dispatch"
	"github.com/ossa-platform/ossa/internal/gateway"
	"github.com/ossa-platform/ossa/internal/taskagent"
)

func redacted(url string) string { return config.RedactURL(url) }

func (a *App) initDiscovery(ctx context.Context) (Service, error) {
	return discovery.New(ctx, a.cfg.Discovery, discovery.Deps{
		Agents:     a.store.Agents(),
		Logger:     a.log.With("service", "discovery"),
		Metrics:    a.registry,
		HTTPClient: &http.Client{Timeout: a.cfg.Discovery.ProbeTimeout + time.Second},
	})
}

// initGateway builds the gateway, routing to a.upstreams.
func (a *App) initGateway(ctx context.Context) (Service, error) {
	g, err := gateway.New(ctx, a.cfg.Gateway, gateway.Deps{
		Keys:           a.store.Keys(),
		Audit:          a.store.Audit(),
		Upstreams:      a.upstreams,
		InternalSecret: a.cfg.Auth.InternalSecret,
		AdminKey:       a.cfg.Auth.AdminKey,
		Embedded:       IsEmbedded(a.cfg.Database.URL),
		Out:            a.out,
		RedisURL:       a.cfg.Redis.URL,
		Logger:         a.log.With("service", moduleGateway),
		Metrics:        a.registry,
	})
	if err != nil {
		return nil, err
	}
	a.gateway = g
	return g, nil
}

// initTaskAgent builds the task service. It applies River's migrations when
// the store is auto-migrated, and finds agents through discovery in process
// when discovery runs here, else over HTTP at --discovery.url.
func (a *App) initTaskAgent(ctx context.Context) (Service, error) {
	log := a.log.With("service", "task-agent")
	if a.cfg.Database.AutoMigrate {
		if err := taskagent.Migrate(ctx, a.store, log); err != nil {
			return nil, err
		}
	}
	var finder taskagent.Finder
	if d := a.localDiscovery(); d != nil {
		finder = taskagent.LocalFinder(d, a.store.Agents())
	} else {
		hc, err := a.serviceClient("task-agent", 10*time.Second)
		if err != nil {
			return nil, fmt.Errorf("reach discovery at %s: %w", a.cfg.Discovery.URL, err)
		}
		finder = taskagent.RemoteFinder(discovery.NewClient(a.cfg.Discovery.URL, hc, ""))
	}
	// No client timeout: each attempt's deadline is its context's. Idle
	// connections are kept for as many attempts as run at once, so that a
	// busy agent is not redialled for every task.
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = a.cfg.TaskAgent.Workers
	return taskagent.New(a.cfg.TaskAgent, taskagent.Deps{
		Store:      a.store,
		Finder:     finder,
		Dispatcher: dispatch.New(&http.Client{Transport: transport}, dispatch.WithLogger(log.With("component", "dispatch"))),
		Logger:     log,
		Metrics:    a.registry,
	})
}

// localDiscovery returns the discovery service of this process, if it runs
// one (built before its users: see module.after).
func (a *App) localDiscovery() *discovery.Service {
	for _, ns := range a.services {
		if d, ok := ns.svc.(*discovery.Service); ok {
			return d
		}
	}
	return nil
}

// serviceClient is an HTTP client for calls from service name to services
// in other processes. Those accept only identities the gateway signs, so it
// signs each request with the shared internal secret, as a viewer-role
// principal naming the calling service.
func (a *App) serviceClient(name string, timeout time.Duration) (*http.Client, error) {
	f := a.forwarder
	if f == nil {
		var err error
		if f, err = auth.NewForwarder(a.cfg.Auth.InternalSecret); err != nil {
			return nil, fmt.Errorf("service calls need --auth.internal-secret: %w", err)
		}
	}
	return &http.Client{Timeout: timeout, Transport: signingTransport{
		f: f, p: auth.Principal{Subject: "service:" + name, Name: name, Role: auth.RoleViewer},
		next: http.DefaultTransport,
	}}, nil
}

// signingTransport signs each request's identity for the service it calls.
type signingTransport struct {
	f    *auth.Forwarder
	p    auth.Principal
	next http.RoundTripper
}

func (t signingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	if err := t.f.Sign(r.Header, t.p, r.Method, r.URL.EscapedPath(), r.URL.RawQuery); err != nil {
		return nil, fmt.Errorf("sign service call: %w", err)
	}
	return t.next.RoundTrip(r)
}
