package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ferry-ci/ferry/pipeline/config"
	"github.com/ferry-ci/ferry/pipeline/mask"
)

// Exit codes, documented in ferry --help and the README.
const (
	exitOK       = 0
	exitFailed   = 1 // a pipeline, a validation or an evaluation failed
	exitUsage    = 2 // bad flags, bad config, missing files
	exitWaiting  = 3 // a run is waiting for an approval
	exitCanceled = 130
)

// version is set at link time (-ldflags "-X main.version=v1.2.3"); otherwise the module
// version from the build info is used.
var version = ""

// Streams are the process's standard streams.
type Streams struct {
	In       io.Reader
	Out, Err io.Writer
}

// app is what every command needs from the process: its streams and environment.
type app struct {
	// Streams are the process's, with Out and Err behind the masker: nothing a command prints
	// (renderers, plans, status, errors) reaches the terminal or the CI log unmasked.
	Streams
	// stdout is the unmasked standard output, only to ask whether it is a terminal.
	stdout io.Writer
	// masker knows the secrets of the environment (registry passwords, CI tokens) from the
	// start and those the config names in secrets once it is loaded.
	masker *mask.Masker
	env    func(string) string
	getwd  func() (string, error)
	hooks  hooks
}

// exitError carries an exit code other than the default for an error.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func withCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &exitError{code: code, err: err}
}

// usageError marks an error as the user's (bad flag, bad config): exit code 2.
func usageError(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

// Main runs the CLI with the given arguments and returns the exit code.
func Main(ctx context.Context, args []string, s Streams, env func(string) string) int {
	return mainWith(ctx, args, s, env, hooks{})
}

func mainWith(ctx context.Context, args []string, s Streams, env func(string) string, h hooks) int {
	masker := mask.New(mask.SecretsFromEnv(env, nil)...)
	out, errOut := masker.Writer(s.Out), masker.Writer(s.Err)
	a := &app{Streams: Streams{In: s.In, Out: out, Err: errOut}, stdout: s.Out, masker: masker, env: env, getwd: os.Getwd, hooks: h}
	code := a.execute(ctx, args)
	// The masking writers hold a line until it ends: write what is left.
	_ = out.Close()
	_ = errOut.Close()
	return code
}

// execute runs the command line and prints its error, masked, to Err.
func (a *app) execute(ctx context.Context, args []string) int {
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetIn(a.In)
	root.SetOut(a.Out)
	root.SetErr(a.Err)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	var ee *exitError
	code := exitUsage
	if errors.As(err, &ee) {
		code = ee.code
	}
	if errors.Is(err, errSilent) {
		return code
	}
	switch {
	case ctx.Err() != nil && errors.Is(err, context.Canceled):
		fmt.Fprintf(a.Err, "ferry: interrupted: %v\n", err)
		return exitCanceled
	default:
		fmt.Fprintf(a.Err, "ferry: %v\n", err)
	}
	return code
}

// errSilent is returned by commands that already reported their failure.
var errSilent = errors.New("reported")

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "ferry",
		Short: "CI/CD pipelines for monorepos of microservices that ship to Kubernetes",
		Long: `Ferry reads ferry.yaml at the root of a monorepo, decides from a git event which
services are affected and which stages they run (build, test, image, scan, push, ...),
and runs those pipelines the same way on a laptop, in GitHub Actions and in Azure Pipelines.

Exit codes:
  0    success
  1    failed: a stage failed, the config is invalid (validate), an evaluation failed
  2    usage or config error: bad flags, unreadable or invalid ferry.yaml
  3    a run is waiting for an approval
  130  cancelled (SIGINT/SIGTERM)`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError("%v (see %s --help)", err, c.CommandPath())
	})
	root.AddCommand(
		a.versionCommand(),
		a.validateCommand(),
		a.planCommand(),
		a.triggersCommand(),
		a.runCommand(),
		a.runsCommand(),
		a.statusCommand(),
		a.logsCommand(),
		a.resumeCommand(),
		a.cancelCommand(),
		a.approveCommand(),
		a.rejectCommand(),
		a.historyCommand(),
		a.ciCommand(),
		a.rollbackCommand(),
		a.verifyCommand(),
		a.releaseCommand(),
		a.docsCommand(),
	)
	return root
}

func (a *app) versionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print Ferry's version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintln(a.Out, "ferry", buildVersion())
			return err
		},
	}
}

func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

// oneOfFlag checks a flag value against its allowed values.
func oneOfFlag(flag, v string, allowed []string) error {
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	return usageError("--%s %q: expected one of: %s", flag, v, strings.Join(allowed, ", "))
}

// addSecrets teaches the masker the values of the variables the config names in secrets, as
// soon as the config is read: before anything from the run is printed.
func (a *app) addSecrets(cfg *config.Config) {
	if cfg != nil {
		a.masker.Add(mask.SecretsFromEnv(a.env, cfg.Secrets)...)
	}
}
