package approve

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/ferry-ci/ferry/pipeline"
	"github.com/ferry-ci/ferry/pipeline/approval"
	"github.com/ferry-ci/ferry/pipeline/config"
)

func newKey(t *testing.T) ssh.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func allowedLine(principal string, s ssh.Signer) string {
	return principal + " " + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(s.PublicKey())))
}

const (
	imageDigest = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
	chartDigest = "sha256:2222222222222222222222222222222222222222222222222222222222222222"
)

// TestSignedGate runs the gate over approvals as they would sit in the run store, some signed
// properly and some forged by someone who can write to the store but holds no approver's key.
func TestSignedGate(t *testing.T) {
	alice, bob, mallory := newKey(t), newKey(t), newKey(t)
	allowed, err := approval.ParseAllowedSigners("allowed_signers", []byte(allowedLine("alice@example.com", alice)+"\n"+allowedLine("bob@example.com", bob)+"\n"))
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
		return pipeline.Approval{Env: "prod", By: by, Service: "delivery", Decision: string(st.Decision), Statement: s.Statement, Signature: s.Signature}
	}
	good := sign(alice, "alice@example.com", nil)
	// Written straight into the store: bob's name on mallory's signature, alice's signature
	// over another digest, an alice approval copied from another run, a statement edited after
	// alice signed it.
	forgedName := sign(mallory, "bob@example.com", nil)
	otherDigest := sign(alice, "alice@example.com", func(s *approval.Statement) { s.Image = chartDigest })
	otherRun := sign(alice, "alice@example.com", func(s *approval.Statement) { s.Run = "r0" })
	edited := good
	edited.Statement = bytes.Replace(good.Statement, []byte(`"comment":"ok"`), []byte(`"comment":"ko"`), 1)
	rejected := sign(bob, "bob@example.com", func(s *approval.Statement) { s.Decision, s.Comment = approval.Reject, "not on a Friday" })

	cases := []struct {
		name      string
		min       int
		approvers []string
		approvals []pipeline.Approval
		by        string // the principals the gate passed with, "" when it waits
		fails     string // a part of the permanent error
		log       string
	}{
		{"one valid approval", 1, nil, []pipeline.Approval{good}, "alice@example.com", "", ""},
		{"forged name", 1, nil, []pipeline.Approval{forgedName}, "", "", "key not in the allowed signers"},
		{"another digest", 1, nil, []pipeline.Approval{otherDigest}, "", "", "signed for image " + chartDigest},
		{"another run", 1, nil, []pipeline.Approval{otherRun}, "", "", "signed for run r0"},
		{"statement edited", 1, nil, []pipeline.Approval{edited}, "", "", "does not verify"},
		{"the same approver twice is one", 2, nil, []pipeline.Approval{good, good}, "", "", ""},
		{"quorum of two", 2, nil, []pipeline.Approval{good, sign(bob, "bob@example.com", nil)}, "alice@example.com,bob@example.com", "", ""},
		{"allowed signer but not an approver", 1, []string{"bob@example.com"}, []pipeline.Approval{good}, "", "", "not one of the approvers"},
		{"a rejection ends the gate", 1, nil, []pipeline.Approval{good, rejected}, "", "bob@example.com rejected prod for run r1: not on a Friday", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := &config.Environment{Name: "prod", Approval: &config.Approval{Signed: true, MinApprovals: tc.min, Approvers: tc.approvers, AllowedSigners: "allowed_signers"}}
			svc := &pipeline.ServiceRun{Name: "delivery", Stages: []*pipeline.StageState{
				{ID: "push", Status: pipeline.Succeeded, Outputs: pipeline.Outputs{Push: &pipeline.PushOutput{Digest: imageDigest}}},
				{ID: "chart", Status: pipeline.Succeeded, Outputs: pipeline.Outputs{Chart: &pipeline.ChartOutput{Digest: chartDigest}}},
			}}
			var log bytes.Buffer
			job := &pipeline.Job{Run: &pipeline.Run{ID: "r1", Approvals: tc.approvals}, Env: env, Pipeline: svc, Outputs: &pipeline.Outputs{}, Log: &log}
			stage := Stage{Signers: func(context.Context, *config.Environment) (approval.AllowedSigners, error) { return allowed, nil }}
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
		})
	}
}
