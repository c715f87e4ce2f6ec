package pipeline_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ferry-ci/ferry/pipeline"
)

// TestHoldBeforeEnvironment follows a release run the way the generated CI files run it: the
// pipeline job holds before the first environment, the qa job resumes up to prod, the prod job
// approves and resumes to the end. Every job continues the same run.
func TestHoldBeforeEnvironment(t *testing.T) {
	h := newHarness(t, testConfig, nil)
	h.stages["approve"].run = func(ctx context.Context, job *pipeline.Job) error {
		if got := len(job.Run.ApprovalsFor(job.Env.Name)); got < job.Env.Approval.MinApprovals {
			return &pipeline.WaitError{Reason: fmt.Sprintf("%d of %d approvals", got, job.Env.Approval.MinApprovals)}
		}
		return nil
	}
	steps := []struct {
		name     string
		hold     string
		approve  []string
		status   pipeline.Status
		held     bool
		deployed []string
	}{
		{"pipeline job", "qa", nil, pipeline.Pending, true, nil},
		{"qa job", "prod", nil, pipeline.Pending, true, []string{"a/deploy:qa"}},
		{"prod job", "", []string{"alice@example.com", "bob@example.com"}, pipeline.Succeeded, false, []string{"a/deploy:qa", "a/deploy:prod"}},
	}
	var run *pipeline.Run
	for _, step := range steps {
		h.engine.StopBeforeEnv = step.hold
		var err error
		if run == nil {
			run, err = h.engine.Start(t.Context(), h.plan(t, "refs/heads/release/a/v1.2.3"), pipeline.RunOptions{Jobs: 1})
		} else {
			for _, by := range step.approve {
				if _, err := pipeline.Approve(t.Context(), h.store, h.cfg, run.ID, "prod", "test", advisory("prod", by, "", time.Now()), nil); err != nil {
					t.Fatal(err)
				}
			}
			run, err = h.engine.Resume(t.Context(), run.ID)
		}
		if err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if run.Status() != step.status || h.engine.Held(run) != step.held {
			t.Fatalf("%s: status %s, held %v; want %s, %v: %v", step.name, run.Status(), h.engine.Held(run), step.status, step.held, statuses(run))
		}
		if diff := cmp.Diff(step.deployed, h.stages["deploy"].Calls()); diff != "" {
			t.Errorf("%s: deploys (-want +got):\n%s", step.name, diff)
		}
	}
	if n := len(h.stages["build"].Calls()); n != 1 {
		t.Errorf("build ran %d times, want 1: a resume does not repeat what succeeded", n)
	}
}

// TestHeldIsOnlyTheHold: a run that waits for an approval or failed before the held
// environment did not stop at the hold.
func TestHeldIsOnlyTheHold(t *testing.T) {
	h := newHarness(t, testConfig, nil)
	h.stages["approve"].run = func(ctx context.Context, job *pipeline.Job) error {
		return &pipeline.WaitError{Reason: "no approvals"}
	}
	h.engine.StopBeforeEnv = "prod"
	run, err := h.engine.Start(t.Context(), h.plan(t, "refs/heads/release/a/v1.2.3"), pipeline.RunOptions{Jobs: 1})
	if err != nil {
		t.Fatal(err)
	}
	if !h.engine.Held(run) || run.Status() != pipeline.Pending {
		t.Fatalf("hold before prod: held %v, %v", h.engine.Held(run), statuses(run))
	}
	h.engine.StopBeforeEnv = ""
	run, err = h.engine.Resume(t.Context(), run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if h.engine.Held(run) || run.Status() != pipeline.Waiting {
		t.Fatalf("no hold: held %v, %v", h.engine.Held(run), statuses(run))
	}
	// A feature run has no environment stages: nothing to hold.
	h.engine.StopBeforeEnv = "qa"
	run, err = h.engine.Start(t.Context(), h.plan(t, "refs/heads/feature/x", "src/b/x.go"), pipeline.RunOptions{Jobs: 1})
	if err != nil {
		t.Fatal(err)
	}
	if h.engine.Held(run) || run.Status() != pipeline.Succeeded {
		t.Fatalf("feature run: held %v, %v", h.engine.Held(run), statuses(run))
	}
}
