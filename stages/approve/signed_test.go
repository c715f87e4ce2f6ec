package approve

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/ferry-ci/ferry/internal/evidencetest"
	"github.com/ferry-ci/ferry/pipeline"
	"github.com/ferry-ci/ferry/pipeline/approval"
	"github.com/ferry-ci/ferry/pipeline/config"
)

func allowedLine(principal string, s ssh.Signer) string {
	return principal + " " + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(s.PublicKey())))
}

const (
	imageDigest = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
	chartDigest = "sha256:2222222222222222222222222222222222222222222222222222222222222222"
)

// TestSignedGate runs the gate over approvals as they would sit in the run store, some signed
// properly and some forged by someone who can write to the store but holds no approver's key,
// under policies with groups, excluded requesters and authors, and a timeout.
func TestSignedGate(t *testing.T) {
	alice, bob, carol, mallory := evidencetest.NewKey(t), evidencetest.NewKey(t), evidencetest.NewKey(t), evidencetest.NewKey(t)
	allowed, err := approval.ParseAllowedSigners("allowed_signers", []byte(allowedLine("alice@example.com,alice-gh", alice)+"\n"+
		allowedLine("bob@example.com", bob)+"\n"+allowedLine("carol@example.com", carol)+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	sign := func(key ssh.Signer, by string, edit func(*approval.Statement)) pipeline.Approval {
		st := approval.NewStatement("r1", "delivery", "prod", approval.Approve, "ok", at, imageDigest, chartDigest)
		if edit != nil {
			edit(&st)
		}
		s, err := approval.Sign(st, key)
		if err != nil {
			t.Fatal(err)
		}
		return pipeline.Approval{Env: "prod", By: by, At: at, Service: "delivery", Decision: string(st.Decision), Statement: s.Statement, Signature: s.Signature}
	}
	good, bobs, carols := sign(alice, "alice@example.com", nil), sign(bob, "bob@example.com", nil), sign(carol, "carol@example.com", nil)
	// Written straight into the store: bob's name on mallory's signature, alice's signature
	// over another digest, an alice approval copied from another run, a statement edited after
	// alice signed it, a record with no signature at all.
	forgedName := sign(mallory, "bob@example.com", nil)
	otherDigest := sign(alice, "alice@example.com", func(s *approval.Statement) { s.Image = chartDigest })
	otherRun := sign(alice, "alice@example.com", func(s *approval.Statement) { s.Run = "r0" })
	edited := good
	edited.Statement = bytes.Replace(good.Statement, []byte(`"comment":"ok"`), []byte(`"comment":"ko"`), 1)
	unsigned := pipeline.Approval{Env: "prod", By: "bob@example.com", Decision: "approve"}
	rejected := sign(bob, "bob@example.com", func(s *approval.Statement) { s.Decision, s.Comment = approval.Reject, "not on a Friday" })
	groups := func(a *config.Approval) {
		a.Groups = []config.ApproverGroup{{Name: "sre", Principals: []string{"alice@example.com", "bob@example.com"}, Min: 1},
			{Name: "qa", Principals: []string{"carol@example.com"}, Min: 1}}
	}
	excludeRequester := func(a *config.Approval) { a.ExcludeRequester = true }
	excludeAuthors := func(a *config.Approval) { a.ExcludeAuthors = true }
	timeout := func(a *config.Approval) { a.Timeout = 72 * time.Hour }

	cases := []struct {
		name      string
		min       int
		policy    func(*config.Approval)
		approvals []pipeline.Approval
		waited    time.Duration // how long the gate has waited before this run (0: its first)
		by        string        // the principals the gate passed with, "" when it waits or fails
		fails     string        // a part of the permanent error
		log       string
	}{
		{"one valid approval", 1, nil, []pipeline.Approval{good}, 0, "alice@example.com", "", "alice@example.com approve at 2026-12-02T10:00:00Z: approved"},
		{"forged name", 1, nil, []pipeline.Approval{forgedName}, 0, "", "", "key not in the allowed signers"},
		{"another digest", 1, nil, []pipeline.Approval{otherDigest}, 0, "", "", "void: the image digest changed: approved " + chartDigest},
		{"another run", 1, nil, []pipeline.Approval{otherRun}, 0, "", "", "refused: signed for run r0"},
		{"statement edited", 1, nil, []pipeline.Approval{edited}, 0, "", "", "does not verify"},
		{"no signature", 1, nil, []pipeline.Approval{unsigned}, 0, "", "", "bob@example.com (unverified) approve at 0001-01-01T00:00:00Z: refused: not signed"},
		{"the same approver twice is one", 2, nil, []pipeline.Approval{good, good}, 0, "", "", "1 of 2 approvals"},
		{"quorum of two", 2, nil, []pipeline.Approval{good, bobs}, 0, "alice@example.com,bob@example.com", "", ""},
		{"allowed signer but not an approver", 1, func(a *config.Approval) { a.Approvers = []string{"bob@example.com"} }, []pipeline.Approval{good}, 0, "", "", "not one of the approvers"},
		{"a rejection ends the gate", 1, nil, []pipeline.Approval{good, rejected}, 0, "", "bob@example.com rejected prod for run r1: not on a Friday", ""},
		{"a rejection ends a gate with groups", 2, groups, []pipeline.Approval{good, carols, rejected}, 0, "", "bob@example.com rejected prod", ""},
		{"quorum without qa", 2, groups, []pipeline.Approval{good, bobs}, 0, "", "", "group qa: 0 of 1 (carol@example.com)"},
		{"one of each group", 2, groups, []pipeline.Approval{bobs, carols}, 0, "bob@example.com,carol@example.com", "", ""},
		{"requester by her CI login", 1, excludeRequester, []pipeline.Approval{good}, 0, "", "", "alice@example.com started this run (requester alice-GH) and excludeRequester is set"},
		{"requester's colleague", 1, excludeRequester, []pipeline.Approval{bobs}, 0, "bob@example.com", "", ""},
		{"an author", 1, excludeAuthors, []pipeline.Approval{carols}, 0, "", "", "carol@example.com authored commit cccccccccccc of this release"},
		{"not an author", 1, excludeAuthors, []pipeline.Approval{bobs}, 0, "bob@example.com", "", "excludeAuthors: 1 author(s) of base..head: carol@example.com"},
		{"in time", 1, timeout, []pipeline.Approval{bobs}, 71 * time.Hour, "bob@example.com", "", ""},
		{"timed out", 1, timeout, nil, 73 * time.Hour, "", "approval timed out after 72h", ""},
		{"timed out with too few", 2, timeout, []pipeline.Approval{bobs}, 73 * time.Hour, "", "approval timed out after 72h: prod waited since 2026-11-29T10:00:00Z (1 of 2 approvals)", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			gate := &config.Approval{Signed: true, MinApprovals: tc.min, AllowedSigners: "allowed_signers"}
			if tc.policy != nil {
				tc.policy(gate)
			}
			env := &config.Environment{Name: "prod", Approval: gate}
			now := at.Add(time.Hour)
			state := &pipeline.StageState{ID: "approve:prod", Status: pipeline.Running}
			if tc.waited > 0 {
				state.Outputs.Approve = &pipeline.ApproveOutput{WaitingSince: now.Add(-tc.waited)}
			}
			svc := &pipeline.ServiceRun{Name: "delivery", Version: "1.0.2", Stages: []*pipeline.StageState{
				{ID: "push", Status: pipeline.Succeeded, Outputs: pipeline.Outputs{Push: &pipeline.PushOutput{Digest: imageDigest}}},
				{ID: "chart", Status: pipeline.Succeeded, Outputs: pipeline.Outputs{Chart: &pipeline.ChartOutput{Digest: chartDigest}}},
				state,
			}}
			var log bytes.Buffer
			run := &pipeline.Run{ID: "r1", Approvals: tc.approvals, Options: pipeline.RunOptions{Requester: []pipeline.Identity{{Name: "alice-GH", Source: "GITHUB_ACTOR"}}}}
			job := &pipeline.Job{Run: run, Env: env, Pipeline: svc, Stage: "approve:prod", Outputs: &pipeline.Outputs{}, Log: &log}
			stage := Stage{
				Signers: func(context.Context, *config.Environment) (approval.AllowedSigners, error) { return allowed, nil },
				Authors: func(context.Context, *pipeline.Run, string) (map[string]string, string, error) {
					return map[string]string{"carol@example.com": strings.Repeat("c", 40)}, "base..head", nil
				},
				Now: func() time.Time { return now },
			}
			err := stage.Run(t.Context(), job)
			var wait *pipeline.WaitError
			switch {
			case tc.fails != "":
				if !errors.Is(err, pipeline.ErrPermanent) || !strings.Contains(err.Error(), tc.fails) {
					t.Fatalf("err = %v, want a permanent failure %q", err, tc.fails)
				}
			case tc.by != "":
				if err != nil || job.Outputs.Approve == nil || strings.Join(job.Outputs.Approve.By, ",") != tc.by {
					t.Fatalf("err = %v, outputs %+v, want passed by %s", err, job.Outputs.Approve, tc.by)
				}
			case !errors.As(err, &wait):
				t.Fatalf("err = %v, want waiting", err)
			}
			if !strings.Contains(log.String(), tc.log) {
				t.Errorf("log %q lacks %q", log.String(), tc.log)
			}
			out := job.Outputs.Approve
			if out == nil || len(out.Decisions) != len(tc.approvals) || out.Image != imageDigest || out.Chart != chartDigest {
				t.Fatalf("audit trail = %+v", out)
			}
			switch {
			case tc.waited > 0 && !out.WaitingSince.Equal(now.Add(-tc.waited)):
				t.Errorf("waiting since %s, want the first wait kept", out.WaitingSince)
			case tc.waited == 0 && tc.by == "" && tc.fails == "" && !out.WaitingSince.Equal(now):
				t.Errorf("a first wait starts now, got %s", out.WaitingSince)
			case gate.Timeout > 0 && !out.Deadline.Equal(out.WaitingSince.Add(gate.Timeout)):
				t.Errorf("deadline %s", out.Deadline)
			}
		})
	}
}
