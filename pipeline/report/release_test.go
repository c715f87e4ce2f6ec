package report

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/ferry-ci/ferry/pipeline"
)

// releasedRun is a release of delivery through QA, the prod gate (two approvers), promotion
// and the prod deploy.
func releasedRun() *pipeline.Run {
	const (
		digest = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
		chart  = "sha256:2222222222222222222222222222222222222222222222222222222222222222"
	)
	at := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	ok := func(id pipeline.StageID, o pipeline.Outputs) *pipeline.StageState {
		return &pipeline.StageState{ID: id, Status: pipeline.Succeeded, Outputs: o}
	}
	svc := &pipeline.ServiceRun{Name: "delivery", Pipeline: "release", Version: "1.0.2", Stages: []*pipeline.StageState{
		ok("build", pipeline.Outputs{}),
		ok("scan", pipeline.Outputs{Scan: &pipeline.ScanOutput{Passed: true, Counts: map[string]int{"LOW": 2}}}),
		ok("push", pipeline.Outputs{Push: &pipeline.PushOutput{Ref: "reg/shipping/delivery@" + digest, Digest: digest}}),
		ok("chart", pipeline.Outputs{Chart: &pipeline.ChartOutput{Ref: "reg/shipping/helm/delivery@" + chart, Digest: chart, Name: "delivery", Tag: "1.0.2"}}),
		ok("deploy:qa", pipeline.Outputs{Deploy: &pipeline.DeployOutput{Release: "delivery", Namespace: "backend-qa", Revision: 3,
			Chart: chart, Image: "reg/shipping/delivery@" + digest}}),
		ok("approve:prod", pipeline.Outputs{Approve: &pipeline.ApproveOutput{By: []string{"alice@example.com", "bob@example.com"}}}),
		ok("promote:prod", pipeline.Outputs{Promote: &pipeline.PromoteOutput{
			PushOutput: pipeline.PushOutput{Ref: "reg/shipping/prod/delivery@" + digest, Digest: digest, Tags: []string{"1.0.2"}},
			Chart:      &pipeline.PushOutput{Ref: "reg/shipping/prod/helm/delivery@" + chart, Digest: chart},
			Evidence:   []string{"sha256:aaaa", "sha256:bbbb", "sha256:cccc"}}}),
		ok("deploy:prod", pipeline.Outputs{Deploy: &pipeline.DeployOutput{Release: "delivery", Namespace: "backend", Revision: 1,
			Chart: chart, Image: "reg/shipping/prod/delivery@" + digest}}),
	}}
	run := &pipeline.Run{ID: "r1", Created: at, Services: []*pipeline.ServiceRun{svc, {Name: "frontend", Stages: []*pipeline.StageState{ok("build", pipeline.Outputs{})}}}}
	run.Event.After = "0123456789abcdef0123456789abcdef01234567"
	run.Approvals = []pipeline.Approval{
		{Env: "prod", By: "alice@example.com", Service: "delivery", Decision: "approve", At: at, Key: "SHA256:alice", Comment: "ship it"},
		{Env: "prod", By: "bob@example.com", Service: "delivery", Decision: "approve", At: at.Add(time.Minute), Key: "SHA256:bob"},
		{Env: "prod", By: "carol@example.com", Service: "delivery", Decision: "approve", At: at, Key: "SHA256:carol"},
	}
	return run
}

// TestReleaseRecord: the release object of ferry status -o json and the CI summary's chain.
func TestReleaseRecord(t *testing.T) {
	run := releasedRun()
	var out bytes.Buffer
	if err := WriteRunStatus(&out, run, "json"); err != nil {
		t.Fatal(err)
	}
	var status struct {
		Release json.RawMessage `json:"release"`
	}
	if err := json.Unmarshal(out.Bytes(), &status); err != nil {
		t.Fatal(err)
	}
	var pretty bytes.Buffer
	json.Indent(&pretty, status.Release, "", "  ")
	golden(t, "release-json", pretty.String()+"\n")

	var md bytes.Buffer
	writeReleaseMarkdown(&md, Releases(run))
	golden(t, "release-md", md.String())
}
