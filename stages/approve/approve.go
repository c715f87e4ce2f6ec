// Package approve implements the approval gate in front of an environment. The gate never
// blocks a process or holds a lock: without enough approvals the stage ends as waiting, the
// run stops with exit code 3, and ferry approve followed by ferry resume continue it.
package approve

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/ferry-ci/ferry/pipeline"
	"github.com/ferry-ci/ferry/pipeline/config"
)

// Stage is the approve stage.
type Stage struct{}

var (
	_ pipeline.Stage     = Stage{}
	_ pipeline.DryRunner = Stage{}
)

// Name is approve.
func (Stage) Name() string { return config.StageApprove }

// DryRun says who has to approve.
func (Stage) DryRun(job *pipeline.Job) string {
	a := job.Env.Approval
	return fmt.Sprintf("wait for %d approval(s) of %s from %s", a.MinApprovals, job.Env.Name, strings.Join(a.Approvers, ", "))
}

// Run passes when enough of the environment's approvers approved this run.
func (Stage) Run(ctx context.Context, job *pipeline.Job) error {
	if job.Env == nil || job.Env.Approval == nil {
		return pipeline.Permanent(errors.New("approve runs only for an environment with an approval section"))
	}
	gate := job.Env.Approval
	var by []string
	for _, a := range job.Run.ApprovalsFor(job.Env.Name) {
		if len(gate.Approvers) == 0 || slices.Contains(gate.Approvers, a.By) {
			by = append(by, a.By)
		}
	}
	if len(by) >= gate.MinApprovals {
		fmt.Fprintf(job.Log, "%s approved by %s\n", job.Env.Name, strings.Join(by, ", "))
		job.Outputs.Approve = &pipeline.ApproveOutput{By: by}
		return nil
	}
	reason := fmt.Sprintf("%d of %d approvals for %s (approvers: %s); approve with: ferry approve %s --env %s",
		len(by), gate.MinApprovals, job.Env.Name, strings.Join(gate.Approvers, ", "), job.Run.ID, job.Env.Name)
	fmt.Fprintln(job.Log, reason)
	return &pipeline.WaitError{Reason: reason}
}
