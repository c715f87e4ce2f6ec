package report

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/ferry-ci/ferry/pipeline"
)

// gatedRun is a release waiting at prod's gate: one approval counted, one void because the
// image changed, one refused (the requester), and one recorded after the gate last ran.
func gatedRun() *pipeline.Run {
	at := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	img, old := "sha256:"+strings.Repeat("1", 64), "sha256:"+strings.Repeat("0", 64)
	decisions := []pipeline.ApprovalDecision{
		{By: "bob@example.com", At: at, Principal: "bob@example.com", Fingerprint: "SHA256:bobkey", Decision: "approve", Comment: "ship it",
			Signed: at.Format(time.RFC3339), Image: img, Verdict: "approved"},
		{By: "carol@example.com", At: at.Add(time.Minute), Principal: "carol@example.com", Fingerprint: "SHA256:carolkey", Decision: "approve",
			Image: old, Verdict: "void", Reason: "the image digest changed: approved " + old + ", the run now has " + img},
		{By: "alice@example.com", At: at.Add(2 * time.Minute), Principal: "alice@example.com", Fingerprint: "SHA256:alicekey", Decision: "approve",
			Image: img, Verdict: "refused", Reason: "alice@example.com started this run (requester alice@example.com) and excludeRequester is set: the requester cannot approve"},
	}
	approvals := []pipeline.Approval{
		{Env: "prod", Service: "delivery", By: "bob@example.com", At: at, Decision: "approve", Key: "SHA256:bobkey"},
		{Env: "prod", Service: "delivery", By: "carol@example.com", At: at.Add(time.Minute), Decision: "approve", Key: "SHA256:carolkey"},
		{Env: "prod", Service: "delivery", By: "alice@example.com", At: at.Add(2 * time.Minute), Decision: "approve", Key: "SHA256:alicekey"},
		{Env: "prod", Service: "delivery", By: "dave@example.com", At: at.Add(3 * time.Minute), Decision: "approve", Key: "SHA256:davekey", Comment: "late"},
	}
	return &pipeline.Run{
		ID: "20261202-100000.000-abcdef", Created: at.Add(-time.Hour),
		Options:   pipeline.RunOptions{Requester: []pipeline.Identity{{Name: "alice@example.com", Source: "FERRY_REQUESTER"}}},
		Approvals: approvals,
		Services: []*pipeline.ServiceRun{{Name: "delivery", Pipeline: "release", Version: "1.0.2", Stages: []*pipeline.StageState{
			{ID: "push", Status: pipeline.Succeeded, Started: at.Add(-time.Hour), Ended: at.Add(-time.Hour + 2*time.Second),
				Outputs: pipeline.Outputs{Push: &pipeline.PushOutput{Ref: "registry/delivery@" + img, Digest: img}}},
			{ID: "approve:prod", Status: pipeline.Waiting, Reason: "1 of 2 approvals for prod", Started: at.Add(5 * time.Minute), Ended: at.Add(5 * time.Minute),
				Outputs: pipeline.Outputs{Approve: &pipeline.ApproveOutput{WaitingSince: at.Add(-time.Hour), Deadline: at.Add(71 * time.Hour), Image: img,
					Requester: []string{"alice@example.com"}, Decisions: decisions, Missing: []string{"1 of 2 approvals"}}}},
			{ID: "promote:prod", Status: pipeline.Pending},
		}}},
	}
}

func TestRunStatusApprovals(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			var out bytes.Buffer
			if err := WriteRunStatus(&out, gatedRun(), format); err != nil {
				t.Fatal(err)
			}
			golden(t, "status-approvals-"+format, out.String())
		})
	}
}
