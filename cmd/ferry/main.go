// Command ferry is the CLI of Ferry, a CI/CD pipeline engine for monorepos of microservices
// that ship to Kubernetes. main only wires signals and the process's streams; every command is
// a call into the ferry packages.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/ferry-ci/ferry/pipeline"
)

func main() { os.Exit(runMain(hooks{})) }

// hooks let the test binary, which re-executes itself as ferry, reach into a real process (the
// crash tests stop it right after a journal append). The ferry command sets none.
type hooks struct {
	// localStore is called with every local run store the process opens.
	localStore func(*pipeline.LocalStore)
}

// runMain runs the CLI with the process's arguments, streams and signals. The first SIGINT or
// SIGTERM cancels the run (commands are stopped, the journal says cancelled); a second one
// ends Ferry at once, killing what it started.
func runMain(h hooks) int {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		fmt.Fprintln(os.Stderr, "ferry: stopping; send the signal again (Ctrl-C) to end at once")
		cancel()
		<-sigs
		fmt.Fprintln(os.Stderr, "ferry: second signal: killing the commands and ending now")
		killChildren()
		os.Exit(exitCanceled)
	}()
	code := mainWith(ctx, os.Args[1:], Streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr}, os.Getenv, h)
	signal.Stop(sigs)
	cancel()
	return code
}
