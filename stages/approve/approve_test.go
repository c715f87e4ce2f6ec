package approve

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/ferry-ci/ferry/pipeline"
	"github.com/ferry-ci/ferry/pipeline/config"
)

func TestGate(t *testing.T) {
	env := &config.Environment{Name: "prod", Approval: &config.Approval{Approvers: []string{"alice", "bob"}, MinApprovals: 2}}
	cases := []struct {
		name      string
		approvals []pipeline.Approval
		pass      bool
		by        []string
	}{
		{"none", nil, false, nil},
		{"one of two", []pipeline.Approval{{Env: "prod", By: "alice"}}, false, nil},
		{"other environment", []pipeline.Approval{{Env: "qa", By: "alice"}, {Env: "qa", By: "bob"}}, false, nil},
		{"not an approver", []pipeline.Approval{{Env: "prod", By: "alice"}, {Env: "prod", By: "mallory"}}, false, nil},
		{"same person twice", []pipeline.Approval{{Env: "prod", By: "alice"}, {Env: "prod", By: "alice"}}, false, nil},
		{"two approvers", []pipeline.Approval{{Env: "prod", By: "bob"}, {Env: "prod", By: "alice"}}, true, []string{"alice", "bob"}},
		{"a rejection", []pipeline.Approval{{Env: "prod", By: "bob"}, {Env: "prod", By: "alice", Decision: "reject"}}, false, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			job := &pipeline.Job{Run: &pipeline.Run{ID: "r1", Approvals: tc.approvals}, Env: env, Stage: "approve:prod",
				Pipeline: &pipeline.ServiceRun{Name: "delivery"}, Outputs: &pipeline.Outputs{}, Log: &bytes.Buffer{}}
			err := Stage{}.Run(t.Context(), job)
			var wait *pipeline.WaitError
			switch {
			case tc.pass && err != nil:
				t.Fatalf("err = %v", err)
			case tc.pass:
				if job.Outputs.Approve == nil || strings.Join(job.Outputs.Approve.By, ",") != strings.Join(tc.by, ",") {
					t.Errorf("outputs = %+v", job.Outputs.Approve)
				}
			case tc.name == "a rejection":
				if err == nil || !strings.Contains(err.Error(), "alice rejected prod") {
					t.Fatalf("err = %v, want alice's rejection", err)
				}
			case !errors.As(err, &wait):
				t.Fatalf("err = %v, want a WaitError", err)
			case !strings.Contains(wait.Reason, "ferry approve r1 --env prod"):
				t.Errorf("reason = %q, want the command to run", wait.Reason)
			}
		})
	}
}
