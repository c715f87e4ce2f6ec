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
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/ferry-ci/ferry/pipeline"
	"github.com/ferry-ci/ferry/pipeline/approval"
	"github.com/ferry-ci/ferry/pipeline/config"
)

// Signers returns the allowed signers that judge an environment's approvals: read from the
// trunk, refusing a release branch that changed its own approval policy or signers.
type Signers func(ctx context.Context, env *config.Environment) (approval.AllowedSigners, error)

// Authors returns the authors (e-mail → a commit of theirs) of the commits a run releases
// for a service, and a description of the range read, for excludeAuthors.
type Authors func(ctx context.Context, run *pipeline.Run, service string) (map[string]string, string, error)

// Stage is the approve stage.
type Stage struct {
	Signers Signers
	Authors Authors
	// Now is the clock the timeout is measured with (default time.Now).
	Now func() time.Time
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
	msg := fmt.Sprintf("wait for %d %s approval(s) of %s from %s", a.MinApprovals, kind, job.Env.Name, who)
	for _, g := range a.Groups {
		msg += fmt.Sprintf(", %d of group %s", g.Min, g.Name)
	}
	if a.Timeout > 0 {
		msg += ", rejected after " + config.FormatDuration(a.Timeout)
	}
	return msg
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

// Run judges every decision recorded for this service and environment against the policy and
// passes when the quorum and every group are met. A valid rejection, or the timeout, ends the
// gate; otherwise it waits. Each run journals its audit trail in the stage's outputs: the
// digests judged, the verdict and reason of every decision, and since when the gate waits.
func (s Stage) Run(ctx context.Context, job *pipeline.Job) error {
	if job.Env == nil || job.Env.Approval == nil {
		return pipeline.Permanent(errors.New("approve runs only for an environment with an approval section"))
	}
	gate, env := job.Env.Approval, job.Env.Name
	now := s.now()
	out := &pipeline.ApproveOutput{}
	if st := job.Pipeline.Stage(job.Stage); st != nil && st.Outputs.Approve != nil {
		out.WaitingSince = st.Outputs.Approve.WaitingSince
	}
	job.Outputs.Approve = out
	subject, err := s.subject(ctx, job, out)
	if err != nil {
		return pipeline.Permanent(err)
	}
	if gate.Timeout > 0 && !out.WaitingSince.IsZero() {
		out.Deadline = out.WaitingSince.Add(gate.Timeout)
		subject.Deadline = out.Deadline
	}
	records := Records(job.Run, job.Pipeline.Name, env)
	var result approval.Result
	if gate.Signed {
		if s.Signers == nil {
			return pipeline.Permanent(errors.New("signed approvals need the allowed signers, which this build did not wire"))
		}
		allowed, err := s.Signers(ctx, job.Env)
		if err != nil {
			return pipeline.Permanent(err)
		}
		result = EvaluateRecords(gate, allowed, subject, records)
	} else {
		fmt.Fprintf(job.Log, "approvals of %s are advisory (signed: false): names, not signatures\n", env)
		result = advisory(gate, subject, records)
	}
	out.Decisions, out.Missing = Decisions(records, result), result.Missing
	for _, d := range out.Decisions {
		fmt.Fprintf(job.Log, "%s\n", DescribeDecision(d))
	}
	switch {
	case result.Rejection != nil:
		r := result.Rejection
		return pipeline.Permanent(fmt.Errorf("%s rejected %s for run %s: %s", r.Principal, env, job.Run.ID, r.Comment))
	case !out.Deadline.IsZero() && now.After(out.Deadline):
		return pipeline.Permanent(fmt.Errorf("approval timed out after %s: %s waited since %s (%s)",
			config.FormatDuration(gate.Timeout), env, out.WaitingSince.UTC().Format(time.RFC3339), strings.Join(result.Missing, "; ")))
	case result.Passed:
		out.By = result.By
		fmt.Fprintf(job.Log, "%s approved by %s\n", env, strings.Join(result.By, ", "))
		return nil
	}
	if out.WaitingSince.IsZero() {
		out.WaitingSince = now
		if gate.Timeout > 0 {
			out.Deadline = now.Add(gate.Timeout)
		}
	}
	reason := fmt.Sprintf("%s for %s; approve with: ferry approve %s --env %s", strings.Join(result.Missing, "; "), env, job.Run.ID, env)
	if !out.Deadline.IsZero() {
		reason += fmt.Sprintf(" (rejected at %s)", out.Deadline.UTC().Format(time.RFC3339))
	}
	fmt.Fprintln(job.Log, reason)
	return &pipeline.WaitError{Reason: reason}
}

func (s Stage) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

// subject is what the gate judges for: the run's current digests and the people the policy
// excludes, recorded in out for the audit trail.
func (s Stage) subject(ctx context.Context, job *pipeline.Job, out *pipeline.ApproveOutput) (approval.Subject, error) {
	gate := job.Env.Approval
	sub := approval.Subject{Run: job.Run.ID, Service: job.Pipeline.Name, Env: job.Env.Name}
	sub.Image, sub.Chart = Digests(job.Pipeline)
	values, err := approval.ValuesDigest(job.RepoRoot, job.Env)
	if err != nil {
		return sub, err
	}
	sub.Values = values
	out.Image, out.Chart, out.Values = sub.Image, sub.Chart, sub.Values
	sub.Requester = RequesterNames(job.Run)
	if gate.ExcludeRequester {
		out.Requester = sub.Requester
		if len(sub.Requester) == 0 {
			fmt.Fprintf(job.Log, "excludeRequester: run %s recorded no requester\n", job.Run.ID)
		}
	}
	if gate.ExcludeAuthors {
		if s.Authors == nil {
			return sub, errors.New("excludeAuthors needs the release's commit authors, which this build did not wire")
		}
		authors, since, err := s.Authors(ctx, job.Run, job.Pipeline.Name)
		if err != nil {
			return sub, fmt.Errorf("excludeAuthors: %w", err)
		}
		sub.Authors = authors
		out.Authors = slices.Sorted(maps.Keys(authors))
		fmt.Fprintf(job.Log, "excludeAuthors: %d author(s) of %s: %s\n", len(authors), since, strings.Join(out.Authors, ", "))
	}
	return sub, nil
}

// RequesterNames are the names the run's requester goes by.
func RequesterNames(run *pipeline.Run) []string {
	var names []string
	for _, id := range run.Options.Requester {
		names = append(names, id.Name)
	}
	return names
}

// Records are the decisions recorded for a service in an environment, in journal order: the
// signed ones name the service; advisory ones (and forged ones) may name none.
func Records(run *pipeline.Run, service, env string) []pipeline.Approval {
	var out []pipeline.Approval
	for _, a := range run.Approvals {
		if a.Env == env && (a.Service == service || a.Service == "") {
			out = append(out, a)
		}
	}
	return out
}

// EvaluateRecords verifies and judges journaled decisions; one without a signature is refused
// as such rather than as a malformed one.
func EvaluateRecords(gate *config.Approval, allowed approval.AllowedSigners, subject approval.Subject, records []pipeline.Approval) approval.Result {
	js := make([]approval.Judgement, 0, len(records))
	for _, a := range records {
		if a.Signature == "" || len(a.Statement) == 0 {
			js = append(js, approval.Judgement{Decision: approval.Decision(a.Decision), Comment: a.Comment, Verdict: approval.Refused,
				Reason: fmt.Sprintf("not signed: approvals of %s must be signed (ferry approve --key)", subject.Env)})
			continue
		}
		js = append(js, approval.Evaluate(gate, allowed, subject, []approval.Signed{{Statement: a.Statement, Signature: a.Signature}}).Judgements...)
	}
	return approval.Tally(gate, js)
}

// advisory judges names recorded with signed: false. They bind no digest: they are whoever
// said so.
func advisory(gate *config.Approval, subject approval.Subject, records []pipeline.Approval) approval.Result {
	js := make([]approval.Judgement, 0, len(records))
	for _, a := range records {
		d := approval.Decision(a.Decision)
		if d == "" {
			d = approval.Approve
		}
		j := approval.Judgement{Principal: a.By, Decision: d, Comment: a.Comment, Time: a.At.UTC().Format(time.RFC3339),
			Image: subject.Image, Chart: subject.Chart, Values: subject.Values}
		js = append(js, approval.Judge(gate, subject, j))
	}
	return approval.Tally(gate, js)
}

// Decisions joins the records with their judgements for the journal and ferry status.
func Decisions(records []pipeline.Approval, r approval.Result) []pipeline.ApprovalDecision {
	out := make([]pipeline.ApprovalDecision, 0, len(records))
	for i, a := range records {
		j := r.Judgements[i]
		out = append(out, pipeline.ApprovalDecision{By: a.By, At: a.At, Principal: j.Principal, Fingerprint: j.Fingerprint,
			Decision: string(j.Decision), Comment: j.Comment, Signed: j.Time, Image: j.Image, Chart: j.Chart, Values: j.Values,
			Verdict: string(j.Verdict), Reason: j.Reason})
	}
	return out
}

// DescribeDecision is one line of a gate's audit trail.
func DescribeDecision(d pipeline.ApprovalDecision) string {
	who := d.Principal
	if who == "" {
		who = d.By + " (unverified)"
	}
	line := fmt.Sprintf("%s %s at %s: %s", who, d.Decision, d.At.UTC().Format(time.RFC3339), d.Verdict)
	if d.Reason != "" {
		line += ": " + d.Reason
	}
	return line
}
