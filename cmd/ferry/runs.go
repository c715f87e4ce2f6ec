package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/ferry-ci/ferry/pipeline"
	"github.com/ferry-ci/ferry/pipeline/config"
	"github.com/ferry-ci/ferry/pipeline/report"
)

// storeFlags locate the run store.
type storeFlags struct {
	workspaceFlags
	state  string
	output string
}

func (f *storeFlags) bind(cmd *cobra.Command) {
	f.workspaceFlags.bind(cmd.Flags())
	cmd.Flags().StringVar(&f.state, "state", "", "run store: local, an absolute folder, or oci://host/repository (default: the config's state)")
	cmd.Flags().StringVarP(&f.output, "output", "o", "text", "text or json")
}

// openStoreFor loads the config and opens its run store.
func (a *app) openStoreFor(cmd *cobra.Command, f storeFlags) (*config.Config, pipeline.Store, error) {
	if err := oneOfFlag("output", f.output, []string{"text", "json"}); err != nil {
		return nil, nil, err
	}
	cfg, err := a.loadConfig(f.workspaceFlags)
	if err != nil {
		return nil, nil, err
	}
	store, err := a.openStore(cmd.Context(), cfg, f.state)
	return cfg, store, err
}

// loadRun opens the store and loads a run; an unknown run is a usage error.
func (a *app) loadRun(cmd *cobra.Command, f storeFlags, id string) (pipeline.Store, *pipeline.Run, error) {
	_, store, err := a.openRunStore(cmd, f, id)
	if err != nil {
		return nil, nil, err
	}
	run, err := store.Load(cmd.Context(), id)
	if err != nil {
		return nil, nil, notFound(err)
	}
	return store, run, nil
}

// openRunStore opens the store that holds run id: --state, else where the run said it lives.
func (a *app) openRunStore(cmd *cobra.Command, f storeFlags, id string) (*config.Config, pipeline.Store, error) {
	if err := oneOfFlag("output", f.output, []string{"text", "json"}); err != nil {
		return nil, nil, err
	}
	cfg, err := a.loadConfig(f.workspaceFlags)
	if err != nil {
		return nil, nil, err
	}
	store, err := a.openStore(cmd.Context(), cfg, runState(cfg, f.state, id))
	return cfg, store, err
}

func notFound(err error) error {
	if errors.Is(err, pipeline.ErrRunNotFound) {
		return withCode(exitUsage, err)
	}
	return err
}

func (a *app) runsCommand() *cobra.Command {
	var f storeFlags
	cmd := &cobra.Command{
		Use:   "runs",
		Short: "List runs, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, store, err := a.openStoreFor(cmd, f)
			if err != nil {
				return err
			}
			runs, err := store.List(cmd.Context())
			if err != nil {
				return err
			}
			return report.WriteRunList(a.Out, runs, f.output)
		},
	}
	f.bind(cmd)
	cmd.AddCommand(a.runsPruneCommand())
	return cmd
}

func (a *app) statusCommand() *cobra.Command {
	var f storeFlags
	cmd := &cobra.Command{
		Use:   "status RUN",
		Short: "Show a run's stages with state, timing and outputs",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, run, err := a.loadRun(cmd, f, args[0])
			if err != nil {
				return err
			}
			return report.WriteRunStatus(a.Out, run, f.output)
		},
	}
	f.bind(cmd)
	return cmd
}

func (a *app) logsCommand() *cobra.Command {
	var (
		f       storeFlags
		service string
		stage   string
	)
	cmd := &cobra.Command{
		Use:   "logs RUN",
		Short: "Print the logs of a run's stages",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			store, run, err := a.loadRun(cmd, f, args[0])
			if err != nil {
				return err
			}
			type logEntry struct {
				Service string           `json:"service"`
				Stage   pipeline.StageID `json:"stage"`
				Status  pipeline.Status  `json:"state"`
				Log     string           `json:"log"`
			}
			var entries []logEntry
			for _, svc := range run.Services {
				if service != "" && svc.Name != service {
					continue
				}
				for _, s := range svc.Stages {
					if (stage != "" && !s.ID.Matches(stage)) || s.Log == "" {
						continue
					}
					rc, err := store.OpenLog(cmd.Context(), run.ID, s.Log)
					if err != nil {
						return fmt.Errorf("log of %s %s: %w", svc.Name, s.ID, err)
					}
					data, err := io.ReadAll(rc)
					rc.Close()
					if err != nil {
						return err
					}
					entries = append(entries, logEntry{svc.Name, s.ID, s.Status, string(data)})
				}
			}
			if service != "" && run.Service(service) == nil {
				return usageError("--service %s: not in run %s", service, run.ID)
			}
			if f.output == "json" {
				enc := json.NewEncoder(a.Out)
				enc.SetIndent("", "  ")
				if entries == nil {
					entries = []logEntry{}
				}
				return enc.Encode(entries)
			}
			for _, e := range entries {
				fmt.Fprintf(a.Out, "==> %s %s (%s) <==\n%s", e.Service, e.Stage, e.Status, e.Log)
				if len(e.Log) > 0 && e.Log[len(e.Log)-1] != '\n' {
					fmt.Fprintln(a.Out)
				}
			}
			return nil
		},
	}
	f.bind(cmd)
	cmd.Flags().StringVar(&service, "service", "", "only this service")
	cmd.Flags().StringVar(&stage, "stage", "", "only this stage (build, deploy, deploy:qa, ...)")
	return cmd
}

