package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ferry-ci/ferry/pipeline"
	"github.com/ferry-ci/ferry/pipeline/config"
	"github.com/ferry-ci/ferry/pipeline/report"
	"github.com/ferry-ci/ferry/pipeline/workspace"
	"github.com/ferry-ci/ferry/triggers"
	"github.com/ferry-ci/ferry/triggers/changes"
	"github.com/ferry-ci/ferry/triggers/compat"
)

// workspaceFlags locate the repository and its config.
type workspaceFlags struct {
	repo, config string
}

func (f *workspaceFlags) bind(fs *pflag.FlagSet) {
	fs.StringVar(&f.repo, "repo", "", "folder whose ferry.yaml to use (default: the nearest ferry.yaml from here up to the git root)")
	fs.StringVar(&f.config, "config", "", "config file; its paths are relative to its folder (default: see --repo)")
}

func (a *app) workspace(f workspaceFlags) (workspace.Workspace, error) {
	wd, err := a.getwd()
	if err != nil {
		return workspace.Workspace{}, err
	}
	return workspace.Workspace{WorkDir: wd, Repo: f.repo, ConfigFile: f.config}, nil
}

// loadConfig reads ferry.yaml; an invalid config is a usage error listing every problem.
func (a *app) loadConfig(f workspaceFlags) (*config.Config, error) {
	ws, err := a.workspace(f)
	if err != nil {
		return nil, err
	}
	cfg, err := ws.LoadConfig()
	a.addSecrets(cfg)
	if err != nil {
		var errs config.Errors
		if errors.As(err, &errs) {
			fmt.Fprintln(a.Err, errs.Error())
			return nil, withCode(exitUsage, fmt.Errorf("the config has %d problems (listed above)", len(errs)))
		}
		return nil, withCode(exitUsage, err)
	}
	return cfg, nil
}

// eventFlags select the git event and its changed paths.
type eventFlags struct {
	workspaceFlags
	event       triggers.EventFlags
	changed     []string
	changedFrom string
	gitBackend  string
	noFetch     bool
}

func (f *eventFlags) bind(fs *pflag.FlagSet) {
	f.workspaceFlags.bind(fs)
	fs.StringVar(&f.event.Event, "event", "", "event kind: push or pr (default: from the CI environment, else push)")
	fs.StringVar(&f.event.Ref, "ref", "", "pushed ref, or the source branch of a pr (default: the current branch)")
	fs.StringVar(&f.event.Before, "before", "", "commit the branch pointed at before the push (empty or 000… for a new branch)")
	fs.StringVar(&f.event.After, "after", "", "pushed commit, or the head of the pr (default: HEAD)")
	fs.StringVar(&f.event.Base, "base", "", "target branch of a pr")
	fs.StringArrayVar(&f.changed, "changed", nil, "a changed path (repeatable); skips the git diff")
	fs.StringVar(&f.changedFrom, "changed-from", "", "file with one changed path per line, or - for stdin; skips the git diff")
	fs.StringVar(&f.gitBackend, "git", "auto", "how to diff: auto (git CLI when installed, else go-git), git or go-git")
	fs.BoolVar(&f.noFetch, "no-fetch", false, "never fetch from the remote what a shallow checkout lacks (the diff base or history)")
}

// planOptions turns the flags into the options of workspace.MakePlan.
func (a *app) planOptions(f *eventFlags) (workspace.PlanOptions, error) {
	o := workspace.PlanOptions{Flags: f.event, Env: a.env, Git: changes.Backend(f.gitBackend), NoFetch: f.noFetch}
	if err := oneOfFlag("git", f.gitBackend, []string{"auto", "git", "go-git"}); err != nil {
		return o, err
	}
	if len(f.changed) > 0 && f.changedFrom != "" {
		return o, usageError("--changed and --changed-from cannot be combined")
	}
	if len(f.changed) > 0 {
		o.Changed, o.ChangedGiven = f.changed, true
	}
	if f.changedFrom != "" {
		paths, err := a.readPathList(f.changedFrom)
		if err != nil {
			return o, usageError("--changed-from %s: %v", f.changedFrom, err)
		}
		o.Changed, o.ChangedGiven = paths, true
	}
	return o, nil
}

// readPathList reads changed paths from a file or stdin ("-"): one per line, or
// NUL-separated as git -z prints them.
func (a *app) readPathList(src string) ([]string, error) {
	var r io.Reader = a.In
	if src != "-" {
		file, err := os.Open(src)
		if err != nil {
			return nil, err
		}
		defer file.Close()
		r = file
	}
	return compat.ReadPaths(r)
}

