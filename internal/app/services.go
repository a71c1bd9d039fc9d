package app

import (
	"context"
	"net/http"
	"time"

	"github.com/ossa-platform/ossa/internal/config"
	"github.com/ossa-platform/ossa/internal/discovery"
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