func (a *app) resumeCommand() *cobra.Command {
	var (
		ws       workspaceFlags
		rf       renderFlags
		state    string
		takeover bool
		hold     string
		wait     waitFlags
	)
	cmd := &cobra.Command{
		Use:   "resume RUN",
		Short: "Continue a run: re-run the stages that did not succeed",
		Long: `resume continues a failed, cancelled, crashed or approved run with the config it was planned
with. Stages that succeeded are not repeated; a stage that was interrupted runs again and
checks what it already did (an image already pushed, a revision already deployed).

--stop-before-env ENV continues only up to the environment ENV: a CI job bound to one
environment resumes the run with the next environment held, and the next environment's job
continues from there.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := wait.check(); err != nil {
				return err
			}
			setup, err := a.setupResume(cmd.Context(), ws, rf, state, args[0])
			if err != nil {
				return err
			}
			setup.engine.Takeover = takeover
			if err := setup.hold(hold); err != nil {
				setup.render.Close()
				return err
			}
			run, err := setup.engine.Resume(cmd.Context(), args[0])
			run, err = a.waitForGate(cmd.Context(), setup, run, err, wait)
			return a.finishRun(setup, run, err)
		},
	}
	ws.bind(cmd.Flags())
	rf.bind(cmd.Flags())
	cmd.Flags().StringVar(&state, "state", "", "run store (default: the config's state)")
	cmd.Flags().BoolVar(&takeover, "takeover", false, "resume a run the journal says another machine executes (its job is gone)")
	bindHold(cmd.Flags(), &hold)
	wait.bind(cmd.Flags())
	return cmd
}

func (a *app) cancelCommand() *cobra.Command {
	var f storeFlags
	cmd := &cobra.Command{
		Use:   "cancel RUN",
		Short: "Cancel a run: stop it if it is executing here, mark its unfinished stages cancelled",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, store, err := a.openRunStore(cmd, f, args[0])
			if err != nil {
				return err
			}
			host, _ := os.Hostname()
			signal := func(pid int) error { return syscall.Kill(pid, syscall.SIGTERM) }
			run, pid, err := pipeline.Cancel(cmd.Context(), store, args[0], host, signal, time.Now())
			if err != nil {
				return notFound(err)
			}
			if pid != 0 {
				fmt.Fprintf(a.Out, "sent SIGTERM to pid %d, which is executing run %s\n", pid, run.ID)
				return nil
			}
			return report.WriteRunStatus(a.Out, run, f.output)
		},
	}
	f.bind(cmd)
	return cmd
}

// approverIdentity decides who approves. In CI the CI system says who triggered the job
// (GITHUB_ACTOR, BUILD_REQUESTEDFOREMAIL) and --as may not claim someone else; elsewhere --as
// or $FERRY_APPROVER is trusted as given.
func approverIdentity(env func(string) string, as string) (string, error) {
	ci := ""
	switch {
	case env("GITHUB_ACTIONS") == "true":
		ci = env("GITHUB_ACTOR")
	case env("TF_BUILD") != "":
		ci = env("BUILD_REQUESTEDFOREMAIL")
	}
	if ci != "" {
		if as != "" && as != ci {
			return "", usageError("--as %s: this CI job was started by %s", as, ci)
		}
		return ci, nil
	}
	if as == "" {
		as = env("FERRY_APPROVER")
	}
	if as == "" {
		return "", usageError("who approves? pass --as (or set FERRY_APPROVER)")
	}
	return as, nil
}
