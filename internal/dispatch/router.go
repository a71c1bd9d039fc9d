package dispatch

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/ossa-platform/ossa/internal/storage"
)

// Option configures the Dispatcher New returns.
type Option func(*options)

type options struct {
	log *slog.Logger
	// pollMin and pollMax bound the backoff between GetTask polls of an A2A
	// task that has not finished.
	pollMin, pollMax time.Duration
	// cardTTL is how long an A2A agent's card (or its absence) is trusted.
	cardTTL time.Duration
	// cancelTimeout bounds the best-effort cancel sent to an A2A agent when
	// an attempt's context ends before the task does.
	cancelTimeout time.Duration
}

// WithLogger sets the logger; the default discards.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithPollInterval sets the backoff between polls of an unfinished A2A task:
// it starts at min and doubles up to max. Defaults: 50ms and 2s.
func WithPollInterval(minWait, maxWait time.Duration) Option {
	return func(o *options) { o.pollMin, o.pollMax = minWait, max(minWait, maxWait) }
}

// WithCardTTL sets how long a fetched A2A Agent Card is reused; default 5m.
func WithCardTTL(d time.Duration) Option { return func(o *options) { o.cardTTL = d } }

// New returns a Dispatcher that speaks each agent's protocol
// (storage.Agent.Protocol): "http" (the native task protocol,
// docs/agent-protocol.md), "a2a" (A2A JSON-RPC) or "mcp" (MCP tools/call
// over streamable HTTP). An empty protocol means http. hc nil means
// http.DefaultClient; it should have no overall timeout, since each attempt's
// deadline comes from its context.
func New(hc *http.Client, opts ...Option) Dispatcher {
	if hc == nil {
		hc = http.DefaultClient
	}
	o := options{
		log: slog.New(slog.DiscardHandler), pollMin: 50 * time.Millisecond, pollMax: 2 * time.Second,
		cardTTL: 5 * time.Minute, cancelTimeout: 5 * time.Second,
	}
	for _, opt := range opts {
		opt(&o)
	}
	return &router{
		byProtocol: map[string]Dispatcher{
			ProtocolHTTP: newNative(hc),
			ProtocolA2A:  newA2A(hc, o),
			ProtocolMCP:  newMCP(hc, o),
		},
	}
}

// router picks the dispatcher of the agent's protocol.
type router struct {
	byProtocol map[string]Dispatcher
}

func (r *router) pick(a storage.Agent) (Dispatcher, error) {
	protocol := a.Protocol
	if protocol == "" {
		protocol = ProtocolHTTP
	}
	d, ok := r.byProtocol[protocol]
	if !ok {
		return nil, fmt.Errorf("agent %s: unknown protocol %q (want http, a2a or mcp): %w", a.ID, a.Protocol, ErrPermanent)
	}
	if a.Endpoint == "" {
		return nil, fmt.Errorf("agent %s has no endpoint to dispatch to (pull-mode agents claim their tasks): %w", a.ID, ErrPermanent)
	}
	return d, nil
}

func (r *router) Dispatch(ctx context.Context, req Request, updates chan<- Update) (Result, error) {
	d, err := r.pick(req.Agent)
	if err != nil {
		return Result{}, err
	}
	return d.Dispatch(ctx, req, updates)
}

func (r *router) Cancel(ctx context.Context, agent storage.Agent, taskID, remoteID string) error {
	d, err := r.pick(agent)
	if err != nil {
		return err
	}
	return d.Cancel(ctx, agent, taskID, remoteID)
}
