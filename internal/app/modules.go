package app

import (
	"context"
	_ "embed"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/ossa-platform/ossa/internal/config"
	"github.com/ossa-platform/ossa/internal/discovery"
	"github.com/ossa-platform/ossa/internal/gateway"
	"github.com/ossa-platform/ossa/internal/taskagent"
)

// TargetAll runs every service in one process.
const TargetAll = "all"

// Module names that are backends rather than services.
const (
	moduleStore = "store"
)

// module is one node of the module graph: a backend or a service, the modules
// it needs, and how to build it.
type module struct {
	// port is the service's own port when it runs alone; 0 for backends.
	port int
	deps []string
	help string
	init func(a *App, ctx context.Context) (Service, error)
	// after lists services that, when they run in the same process, are
	// built first, because this one uses them in process; unlike deps they
	// are not pulled into the target.
	after []string
	// remote describes the service to a gateway in another process: its URL,
	// route table and OpenAPI fragment (see gateway.Upstream). Every service
	// reached through the gateway sets it; docs/security.md explains why.
	remote func(cfg *config.Config) gateway.Upstream
}

// modules is the whole graph, in one place: what each target needs and builds.
// Services not yet built are not listed.
var modules = map[string]module{
	moduleStore: {
		help: "system of record: SQLite file (embedded) or PostgreSQL",
		init: (*App).initStore,
	},
	"discovery": {
		port: 3011,
		deps: []string{moduleStore},
		help: "agent registry: manifests, tiers, heartbeats, health probes, capability search",
		init: (*App).initDiscovery,
		remote: func(c *config.Config) gateway.Upstream {
			return gateway.Upstream{URL: c.Discovery.URL, Routes: discovery.RouteTable(), OpenAPI: discovery.OpenAPISpec()}
		},
	},
	"task-agent": {
		port:  3001,
		deps:  []string{moduleStore},
		after: []string{"discovery"},
		help:  "tasks: durable queue (River), routing to the best healthy agent, dispatch, retries, timeouts, cancel, pull mode, event streams, the platform's A2A endpoint",
		init:  (*App).initTaskAgent,
		remote: func(c *config.Config) gateway.Upstream {
			return gateway.Upstream{URL: c.TaskAgent.URL, Routes: taskagent.RouteTable(), OpenAPI: taskagent.OpenAPISpec()}
		},
	},
	moduleGateway: {
		port: allPort,
		deps: []string{moduleStore},
		help: "the public entry: API keys and JWTs, RBAC, rate limits, audit log, routing to services in other processes",
		init: (*App).initGateway,
	},
}

// moduleGateway names the gateway, which the app treats specially: when it
// runs in the process, it guards every route; when it does not, the signed
// identity it forwards does.
const moduleGateway = "gateway"

// allPort is where `ossa serve` (target all) listens: the gateway's port.
const allPort = 3000

// Services returns the service module names, sorted.
func Services() []string {
	var names []string
	for name, m := range modules {
		if m.port != 0 {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names
}

// resolve expands targets into every module they need, dependencies first.
func resolve(targets []string) ([]string, error) {
	var wanted []string
	for _, t := range targets {
		t = strings.TrimSpace(t)
		switch {
		case t == TargetAll:
			wanted = append(wanted, Services()...)
		case modules[t].port != 0:
			wanted = append(wanted, t)
		default:
			return nil, fmt.Errorf("unknown target %q; valid targets: %s, %s", t, TargetAll, strings.Join(Services(), ", "))
		}
	}
	var order []string
	seen := map[string]bool{}
	var visit func(name string)
	visit = func(name string) {
		if seen[name] {
			return
		}
		seen[name] = true
		deps := slices.Clone(modules[name].deps)
		for _, d := range modules[name].after {
			if slices.Contains(wanted, d) {
				deps = append(deps, d)
			}
		}
		sort.Strings(deps)
		for _, d := range deps {
			visit(d)
		}
		order = append(order, name)
	}
	sort.Strings(wanted)
	for _, name := range wanted {
		visit(name)
	}
	return order, nil
}

// defaultAddr is where a process listens when --http.addr is not given: :3000
// when it runs every service, else the port of the first listed target.
func defaultAddr(targets []string) string {
	for _, t := range targets {
		if t == TargetAll {
			return fmt.Sprintf(":%d", allPort)
		}
	}
	if len(targets) > 0 {
		if m, ok := modules[targets[0]]; ok && m.port != 0 {
			return fmt.Sprintf(":%d", m.port)
		}
	}
	return fmt.Sprintf(":%d", allPort)
}

// ListTargets renders the module graph for --list-targets.
func ListTargets() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-22s %-6s %s\n", "TARGET", "PORT", "NEEDS / WHAT IT DOES")
	fmt.Fprintf(&b, "%-22s %-6d %s\n", TargetAll, allPort, "every service below in one process")
	for _, name := range Services() {
		m := modules[name]
		fmt.Fprintf(&b, "%-22s %-6d needs %s; %s\n", name, m.port, strings.Join(m.deps, ", "), m.help)
	}
	for name, m := range modules {
		if m.port == 0 {
			fmt.Fprintf(&b, "%-22s %-6s %s (backend)\n", name, "-", m.help)
		}
	}
	return b.String()
}

// openAPIBase is the document service fragments are merged into.
//
//go:embed openapi.yaml
var openAPIBase []byte
