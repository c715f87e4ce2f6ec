package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ferry-ci/ferry/pipeline"
	"github.com/ferry-ci/ferry/pipeline/config"
	"github.com/ferry-ci/ferry/pipeline/mask"
	"github.com/ferry-ci/ferry/pipeline/report"
	"github.com/ferry-ci/ferry/pipeline/workspace"
	"github.com/ferry-ci/ferry/stages/command"
	"github.com/ferry-ci/ferry/stages/deploy"
	"github.com/ferry-ci/ferry/stages/push"
	"github.com/ferry-ci/ferry/triggers"
)

// renderFlags choose how a run is shown, and how its stages reach registries.
type renderFlags struct {
	logFormat  string
	noProgress bool
	verbose    bool
	registry   string
	stages     stageFlags
}

func (f *renderFlags) bind(fs *pflag.FlagSet) {
	fs.StringVar(&f.logFormat, "log-format", "auto", "auto (terminal, or GitHub Actions / Azure Pipelines when detected), text or json (one event per line)")
	fs.BoolVar(&f.noProgress, "no-progress", false, "plain lines instead of live progress on a terminal")
	fs.BoolVarP(&f.verbose, "verbose", "v", false, "stream every stage's output")
	fs.StringVar(&f.registry, "registry", "", "registry to push to, instead of the config's (host[:port][/namespace])")
	fs.BoolVar(&f.stages.plainHTTP, "plain-http", false, "talk plain HTTP to the registry (loopback registries always are)")
	fs.StringVar(&f.stages.scanDir, "scan-report", "", "folder to write each scan's Trivy JSON and SARIF report to")
	fs.StringVar(&f.stages.kubeconfig, "kubeconfig", "", "kubeconfig for deploy (default: $KUBECONFIG, ~/.kube/config, in-cluster); each environment names its context")
}

// renderer is a reporter that writes something final when the run ends.
type renderer interface {
	pipeline.Reporter
	Close() error
}

// newRenderer picks the renderer for where Ferry runs. Every renderer sits behind the masker:
// it writes to the masked Out, and the files it opens ($GITHUB_STEP_SUMMARY, $GITHUB_OUTPUT,
// the Azure summary) are masked too.
func (a *app) newRenderer(f renderFlags, root string) (renderer, error) {
	if err := oneOfFlag("log-format", f.logFormat, []string{"auto", "text", "json"}); err != nil {
		return nil, err
	}
	if f.logFormat == "json" {
		return report.NewJSONLines(a.Out), nil
	}
	if f.logFormat == "auto" {
		switch triggers.CISystem(a.env) {
		case triggers.SourceGitHub:
			opt := report.GitHubOptions{RepoRoot: root}
			var files []io.Closer
			for _, p := range []struct {
				env string
				dst *io.Writer
			}{{"GITHUB_STEP_SUMMARY", &opt.StepSummary}, {"GITHUB_OUTPUT", &opt.Outputs}} {
				if path := a.env(p.env); path != "" {
					file, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
					if err != nil {
						return nil, fmt.Errorf("open %s: %w", p.env, err)
					}
					masked := a.masker.Writer(file)
					*p.dst = masked
					files = append(files, masked, file) // the masker's last line, then the file
				}
			}
			return &closing{renderer: report.NewGitHub(a.Out, opt), files: files}, nil
		case triggers.SourceAzure:
			dir := a.env("AGENT_TEMPDIRECTORY")
			if dir == "" {
				dir = os.TempDir()
			}
			return report.NewAzure(a.Out, report.AzureOptions{SummaryDir: dir, RepoRoot: root, Mask: a.masker.Mask}), nil
		}
	}
	tty := false
	if file, ok := a.stdout.(*os.File); ok {
		tty = isatty.IsTerminal(file.Fd())
	}
	_, noColor := lookupEnv(a.env, "NO_COLOR")
	return report.NewTerminal(a.Out, report.TerminalOptions{
		TTY: tty, Color: tty && !noColor, Progress: tty && !f.noProgress, Verbose: f.verbose, Now: time.Now,
	}), nil
}

func lookupEnv(env func(string) string, name string) (string, bool) {
	v := env(name)
	return v, v != ""
}

// closing closes files after the renderer's final write.
type closing struct {
	renderer
	files []io.Closer
}

func (c *closing) Close() error {
	err := c.renderer.Close()
	for _, f := range c.files {
		err = errors.Join(err, f.Close())
	}
	return err
}

// engineSetup is what every command that executes runs needs.
type engineSetup struct {
	cfg    *config.Config
	store  pipeline.Store
	engine *pipeline.Engine
	render renderer
}

