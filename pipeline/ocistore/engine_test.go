package ocistore

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-ci/ferry/pipeline"
	"github.com/ferry-ci/ferry/pipeline/config"
)

const engineConfig = `version: 1
registry: registry.example.com/apps
services:
  api: {path: src/api, build: make}
triggers:
  release: {branches: {include: ['release/*']}, stages: [build, image, push, chart, deploy]}
environments:
  - {name: prod, approval: {signed: false, approvers: [alice@example.com], minApprovals: 1}}
`

// buildStage writes a work file and verifies it is still there: on another machine it is not,
// so the engine builds again there.
type buildStage struct {
	store *Store
	runs  atomic.Int32
}

func (b *buildStage) Name() string { return config.StageBuild }

func (b *buildStage) Run(ctx context.Context, job *pipeline.Job) error {
	b.runs.Add(1)
	fmt.Fprintln(job.Log, "building", job.Pipeline.Name)
	if err := os.MkdirAll(job.Dir, 0o755); err != nil { // stages create their work folder
		return err
	}
	if err := os.WriteFile(filepath.Join(job.Dir, "app.bin"), []byte("binary"), 0o644); err != nil {
		return err
	}
	job.Outputs.Build = &pipeline.BuildOutput{Files: map[string]string{"app.bin": "sha256:0"}}
	return nil
}

func (b *buildStage) Verify(ctx context.Context, job *pipeline.Job, out pipeline.Outputs) error {
	_, err := os.Stat(filepath.Join(b.store.Dir(job.Run.ID), "work", job.Pipeline.Name, "build", "app.bin"))
	return err
}

// approveStage waits until the run has an approval for its environment.
type approveStage struct{}

func (approveStage) Name() string { return config.StageApprove }

func (approveStage) Run(ctx context.Context, job *pipeline.Job) error {
	env := job.Stage.Env()
	var by []string
	for _, a := range job.Run.ApprovalsFor(env) {
		by = append(by, a.By)
	}
	if len(by) == 0 {
		fmt.Fprintln(job.Log, "waiting for an approval of", env)
		return &pipeline.WaitError{Reason: "needs an approval of " + env}
	}
	job.Outputs.Approve = &pipeline.ApproveOutput{By: by}
	return nil
}

type deployStage struct{}

func (deployStage) Name() string { return config.StageDeploy }

func (deployStage) Run(ctx context.Context, job *pipeline.Job) error {
	fmt.Fprintln(job.Log, "deploying to", job.Stage.Env())
	job.Outputs.Deploy = &pipeline.DeployOutput{Release: job.Pipeline.Name, Namespace: job.Stage.Env(), Revision: 1}
	return nil
}

// machine is one CI job: its own working copy of the registry's runs and its own engine.
type machine struct {
	store  *Store
	build  *buildStage
	engine *pipeline.Engine
}

func newMachine(t *testing.T, ref, host string, cfg *config.Config) *machine {
	t.Helper()
	m := &machine{store: newStore(t, ref)}
	m.build = &buildStage{store: m.store}
	stages, err := pipeline.NewStageSet(m.build, approveStage{}, deployStage{})
	if err != nil {
		t.Fatal(err)
	}
	m.engine = &pipeline.Engine{Config: cfg, Store: m.store, Stages: stages, Host: host, PID: 4242}
	return m
}

func stageStatuses(r *pipeline.Run) string {
	var s string
	for _, st := range r.Services[0].Stages {
		s += fmt.Sprintf("%s=%s ", st.ID, st.Status)
	}
	return s
}

// A run starts on machine A and stops at the approval gate; machine B approves it and resumes
// it to the end; A then sees it succeeded. A second run stopped on A is cancelled from B.
func TestEngineAcrossMachines(t *testing.T) {
	ctx := t.Context()
	ref := registryRef(t)
	cfg, err := config.Parse("ferry.yaml", "", []byte(engineConfig))
	if err != nil {
		t.Fatal(err)
	}
	plan := func() *pipeline.Plan {
		return &pipeline.Plan{Reason: "test", Services: []pipeline.ServicePlan{{
			Name: "api", Pipeline: "release", Version: "1.0.0",
			Stages: pipeline.ExpandStages(cfg, []string{config.StageBuild, config.StageDeploy}),
		}}}
	}
	a := newMachine(t, ref, "machine-a", cfg)
	b := newMachine(t, ref, "machine-b", cfg)

	started, err := a.engine.Start(ctx, plan(), pipeline.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if started.Status() != pipeline.Waiting {
		t.Fatalf("run on A is %s (%s), want waiting", started.Status(), stageStatuses(started))
	}
	id := started.ID

	t.Run("approve and resume on B", func(t *testing.T) {
		if _, err := pipeline.Approve(ctx, b.store, cfg, id, "prod", "test", advisory("prod", "alice@example.com", "ship it", time.Now()), nil); err != nil {
			t.Fatal(err)
		}
		run, err := b.engine.Resume(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if run.Status() != pipeline.Succeeded {
			t.Fatalf("run on B is %s (%s), want succeeded", run.Status(), stageStatuses(run))
		}
		if n := b.build.runs.Load(); n != 1 {
			t.Errorf("B built %d times, want 1 (A's work files are not in the registry)", n)
		}
		if run.Owner != nil {
			t.Errorf("owner %+v left after the run stopped", run.Owner)
		}
	})

	t.Run("A sees the result", func(t *testing.T) {
		run, err := a.store.Load(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if run.Status() != pipeline.Succeeded {
			t.Fatalf("A loads %s (%s), want succeeded", run.Status(), stageStatuses(run))
		}
		deploy := run.Services[0].Stage("deploy:prod")
		if deploy.Outputs.Deploy == nil || deploy.Log == "" {
			t.Fatalf("deploy stage %+v has no outputs or log", deploy)
		}
		got, err := readLog(t, a.store, id, deploy.Log)
		if err != nil || got == "" {
			t.Errorf("A reads B's deploy log: %q, %v", got, err)
		}
		if n := a.build.runs.Load(); n != 1 {
			t.Errorf("A built %d times, want 1", n)
		}
	})

	t.Run("cancel a stopped run from B", func(t *testing.T) {
		second, err := a.engine.Start(ctx, plan(), pipeline.RunOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if second.Status() != pipeline.Waiting {
			t.Fatalf("second run is %s", second.Status())
		}
		signal := func(pid int) error { return fmt.Errorf("signalled pid %d of a stopped run", pid) }
		run, _, err := pipeline.Cancel(ctx, b.store, second.ID, "machine-b", signal, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if run.Status() != pipeline.Cancelled {
			t.Fatalf("B cancelled to %s", run.Status())
		}
		onA, err := a.store.Load(ctx, second.ID)
		if err != nil {
			t.Fatal(err)
		}
		if onA.Status() != pipeline.Cancelled || !onA.CancelRequested {
			t.Errorf("A loads %s (%s), want cancelled", onA.Status(), stageStatuses(onA))
		}
		runs, err := a.store.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(runs) != 2 {
			t.Errorf("List has %d runs, want 2", len(runs))
		}
	})
}

// advisory records an unsigned approval by who, as ferry approve does for signed: false.
func advisory(env, who, comment string, at time.Time) func(*pipeline.Run) ([]pipeline.Approval, error) {
	return func(*pipeline.Run) ([]pipeline.Approval, error) {
		return []pipeline.Approval{{Env: env, By: who, At: at, Comment: comment, Decision: "approve"}}, nil
	}
}
