// Command echo is the smallest OSSA agent: every task's output is its input.
//
// Run it from the repository root (OSSA_MANIFEST names another manifest):
//
//	OSSA_URL=http://localhost:3000 OSSA_API_KEY=ossa_... go run ./examples/agents/echo
//
// LISTEN_ADDR (default :8080) and PUBLIC_URL (default http://localhost:8080)
// say where it listens and where the platform reaches it.
package main

import (
	"cmp"
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/ossa-platform/ossa/pkg/agentsdk"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		slog.Error("echo agent failed", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	manifest, err := os.ReadFile(cmp.Or(os.Getenv("OSSA_MANIFEST"), "examples/agents/echo.yml"))
	if err != nil {
		return err
	}
	agent, err := agentsdk.New(manifest, func(_ context.Context, t *agentsdk.Task) (any, error) {
		return t.Input, nil
	})
	if err != nil {
		return err
	}
	return agent.Run(ctx)
}