// setupEngine loads the config and wires the engine: store, stages, renderer, masker. With
// dryRun no store is opened: a dry run writes nothing.
func (a *app) setupEngine(ctx context.Context, ws workspaceFlags, rf renderFlags, stateFlag string, dryRun bool) (*engineSetup, error) {
	cfg, err := a.loadConfig(ws)
	if err != nil {
		return nil, err
	}
	if rf.registry != "" {
		if err := config.CheckRegistry(rf.registry); err != nil {
			return nil, usageError("--registry: %v", err)
		}
		cfg.Registry = rf.registry
	}
	var store pipeline.Store
	if !dryRun {
		if store, err = a.openStore(ctx, cfg, stateFlag); err != nil {
			return nil, err
		}
	}
	// Tokens and client keys of the kubeconfig deploy uses are secrets too.
	a.masker.Add(deploy.KubeconfigSecrets(kubeconfigPath(a.env, rf.stages.kubeconfig))...)
	a.masker.Add(mask.SecretsFromEnv(a.env, signingSecrets(a.env))...)
	rend, err := a.newRenderer(rf, cfg.Root)
	if err != nil {
		return nil, err
	}
	stages, err := stageSet(a.env, rf.stages, cfg)
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	eng := &pipeline.Engine{
		Config: cfg, Store: store, Stages: stages, Masker: a.masker,
		Reporter: pipeline.NewReporters(rend),
		Sources:  workspace.NewSources(cfg),
		Environ:  os.Environ(),
		Host:     host, PID: os.Getpid(),
	}
	if cfg.Finally != nil {
		eng.Finally = command.Finally(&cfg.Finally.Command, cfg.Root, pipeline.ScrubCredentials(eng.Environ, nil))
	}
	return &engineSetup{cfg: cfg, store: store, engine: eng, render: rend}, nil
}

// openStore opens the run store: --state, else the config's state, else <repo>/.ferry.
func (a *app) openStore(ctx context.Context, cfg *config.Config, stateFlag string) (pipeline.Store, error) {
	state := cfg.State
	if stateFlag != "" {
		state = stateFlag
	}
	switch {
	case state == "" || state == "local":
		s, err := pipeline.NewLocalStore(filepath.Join(cfg.Root, ".ferry"))
		if err != nil {
			return nil, err
		}
		a.crashHook(s)
		return s, nil
	case strings.HasPrefix(state, "oci://"):
		return openOCIStore(ctx, state, a.env, append(credentialHosts(cfg), push.RegistryHost(state))...)
	default:
		if filepath.IsAbs(state) {
			s, err := pipeline.NewLocalStore(state)
			if err != nil {
				return nil, err
			}
			a.crashHook(s)
			return s, nil
		}
	}
	return nil, usageError("--state %q: expected local, an absolute folder or oci://host/repository", state)
}

// crashHook hands a local store to the test binary's hook, if it set one.
func (a *app) crashHook(s *pipeline.LocalStore) {
	if a.hooks.localStore != nil {
		a.hooks.localStore(s)
	}
}

// runExitCode maps a run's state to the documented exit codes.
func runExitCode(run *pipeline.Run) int {
	switch run.Status() {
	case pipeline.Succeeded:
		return exitOK
	case pipeline.Waiting:
		return exitWaiting
	case pipeline.Cancelled:
		return exitCanceled
	}
	return exitFailed
}

