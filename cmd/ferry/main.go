// Command ferry is the CLI of Ferry, a CI/CD pipeline engine for monorepos of microservices
// that ship to Kubernetes. main only wires signals and the process's streams; every command is
// a call into the ferry packages.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := Main(ctx, os.Args[1:], Streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr}, os.Getenv)
	stop()
	os.Exit(code)
}
