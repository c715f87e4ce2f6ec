// Package approve implements the approval gate in front of an environment. The gate never
// blocks a process or holds a lock: without enough approvals the stage ends as waiting, the
// run stops with exit code 3, and ferry approve followed by ferry resume continue it.
//
// Approvals are SSH signatures (pipeline/approval) checked here, every time the gate runs,
// against the allowed signers the trunk holds: whoever can write to the run store but holds no
// approver's key cannot forge, replay or alter one. With signed: false they are advisory names.
package approve

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/ferry-ci/ferry/pipeline"
	"github.com/ferry-ci/ferry/pipeline/approval"
	"github.com/ferry-ci/ferry/pipeline/config"
)

// Signers returns the allowed signers that judge an environment's approvals: read from the
// trunk, refusing a release branch that changed its own approval policy or signers.
type Signers func(ctx context.Context, env *config.Environment) (approval.AllowedSigners, error)

// Stage is the approve stage.
type Stage struct {
	Signers Signers
}

var (
	_ pipeline.Stage     = Stage{}
	_ pipeline.DryRunner = Stage{}
)

// Name is approve.
func (Stage) Name() string { return config.StageApprove }

// DryRun says who has to approve.
func (Stage) DryRun(job *pipeline.Job) string {
	a := job.Env.Approval
	who := strings.Join(a.Approvers, ", ")
	if who == "" {
		who = "the allowed signers in " + a.AllowedSigners
	}
	kind := "signed"
	if !a.Signed {
		kind = "advisory"
	}
	return fmt.Sprintf("wait for %d %s approval(s) of %s from %s", a.MinApprovals, kind, job.Env.Name, who)
}

// Digests are what an approval of a service binds: the pushed image and the pushed chart.
func Digests(svc *pipeline.ServiceRun) (image, chart string) {
	if out, ok := svc.Output(config.StagePush); ok && out.Push != nil {
		image = out.Push.Digest
	}
	if out, ok := svc.Output(config.StageChart); ok && out.Chart != nil {
		chart = out.Chart.Digest
	}
	return image, chart
}

// Run passes when enough approvers approved this run's service; a rejection ends the gate.
func (s Stage) Run(ctx context.Context, job *pipeline.Job) error {
	if job.Env == nil || job.Env.Approval == nil {
		return pipeline.Permanent(errors.New("approve runs only for an environment with an approval section"))
	}
	gate := job.Env.Approval
	var by []string
	var err error
	if gate.Signed {
		by, err = s.signed(ctx, job)
	} else {
		by = advisory(job)
		fmt.Fprintf(job.Log, "approvals of %s are advisory (signed: false): names, not signatures\n", job.Env.Name)
	}
	if err != nil {
		return err
	}
	if len(by) >= gate.MinApprovals {
		fmt.Fprintf(job.Log, "%s approved by %s\n", job.Env.Name, strings.Join(by, ", "))
		job.Outputs.Approve = &pipeline.ApproveOutput{By: by}
		return nil
	}
	who := strings.Join(gate.Approvers, ", ")
	if who == "" {
		who = "any allowed signer"
	}
	reason := fmt.Sprintf("%d of %d approvals for %s (approvers: %s); approve with: ferry approve %s --env %s",
		len(by), gate.MinApprovals, job.Env.Name, who, job.Run.ID, job.Env.Name)
	fmt.Fprintln(job.Log, reason)
	return &pipeline.WaitError{Reason: reason}
}

// advisory counts the names recorded by approvers listed in the config.
func advisory(job *pipeline.Job) []string {
	var by []string
	for _, a := range job.Run.ApprovalsFor(job.Env.Name) {
		if slices.Contains(job.Env.Approval.Approvers, a.By) && !slices.Contains(by, a.By) {
			by = append(by, a.By)
		}
	}
	return by
}

// signed verifies every approval of this service and counts the distinct principals whose
// signatures hold for this run, environment and digests. Invalid ones are logged and ignored;
// a valid rejection fails the gate.
func (s Stage) signed(ctx context.Context, job *pipeline.Job) ([]string, error) {
	if s.Signers == nil {
		return nil, pipeline.Permanent(errors.New("signed approvals need the allowed signers, which this build did not wire"))
	}
	allowed, err := s.Signers(ctx, job.Env)
	if err != nil {
		return nil, pipeline.Permanent(err)
	}
	image, chart := Digests(job.Pipeline)
	seen := map[string]bool{}
	for _, a := range job.Run.Approvals {
		if a.Env != job.Env.Name || a.Service != job.Pipeline.Name {
			continue
		}
		v, err := s.check(a, allowed, job, image, chart)
		if err != nil {
			fmt.Fprintf(job.Log, "ignored an approval recorded as %s: %v\n", a.By, err)
			continue
		}
		if v.Decision == approval.Reject {
			return nil, pipeline.Permanent(fmt.Errorf("%s rejected %s for run %s: %s", v.Principal, job.Env.Name, job.Run.ID, v.Comment))
		}
		seen[v.Principal] = true
	}
	by := make([]string, 0, len(seen))
	for p := range seen {
		by = append(by, p)
	}
	sort.Strings(by)
	return by, nil
}

// check verifies one approval and that it is for exactly this run, service, environment and
// digests, by an approver the config lists (when it lists any).
func (s Stage) check(a pipeline.Approval, allowed approval.AllowedSigners, job *pipeline.Job, image, chart string) (approval.Verified, error) {
	v, err := approval.Verify(approval.Signed{Statement: a.Statement, Signature: a.Signature}, allowed)
	if err != nil {
		return v, err
	}
	switch {
	case v.Run != job.Run.ID:
		return v, fmt.Errorf("signed for run %s", v.Run)
	case v.Service != job.Pipeline.Name || v.Env != job.Env.Name:
		return v, fmt.Errorf("signed for %s in %s", v.Service, v.Env)
	case v.Image != image || v.Chart != chart:
		return v, fmt.Errorf("signed for image %s and chart %s, but the run has %s and %s", v.Image, v.Chart, image, chart)
	case len(job.Env.Approval.Approvers) > 0 && !slices.Contains(job.Env.Approval.Approvers, v.Principal):
		return v, fmt.Errorf("%s is an allowed signer but not one of the approvers of %s", v.Principal, job.Env.Name)
	}
	return v, nil
}