func (a *app) runCommand() *cobra.Command {
	var (
		f        eventFlags
		rf       renderFlags
		services []string
		stage    string
		until    string
		dryRun   bool
		opts     pipeline.RunOptions
		state    string
		hold     string
		wait     waitFlags
	)
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Plan the pipelines for a git event and run them",
		Long: `run plans like ferry plan (same flags and CI detection) and executes the plan: services in
parallel (--jobs), the stages of each service in order. Every step is journaled in the run
store (.ferry/ by default) so that ferry resume continues a failed, cancelled or crashed run.

Secrets (FERRY_REGISTRY_PASSWORD, CI tokens, the variables named in secrets) are masked in
everything ferry writes: its output and errors, stage logs, the journal, CI summaries and
outputs. The finally hook runs when the run stops, within finally.timeout (default 5m).`,
		Example: `  ferry run --ref feature/x --changed src/shipping/delivery/main.go
  ferry run --service delivery --stage build          # one stage on your laptop
  ferry run --ref release/delivery/v1.0.2 --until push
  ferry run --dry-run`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if opts.Jobs < 1 {
				return usageError("--jobs must be at least 1")
			}
			if err := wait.check(); err != nil {
				return err
			}
			popts, err := a.planOptions(&f)
			if err != nil {
				return err
			}
			setup, err := a.setupEngine(ctx, f.workspaceFlags, rf, state, dryRun)
			if err != nil {
				return err
			}
			if err := setup.hold(hold); err != nil {
				return err
			}
			popts.Runs = func(context.Context) (pipeline.Store, error) { return setup.store, nil }
			if dryRun {
				popts.Runs = a.lazyStore(setup.cfg, state)
			}
			plan, err := workspace.MakePlan(ctx, setup.cfg, popts)
			if err != nil {
				return withCode(exitUsage, err)
			}
			if err := plan.Filter(services, stage, until); err != nil {
				return usageError("%v", err)
			}
			if dryRun {
				return report.WriteDryRun(a.Out, pipeline.DryRun(setup.engine, plan))
			}
			if len(plan.Services) == 0 {
				fmt.Fprintf(a.Out, "nothing to run: %s\n", plan.Reason)
				return setup.render.Close()
			}
			opts.DryRun = false
			runSettings(&opts, rf, state)
			if state != "" {
				setup.engine.Reporter = pipeline.NewReporters(&pointerReporter{cfg: setup.cfg, state: state}, setup.engine.Reporter)
			}
			opts.Requester = workspace.Requester(ctx, setup.cfg, a.env, plan.Event.After)
			run, runErr := setup.engine.Start(ctx, plan, opts)
			run, runErr = a.waitForGate(ctx, setup, run, runErr, wait)
			return a.finishRun(setup, run, runErr)
		},
	}
	f.bind(cmd.Flags())
	rf.bind(cmd.Flags())
	fs := cmd.Flags()
	fs.StringArrayVar(&services, "service", nil, "run only this service (repeatable)")
	fs.StringVar(&stage, "stage", "", "run only this stage (build, test, ..., or deploy:qa)")
	fs.StringVar(&until, "until", "", "stop after this stage")
	bindHold(fs, &hold)
	wait.bind(fs)
	fs.BoolVar(&dryRun, "dry-run", false, "print what each stage would do; touch nothing")
	fs.IntVarP(&opts.Jobs, "jobs", "j", runtime.NumCPU(), "services run in parallel")
	_ = fs.SetAnnotation("jobs", docsDefault, []string{"the number of CPUs"})
	fs.BoolVar(&opts.FailFast, "fail-fast", false, "cancel the other services when one fails")
	fs.BoolVar(&opts.NoCache, "no-cache", false, "run stages even when an earlier run had the same inputs")
	fs.BoolVar(&opts.Force, "force", false, "let push and promote move an existing release tag to another digest")
	fs.StringVar(&state, "state", "", "run store: local, an absolute folder, or oci://host/repository (default: the config's state)")
	return cmd
}

// finishRun closes the renderer and turns the run's state into the exit code.
func (a *app) finishRun(setup *engineSetup, run *pipeline.Run, runErr error) error {
	closeErr := setup.render.Close()
	if runErr != nil {
		if run != nil && run.Status() == pipeline.Cancelled {
			return withCode(exitCanceled, runErr)
		}
		if errors.Is(runErr, pipeline.ErrRunBusy) {
			return withCode(exitUsage, runErr)
		}
		return withCode(exitFailed, errors.Join(runErr, closeErr))
	}
	if closeErr != nil {
		return withCode(exitFailed, closeErr)
	}
	if setup.engine.Held(run) {
		fmt.Fprintf(a.Err, "ferry: run %s holds before environment %s; continue it with: ferry resume %s\n", run.ID, setup.engine.StopBeforeEnv, run.ID)
		return nil
	}
	if code := runExitCode(run); code != exitOK {
		return withCode(code, errSilent)
	}
	return nil
}

// bindHold adds --stop-before-env to run and resume.
func bindHold(fs *pflag.FlagSet, hold *string) {
	fs.StringVar(hold, "stop-before-env", "", "leave the stages of this environment and of the later ones pending, for a ferry resume in that environment's CI job; a run that stops there exits 0 with status pending")
}

// hold sets the engine's --stop-before-env, which must name an environment of the config.
func (s *engineSetup) hold(env string) error {
	if env != "" && s.cfg.Environment(env) == nil {
		var names []string
		for _, e := range s.cfg.Environments {
			names = append(names, e.Name)
		}
		return usageError("--stop-before-env %s: no such environment (environments: %s)", env, strings.Join(names, ", "))
	}
	s.engine.StopBeforeEnv = env
	return nil
}
