package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/ferry-ci/ferry/pipeline/config"
	"github.com/ferry-ci/ferry/stages/deploy"
)

// releaseFlags locate a service's release in an environment.
type releaseFlags struct {
	workspaceFlags
	env, kubeconfig, output string
}

func (f *releaseFlags) bind(cmd *cobra.Command) {
	f.workspaceFlags.bind(cmd.Flags())
	cmd.Flags().StringVar(&f.env, "env", "", "environment (its kubeContext and namespace come from ferry.yaml)")
	cmd.Flags().StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG, ~/.kube/config, in-cluster)")
	cmd.Flags().StringVarP(&f.output, "output", "o", "text", "text or json")
}

// target finds the environment and the service in ferry.yaml.
func (a *app) releaseTarget(f releaseFlags, service string) (deploy.Target, *config.Environment, error) {
	if err := oneOfFlag("output", f.output, []string{"text", "json"}); err != nil {
		return deploy.Target{}, nil, err
	}
	if f.env == "" {
		return deploy.Target{}, nil, usageError("--env is required")
	}
	cfg, err := a.loadConfig(f.workspaceFlags)
	if err != nil {
		return deploy.Target{}, nil, err
	}
	if cfg.Service(service) == nil {
		return deploy.Target{}, nil, usageError("service %q is not in %s", service, cfg.File)
	}
	env := cfg.Environment(f.env)
	if env == nil {
		return deploy.Target{}, nil, usageError("--env %s: no such environment in %s", f.env, cfg.File)
	}
	return deploy.Target{Kubeconfig: kubeconfigPath(a.env, f.kubeconfig), Context: env.KubeContext, Namespace: env.Namespace}, env, nil
}

// kubeconfigPath is --kubeconfig, else $KUBECONFIG ("" lets client-go look further).
func kubeconfigPath(env func(string) string, flag string) string {
	if flag != "" {
		return flag
	}
	return env("KUBECONFIG")
}

func (a *app) historyCommand() *cobra.Command {
	var f releaseFlags
	cmd := &cobra.Command{
		Use:   "history SERVICE --env ENV",
		Short: "List the revisions of a service's release in an environment",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, _, err := a.releaseTarget(f, args[0])
			if err != nil {
				return err
			}
			revs, err := deploy.History(cmd.Context(), t, args[0])
			if err != nil {
				return withCode(exitFailed, err)
			}
			return a.writeRevisions(revs, f.output)
		},
	}
	f.bind(cmd)
	return cmd
}

func (a *app) rollbackCommand() *cobra.Command {
	var (
		f        releaseFlags
		revision int
	)
	cmd := &cobra.Command{
		Use:   "rollback SERVICE --env ENV [--revision N]",
		Short: "Roll a service's release back to a revision (default: the one before the current)",
		Long: `rollback returns the release to an earlier revision under the same lease that deploys take, so
it never races a running deploy, and waits until the workloads are ready.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if revision < 0 {
				return usageError("--revision must be positive")
			}
			t, env, err := a.releaseTarget(f, args[0])
			if err != nil {
				return err
			}
			rev, err := deploy.Rollback(cmd.Context(), t, args[0], revision, env.Timeout, a.Err)
			if err != nil {
				return withCode(exitFailed, err)
			}
			return a.writeRevisions([]deploy.Revision{rev}, f.output)
		},
	}
	f.bind(cmd)
	cmd.Flags().IntVar(&revision, "revision", 0, "revision to return to (default: the last deployed one before the current)")
	return cmd
}

func (a *app) writeRevisions(revs []deploy.Revision, output string) error {
	if output == "json" {
		enc := json.NewEncoder(a.Out)
		enc.SetIndent("", "  ")
		if revs == nil {
			revs = []deploy.Revision{}
		}
		return enc.Encode(revs)
	}
	tw := tabwriter.NewWriter(a.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "REVISION\tSTATUS\tCHART\tAPP VERSION\tUPDATED\tRUN\tDESCRIPTION")
	for _, r := range revs {
		run := r.Run
		if run == "" {
			run = "-"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Revision, r.Status, r.Chart, r.AppVersion, r.Updated.UTC().Format("2006-01-02 15:04:05"), run, r.Description)
	}
	return tw.Flush()
}
