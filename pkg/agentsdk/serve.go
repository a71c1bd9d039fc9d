package agentsdk

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
)

// ListenAndServe serves the agent on addr until ctx ends, then stops
// gracefully: no new requests, running tasks get the shutdown timeout to
// finish, and the rest are canceled.
func (a *Agent) ListenAndServe(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("serve agent %s: %w", a.Name(), err)
	}
	return a.Serve(ctx, ln)
}

// Serve is ListenAndServe on a listener of the caller's.
func (a *Agent) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: a, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		a.cancelAll()
		_ = a.Shutdown(context.Background())
		return fmt.Errorf("serve agent %s: %w", a.Name(), err)
	case <-ctx.Done():
	}
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.shutdown)
	defer cancel()
	// Native tasks run inside requests, which srv.Shutdown waits for; A2A
	// tasks run on their own, which a.Shutdown waits for. Both get the same
	// deadline, after which the agent cancels what is left.
	stopped := make(chan struct{})
	go func() {
		_ = a.Shutdown(stopCtx)
		close(stopped)
	}()
	if err := srv.Shutdown(stopCtx); err != nil {
		a.log.WarnContext(ctx, "agent tasks outlived the shutdown timeout; canceling them", "name", a.Name(), "timeout", a.shutdown)
		a.cancelAll()
		_ = srv.Close()
	}
	<-stopped
	<-served
	a.log.InfoContext(ctx, "agent stopped", "name", a.Name())
	return nil
}

// Environment variables Run reads.
const (
	EnvListenAddr  = "LISTEN_ADDR"  // default ":8080"
	EnvPublicURL   = "PUBLIC_URL"   // default http://localhost:<port>
	EnvPlatformURL = "OSSA_URL"     // unset: do not register
	EnvAPIKey      = "OSSA_API_KEY" // the agent's API key
)

// Run serves the agent and, when OSSA_URL is set, registers it with the
// platform, until ctx ends or either fails. Configuration comes from the
// environment: LISTEN_ADDR, PUBLIC_URL, OSSA_URL and OSSA_API_KEY.
func (a *Agent) Run(ctx context.Context) error {
	addr := os.Getenv(EnvListenAddr)
	if addr == "" {
		addr = ":8080"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("run agent %s: %w", a.Name(), err)
	}
	if a.publicURL == "" {
		a.publicURL = os.Getenv(EnvPublicURL)
	}
	if a.publicURL == "" {
		a.publicURL = localURL(ln.Addr())
	}
	a.publicURL = strings.TrimRight(a.publicURL, "/")
	a.log.InfoContext(ctx, "agent serving", "name", a.Name(), "listen", ln.Addr().String(), "public_url", a.publicURL)

	// The first of the two to fail stops the other.
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return a.Serve(ctx, ln) })
	if platform := os.Getenv(EnvPlatformURL); platform != "" {
		g.Go(func() error { return a.Register(ctx, platform, os.Getenv(EnvAPIKey)) })
	} else {
		a.log.InfoContext(ctx, "OSSA_URL is not set; not registering with a platform")
	}
	return g.Wait()
}

// localURL is the URL of a listener reached from the same host.
func localURL(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "http://" + addr.String()
	}
	if ip := net.ParseIP(host); host == "" || ip == nil || ip.IsUnspecified() {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// joinPath appends an absolute path to a base URL without doubling slashes.
func joinPath(base, path string) string {
	return strings.TrimRight(base, "/") + path
}