func (a *app) planCommand() *cobra.Command {
	var f eventFlags
	var output, state string
	var explain bool
	var maxJobs int
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "Show which services a git event affects, the pipeline and stages each runs, and why",
		Long: `plan reads ferry.yaml and the git event (from the flags, or from the GitHub Actions or
Azure Pipelines environment), finds the changed paths and prints the plan.

A service is affected when a changed path is under its path or paths.include (minus
paths.exclude), under a folder, file or glob of its dependsOn, or under globalDependencies, or
when a service it depends on is affected. --explain adds, for every service, whether it is
included and the rule that decided it ("frontend: not affected — no changed path under
src/web/frontend or its dependencies (go.mod)"); -o json lists the services left out under
"unaffected", each with its "name" and "reason".

A release trigger (release: true) runs the one service a release branch names
(releaseBranch, release/{service}/{version} by default) or, on a tag push, a release tag
(releaseTag, e.g. {service}/v{version}).

In GitHub Actions it also writes matrix, services and count to $GITHUB_OUTPUT; in Azure
Pipelines it sets them as output variables. With no affected services the matrix is empty
and count is 0: guard the matrix job with a condition on count.

GitHub Actions and Azure Pipelines refuse a matrix of more than 256 jobs. When the plan has
more services than --max-jobs (default 256), the matrix (-o github-matrix, -o azure-matrix and
the CI outputs) groups them into --max-jobs shards: each entry's "services" lists the services
the job runs (space-separated, one --service each) and its "service" is the shard's name
(shard-001). Shards are balanced by the services' last measured durations in the run store,
else by count. Below the limit each entry runs one service and "services" is its name.

Shallow checkouts (fetch-depth 1, the default of both CI systems) are fine: the commit a diff
starts from is fetched from the checkout's remote with --depth=1, and a pull request's or a
new branch's history is deepened step by step until the merge-base is there (--no-fetch
turns this off). A push whose CI system gives no before commit (Azure Pipelines,
workflow_dispatch) starts from the last commit of the branch whose runs all succeeded in the
run store, else from the pipeline's last successful build (Azure REST API, with
SYSTEM_ACCESSTOKEN mapped), else every service is affected.`,
		Example: `  ferry plan --event push --ref feature/x --before 1a2b3c4 --after 5d6e7f8
  ferry plan --changed go.mod --explain
  ferry plan --event pr --base main --output github-matrix
  ferry plan --ref release/delivery/v1.0.2 --output json
  ferry plan --ref refs/tags/delivery/v1.2.3          # a release tag, with releaseTag set
  git diff --name-only main... | ferry plan --ref feature/x --changed-from -`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := oneOfFlag("output", output, report.PlanFormats()); err != nil {
				return err
			}
			if maxJobs < 1 {
				return usageError("--max-jobs must be at least 1")
			}
			opts, err := a.planOptions(&f)
			if err != nil {
				return err
			}
			cfg, err := a.loadConfig(f.workspaceFlags)
			if err != nil {
				return err
			}
			opts.Runs = a.lazyStore(cfg, state)
			plan, err := workspace.MakePlan(cmd.Context(), cfg, opts)
			if err != nil {
				return withCode(exitUsage, err)
			}
			matrix := a.matrixOptions(cmd.Context(), plan, maxJobs, opts.Runs)
			if err := a.exportPlan(plan, output, matrix); err != nil {
				return err
			}
			if err := report.WritePlan(a.Out, plan, output, report.PlanOptions{Explain: explain, Matrix: matrix}); err != nil || !explain || output != "text" {
				return err
			}
			return a.explainCache(cmd.Context(), cfg, plan, opts.Runs)
		},
	}
	f.bind(cmd.Flags())
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text, json, github-matrix or azure-matrix")
	cmd.Flags().StringVar(&state, "state", "", "run store where a push without a before commit finds the branch's last run (default: the config's state)")
	cmd.Flags().BoolVar(&explain, "explain", false, "list every service, included or not, with the rule that decided it (-o json always has it), and what the cache would serve")
	cmd.Flags().IntVar(&maxJobs, "max-jobs", report.DefaultMaxJobs, "most jobs in a CI matrix; more services are grouped into this many shards")
	return cmd
}

