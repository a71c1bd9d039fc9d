// Command ossa is the OSSA v0.1.8 agent platform: `ossa serve` runs it, the
// other subcommands validate manifests and talk to a running platform.
package main

import (
	"os"

	"github.com/ossa-platform/ossa/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}
