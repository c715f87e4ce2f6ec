package promote

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/ferry-ci/ferry/pipeline"
	"github.com/ferry-ci/ferry/pipeline/approval"
	"github.com/ferry-ci/ferry/pipeline/config"
	pev "github.com/ferry-ci/ferry/pipeline/evidence"
	"github.com/ferry-ci/ferry/stages/evidence"
)

// approvalsEvidence is the approvals artifact promotion attaches.
type approvalsEvidence struct {
	artifact pev.Artifact
}

// approvals checks that the gate in front of the environment passed for exactly the digests
// being promoted, and makes the approvals evidence: every signed statement the gate counted,
// with the policy and the trunk's allowed signers that judged them. An environment without a
// gate has none.
func (s *Stage) approvals(ctx context.Context, job *pipeline.Job, p plan) (*approvalsEvidence, error) {
	gate := job.Env.Approval
	if gate == nil {
		fmt.Fprintf(job.Log, "%s has no approval gate: no approvals evidence\n", job.Env.Name)
		return nil, nil
	}
	st := job.Pipeline.Stage(pipeline.NewStageID(config.StageApprove, job.Env.Name))
	if st == nil || st.Status != pipeline.Succeeded || st.Outputs.Approve == nil {
		return nil, pipeline.Permanent(fmt.Errorf("%s is not approved (approve:%s did not pass): nothing promoted", job.Env.Name, job.Env.Name))
	}
	chart := ""
	if p.chart != nil {
		chart = p.chart.Digest
	}
	by := st.Outputs.Approve.By
	a := pev.Approvals{Run: job.Run.ID, Service: job.Pipeline.Name, Env: job.Env.Name, Image: p.src.DigestStr(), Chart: chart,
		Trunk: job.Config.Trunk, By: by, Policy: evidence.PolicyOf(gate)}
	if gate.Signed {
		if err := s.signed(ctx, job, &a); err != nil {
			return nil, err
		}
	} else {
		fmt.Fprintf(job.Log, "approvals of %s are advisory (signed: false): the evidence records names\n", job.Env.Name)
		for _, name := range by {
			a.Approvals = append(a.Approvals, pev.SignedApproval{By: name})
		}
	}
	art, err := pev.ApprovalsArtifact(a)
	if err != nil {
		return nil, pipeline.Permanent(err)
	}
	return &approvalsEvidence{artifact: art}, nil
}

// signed collects, for every principal the gate counted, a signed statement that verifies
// against the trunk's signers and names this run and exactly the digests promoted. A gate
// passed for other digests promotes nothing.
func (s *Stage) signed(ctx context.Context, job *pipeline.Job, a *pev.Approvals) error {
	if s.Signers == nil {
		return pipeline.Permanent(errors.New("signed approvals need the allowed signers, which this build did not wire"))
	}
	allowed, err := s.Signers(ctx, job.Env)
	if err != nil {
		return pipeline.Permanent(err)
	}
	a.AllowedSigners = pev.MarshalAllowedSigners(allowed)
	have := map[string]bool{}
	for _, rec := range job.Run.Approvals {
		if rec.Env != a.Env || rec.Service != a.Service || len(rec.Statement) == 0 {
			continue
		}
		v, err := approval.Verify(approval.Signed{Statement: rec.Statement, Signature: rec.Signature}, allowed)
		if err != nil || v.Decision != approval.Approve || v.Run != a.Run || v.Service != a.Service || v.Env != a.Env || !slices.Contains(a.By, v.Principal) {
			continue
		}
		if v.Image != a.Image || v.Chart != a.Chart {
			return pipeline.Permanent(fmt.Errorf("%s approved image %s and chart %s, but promotion would copy image %s and chart %s: nothing promoted",
				v.Principal, v.Image, orNone(v.Chart), a.Image, orNone(a.Chart)))
		}
		if !have[v.Principal] {
			have[v.Principal] = true
			a.Approvals = append(a.Approvals, pev.SignedApproval{By: v.Principal, Statement: string(rec.Statement), Signature: rec.Signature})
		}
	}
	for _, p := range a.By {
		if !have[p] {
			return pipeline.Permanent(fmt.Errorf("the gate counted %s, but no signed approval by %s of %s verifies: nothing promoted", p, p, a.Image))
		}
	}
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
