package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/google/renameio/v2"
	"github.com/spf13/cobra"

	"github.com/ferry-ci/ferry/pipeline/cigen"
	"github.com/ferry-ci/ferry/pipeline/config"
)

func (a *app) ciCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ci",
		Short: "Write the CI files that run Ferry",
	}
	cmd.AddCommand(a.ciGenerateCommand())
	return cmd
}

// generators are the CI systems ferry ci generate writes for.
var generators = map[string]func(*config.Config, cigen.Options) ([]byte, []string, error){
	"github": cigen.GitHub,
	"azure":  cigen.Azure,
}

func (a *app) ciGenerateCommand() *cobra.Command {
	var (
		ws       workspaceFlags
		output   string
		check    bool
		ferryRef string
	)
	cmd := &cobra.Command{
		Use:   "generate (github | azure) [-o FILE] [--check]",
		Short: "Write a GitHub Actions workflow or an azure-pipelines.yml from ferry.yaml",
		Long: `generate writes the CI file that runs Ferry for this repository, made from ferry.yaml, to
stdout or to -o FILE. The same ferry.yaml always gives the same file.

github: a GitHub Actions workflow (.github/workflows/ferry.yml). on: mirrors the push and
pull_request branch and tag filters of ferry.yaml's triggers. Job plan runs ferry plan; its
outputs matrix and count drive job pipeline, one job per affected service (ferry run
--service ..., through the Ferry action), guarded by count != '0'. Release pipelines that
reach environments stop before the first one (--stop-before-env); then one job per
environment, bound to the GitHub environment of that name (give it required reviewers where
ferry.yaml has an approval), runs ferry approve and ferry resume for it. Every job gets
contents: read only; actions are pinned by commit SHA; checkouts keep depth 1 with
persisted credentials; deploys of a service to an environment never overlap (concurrency).

azure: an azure-pipelines.yml. trigger: and pr: mirror the triggers. Stage Build: job Plan
installs Ferry and runs ferry plan (output variables matrix, services, count); job Build
runs the matrix, $[ dependencies.Plan.outputs['plan.matrix'] ], guarded by count. Then one
stage per environment with a deployment job bound to the Azure environment of that name,
where approvals and checks sit, continuing the release run with ferry resume.

Environment jobs continue the run the pipeline job started on another machine, so
ferry.yaml needs state: oci://<registry>/<repository>; generate warns when it lacks it.

The matrix has at most 256 jobs (both vendors' limit): with more affected services each job
runs a shard of them (ferry plan --max-jobs), its "services" field listing them.

--check compares -o FILE with what generate would write: it prints a diff and exits 1 when
they differ, exits 0 when they are the same. Run it in CI to catch a ferry.yaml change
without a regenerated CI file.`,
		Example: `  ferry ci generate github -o .github/workflows/ferry.yml
  ferry ci generate azure --config services/ferry.yaml -o azure-pipelines.yml
  ferry ci generate github -o .github/workflows/ferry.yml --check
  ferry ci generate github --ferry-ref 0123456789abcdef0123456789abcdef01234567 > ferry.yml`,
		ValidArgs: []string{"github", "azure"},
		Args:      cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			gen, ok := generators[args[0]]
			if !ok {
				return usageError("generate %q: expected github or azure", args[0])
			}
			if check && output == "" {
				return usageError("--check needs -o FILE: the file to compare")
			}
			cfg, err := a.loadConfig(ws)
			if err != nil {
				return err
			}
			opts, err := ciOptions(cfg, ferryRef)
			if err != nil {
				return err
			}
			data, warnings, err := gen(cfg, opts)
			if err != nil {
				return withCode(exitFailed, err)
			}
			for _, w := range warnings {
				fmt.Fprintf(a.Err, "ferry: warning: %s\n", w)
			}
			switch {
			case check:
				return a.checkGenerated(output, data, args[0])
			case output != "":
				return writeGenerated(output, data)
			}
			_, err = a.Out.Write(data)
			return err
		},
	}
	ws.bind(cmd.Flags())
	cmd.Flags().StringVarP(&output, "output", "o", "", "file to write (default: stdout); with --check, the file to compare")
	cmd.Flags().BoolVar(&check, "check", false, "compare -o FILE with what would be generated: exit 1 and print a diff when they differ")
	cmd.Flags().StringVar(&ferryRef, "ferry-ref", "", "Ferry the jobs run: the action's ref on GitHub (default main), the go install version on Azure (default latest); a commit SHA pins it")
	return cmd
}

// ciOptions places the config in its repository: the CI file lives at the repository root
// and runs Ferry in the config's folder.
func ciOptions(cfg *config.Config, ferryRef string) (cigen.Options, error) {
	dir, err := filepath.Abs(cfg.Root)
	if err != nil {
		return cigen.Options{}, err
	}
	root := repoRoot(dir)
	rel := func(p string) string {
		r, err := filepath.Rel(root, p)
		if err != nil {
			return p
		}
		return filepath.ToSlash(r)
	}
	o := cigen.Options{ConfigPath: rel(filepath.Join(dir, filepath.Base(cfg.File))), FerryRef: ferryRef}
	// The Go the services build with: the config's module, else the repository's.
	for _, d := range []string{dir, root} {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			o.GoVersionFile = rel(filepath.Join(d, "go.mod"))
			break
		}
	}
	return o, nil
}

// repoRoot is the nearest folder from dir up that has .git, else dir itself.
func repoRoot(dir string) string {
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Lstat(filepath.Join(d, ".git")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			return dir
		}
	}
}

func writeGenerated(file string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return fmt.Errorf("write %s: %w", file, err)
	}
	if err := renameio.WriteFile(file, data, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", file, err)
	}
	return nil
}

// checkGenerated exits 0 when file holds what generate writes, else prints the diff and
// exits 1.
func (a *app) checkGenerated(file string, want []byte, target string) error {
	have, err := os.ReadFile(file)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return withCode(exitUsage, fmt.Errorf("--check: %w", err))
	}
	diff, removed, added := cigen.Diff(file, have, want)
	if diff == "" {
		_, err := fmt.Fprintf(a.Out, "%s is up to date\n", file)
		return err
	}
	if _, err := fmt.Fprint(a.Out, diff); err != nil {
		return err
	}
	what := fmt.Sprintf("differs (-%d +%d lines) from", removed, added)
	if have == nil {
		what = "does not exist; it should hold"
	}
	return withCode(exitFailed, fmt.Errorf("%s %s what ferry ci generate %s writes: regenerate it with -o %s (without --check)", file, what, target, file))
}