// matrixOptions shards the matrix when the plan has more services than maxJobs, balanced by
// the durations the run store measured. Those only balance the shards: when the store cannot
// say, the shards are balanced by count and the plan goes on, with a warning.
func (a *app) matrixOptions(ctx context.Context, plan *pipeline.Plan, maxJobs int, runs func(context.Context) (pipeline.Store, error)) report.MatrixOptions {
	o := report.MatrixOptions{MaxJobs: maxJobs}
	if !o.Sharded(plan) || runs == nil {
		return o
	}
	store, err := runs(ctx)
	if err == nil {
		o.Durations, err = pipeline.LastDurations(ctx, store, plan.ServiceNames())
	}
	if err != nil {
		fmt.Fprintf(a.Err, "ferry: warning: shards balanced by count: %v\n", err)
	}
	return o
}

// exportPlan hands the plan's outputs to the CI system Ferry runs in.
func (a *app) exportPlan(plan *pipeline.Plan, output string, matrix report.MatrixOptions) error {
	switch ci := triggers.CISystem(a.env); ci {
	case triggers.SourceGitHub:
		path := a.env("GITHUB_OUTPUT")
		if path == "" {
			return nil
		}
		file, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			return fmt.Errorf("open GITHUB_OUTPUT: %w", err)
		}
		w := a.masker.Writer(file)
		err = report.WriteGitHubOutputs(w, report.PlanOutputs(plan, ci, matrix))
		return errors.Join(err, w.Close(), file.Close())
	case triggers.SourceAzure:
		return report.WriteAzureOutputs(a.ciCommands(output), report.PlanOutputs(plan, ci, matrix))
	}
	return nil
}

func (a *app) validateCommand() *cobra.Command {
	var f workspaceFlags
	cmd := &cobra.Command{
		Use:   "validate",
		Short: "Check ferry.yaml and print every problem as file:line:col: message",
		Long: `validate reads ferry.yaml and prints every problem at once as file:line:col: field: message:
unknown or duplicate keys, bad globs, unknown services or folders, dependency cycles, stage
order, durations (stages.*.timeout, finally.timeout), approvals without approvers, release
shapes (releaseBranch, releaseTag), and release triggers whose branches or tags can never
match a release branch or tag of those shapes.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ws, err := a.workspace(f)
			if err != nil {
				return err
			}
			cfg, err := ws.LoadConfig()
			a.addSecrets(cfg)
			var errs config.Errors
			if errors.As(err, &errs) {
				fmt.Fprintln(a.Out, errs.Error())
				return withCode(exitFailed, errSilent)
			}
			if err != nil {
				return withCode(exitUsage, err)
			}
			_, err = fmt.Fprintf(a.Out, "%s: ok (%d services, %d triggers, %d environments)\n",
				cfg.File, len(cfg.Services), len(cfg.Triggers), len(cfg.Environments))
			return err
		},
	}
	f.bind(cmd.Flags())
	return cmd
}

// ciCommands is where logging commands go: the agent reads them from stdout and stderr, and
// stdout is for the document when the output is machine-readable (-o json is piped to a file
// or to jq, where a ##vso line would corrupt it and never reach the agent). For text they go
// to stdout, which also keeps steps with failOnStderr green.
func (a *app) ciCommands(output string) io.Writer {
	if output == "" || output == "text" {
		return a.Out
	}
	return a.Err
}

// explainCache adds to plan --explain what the results cache would serve of each service's
// stages, and why the first stage it would not serve runs. It runs no stage; a store that
// cannot be opened only leaves this part out.
func (a *app) explainCache(ctx context.Context, cfg *config.Config, plan *pipeline.Plan, runs func(context.Context) (pipeline.Store, error)) error {
	if len(plan.Services) == 0 {
		return nil
	}
	store, err := runs(ctx)
	if err != nil {
		fmt.Fprintf(a.Err, "ferry: warning: no cache forecast: %v\n", err)
		return nil
	}
	stages, err := stageSet(a.env, stageFlags{}, cfg)
	if err != nil {
		return err
	}
	eng := &pipeline.Engine{Config: cfg, Store: store, Stages: stages, Masker: a.masker,
		Sources: workspace.NewSources(cfg), Environ: os.Environ()}
	var b strings.Builder
	b.WriteString("\ncache:\n")
	for _, f := range eng.ForecastCache(ctx, plan) {
		for _, line := range f.Lines {
			fmt.Fprintf(&b, "  %s %s\n", f.Service, line)
		}
	}
	_, err = io.WriteString(a.Out, b.String())
	return err
}
