// Package evidencetest makes a release ready for promotion in a test registry: an image
// pushed to REGISTRY/shipping/delivery with its scan report and provenance attached by the
// real push-time evidence stage, a chart, a cosign signature tag, approvers' SSH keys and the
// promote job of the run, so that promotion and `ferry verify` are tested on the same thing.
package evidencetest

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/crypto/ssh"

	"github.com/ferry-ci/ferry/pipeline"
	"github.com/ferry-ci/ferry/pipeline/approval"
	"github.com/ferry-ci/ferry/pipeline/config"
	"github.com/ferry-ci/ferry/stages/evidence"
)

// Trivy JSON reports: one without findings, one with a fixable HIGH finding.
const (
	CleanReport      = `{"SchemaVersion":2,"ArtifactName":"delivery","Trivy":{"Version":"0.74.0"},"Results":[{"Target":"app","Class":"lang-pkgs","Type":"gobinary"}]}`
	VulnerableReport = `{"SchemaVersion":2,"ArtifactName":"delivery","Trivy":{"Version":"0.74.0"},"Results":[{"Target":"app","Class":"lang-pkgs","Type":"gobinary","Vulnerabilities":[{"VulnerabilityID":"CVE-2021-38561","PkgName":"golang.org/x/text","InstalledVersion":"v0.3.6","FixedVersion":"0.3.7","Severity":"HIGH"}]}]}`
)

// RunID is the run of every fixture.
const RunID = "20261202-100000.000-abcdef"

// Options shape a release.
type Options struct {
	LayerSize int64 // default 1 KiB
	Layers    int   // default 1
	// Report is the scan report attached ("" attaches none, as when no scan stage ran);
	// Passed is what the scan gate recorded.
	Report string
	Passed bool
	// NoProvenance skips the push-time evidence altogether.
	NoProvenance bool
	// Signer signs the evidence.
	Signer ssh.Signer
}

// Release is an image pushed and ready for promotion.
type Release struct {
	Registry            string
	Image               v1.Hash
	Pushed              string // REGISTRY/shipping/delivery@sha256:…
	Chart               *pipeline.ChartOutput
	CosignTag           string
	Alice, Bob, Mallory ssh.Signer
	Allowed             approval.AllowedSigners
	// AllowedText is the allowed_signers file of Alice and Bob.
	AllowedText string
	cfg         *config.Config
	pushJob     *pipeline.Job
}

// NewKey makes an ed25519 SSH key.
func NewKey(t testing.TB) ssh.Signer {
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

// AllowedLine is one allowed_signers line.
func AllowedLine(principal string, s ssh.Signer) string {
	return principal + " " + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(s.PublicKey())))
}

// Push pushes the image, its chart and a cosign signature tag to reg, and runs the push-time
// evidence stage over a push job whose scan stage kept o.Report.
func Push(t testing.TB, reg string, o Options) *Release {
	t.Helper()
	if o.LayerSize == 0 {
		o.LayerSize = 1024
	}
	if o.Layers == 0 {
		o.Layers = 1
	}
	r := &Release{Registry: reg, Alice: NewKey(t), Bob: NewKey(t), Mallory: NewKey(t)}
	r.AllowedText = AllowedLine("alice@example.com", r.Alice) + "\n" + AllowedLine("bob@example.com", r.Bob) + "\n"
	var err error
	if r.Allowed, err = approval.ParseAllowedSigners("allowed_signers", []byte(r.AllowedText)); err != nil {
		t.Fatal(err)
	}
	img := randomImage(t, o.LayerSize, o.Layers)
	r.Image, _ = img.Digest()
	write(t, reg+"/shipping/delivery:1.0.2", img)
	r.Pushed = reg + "/shipping/delivery@" + r.Image.String()
	chart := randomImage(t, 512, 1)
	cd, _ := chart.Digest()
	write(t, reg+"/shipping/helm/delivery:1.0.2", chart)
	r.Chart = &pipeline.ChartOutput{Ref: reg + "/shipping/helm/delivery@" + cd.String(), Digest: cd.String(), Name: "delivery",
		Version: "1.0.2", AppVersion: "1.0.2", Tag: "1.0.2", Image: r.Pushed}
	r.CosignTag = strings.Replace(r.Image.String(), ":", "-", 1) + ".sig"
	write(t, reg+"/shipping/delivery:"+r.CosignTag, randomImage(t, 64, 1))

	r.cfg = &config.Config{Registry: reg + "/shipping", Trunk: "main", File: "/repo/ferry.yaml"}
	r.pushJob = r.newJob(t, o)
	if !o.NoProvenance {
		at := &evidence.AtPush{Push: pushed{r}, Source: "https://example.com/shipping", Version: "v1.2.3"}
		if o.Signer != nil {
			at.Signer = func() (ssh.Signer, error) { return o.Signer, nil }
		}
		if err := at.Run(t.Context(), r.pushJob); err != nil {
			t.Fatalf("push-time evidence: %v", err)
		}
	}
	return r
}

func randomImage(t testing.TB, size int64, layers int) v1.Image {
	t.Helper()
	img, err := random.Image(size, int64(layers))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func write(t testing.TB, ref string, img v1.Image) {
	t.Helper()
	tag, err := name.NewTag(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img); err != nil {
		t.Fatal(err)
	}
}

// pushed stands for the push stage: the image is already in the registry.
type pushed struct{ r *Release }

func (p pushed) Name() string { return config.StagePush }
func (p pushed) Run(_ context.Context, job *pipeline.Job) error {
	job.Outputs.Push = &pipeline.PushOutput{Ref: p.r.Pushed, Digest: p.r.Image.String(), Tags: []string{"1.0.2"}}
	return nil
}

func (r *Release) newJob(t testing.TB, o Options) *pipeline.Job {
	ended := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	svc := &pipeline.ServiceRun{Name: "delivery", Pipeline: "release", Version: "1.0.2", Stages: []*pipeline.StageState{
		{ID: "build", Status: pipeline.Succeeded, InputsDigest: "sha256:b"},
		{ID: "scan", Status: pipeline.Skipped, Reason: "no scan stage"},
		{ID: "push", Status: pipeline.Running},
		{ID: "chart", Status: pipeline.Pending},
		{ID: "approve:prod", Status: pipeline.Pending},
		{ID: "promote:prod", Status: pipeline.Pending},
	}}
	if o.Report != "" {
		file := filepath.Join(t.TempDir(), "trivy.json")
		if err := os.WriteFile(file, []byte(o.Report), 0o644); err != nil {
			t.Fatal(err)
		}
		svc.Stages[1] = &pipeline.StageState{ID: "scan", Status: pipeline.Succeeded, InputsDigest: "sha256:s", Ended: ended,
			Outputs: pipeline.Outputs{Scan: &pipeline.ScanOutput{Passed: o.Passed, Report: file, Scanner: "trivy 0.74.0"}}}
	}
	run := &pipeline.Run{ID: RunID, Created: ended.Add(-time.Hour), ConfigDigest: "sha256:c", Services: []*pipeline.ServiceRun{svc}}
	run.Event.Ref, run.Event.After = "refs/heads/release/delivery/v1.0.2", "0123456789abcdef0123456789abcdef01234567"
	env := &config.Environment{Name: "prod", RegistryNamespace: "prod", Approval: &config.Approval{Signed: true, MinApprovals: 1,
		Approvers: []string{"alice@example.com", "bob@example.com"}, AllowedSigners: "deploy/allowed_signers"}}
	return &pipeline.Job{Run: run, Config: r.cfg, Service: &config.Service{Name: "delivery"}, Pipeline: svc, Stage: "push",
		Env: env, Outputs: &pipeline.Outputs{}, Log: &strings.Builder{}, RepoRoot: "/repo"}
}

// Env is the prod environment of the promote job.
func (r *Release) Env() *config.Environment { return r.pushJob.Env }

// Signers are the trunk's allowed signers, for the promote stage.
func (r *Release) Signers(context.Context, *config.Environment) (approval.AllowedSigners, error) {
	return r.Allowed, nil
}

// Approval is a signed approval record of prod by key, for image and chart digests.
func (r *Release) Approval(t testing.TB, key ssh.Signer, by, image, chart string) pipeline.Approval {
	t.Helper()
	st := approval.NewStatement(RunID, "delivery", "prod", approval.Approve, "ok", time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC), image, chart)
	s, err := approval.Sign(st, key)
	if err != nil {
		t.Fatal(err)
	}
	return pipeline.Approval{Env: "prod", By: by, Service: "delivery", Decision: "approve", Statement: s.Statement, Signature: s.Signature,
		At: time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)}
}

// PromoteJob is the promote:prod job of the run after the gate passed with approvals (by
// default Alice's, of the pushed image and chart).
func (r *Release) PromoteJob(t testing.TB, force bool, approvals ...pipeline.Approval) *pipeline.Job {
	t.Helper()
	j := *r.pushJob
	svc := *j.Pipeline
	svc.Stages = nil
	for _, st := range r.pushJob.Pipeline.Stages {
		c := *st
		svc.Stages = append(svc.Stages, &c)
	}
	run := *j.Run
	run.Services = []*pipeline.ServiceRun{&svc}
	if approvals == nil {
		approvals = []pipeline.Approval{r.Approval(t, r.Alice, "alice@example.com", r.Image.String(), r.Chart.Digest)}
	}
	run.Approvals = approvals
	var by []string
	for _, a := range approvals {
		by = append(by, a.By)
	}
	svc.Stage("push").Status, svc.Stage("push").Outputs = pipeline.Succeeded, pipeline.Outputs{Push: &pipeline.PushOutput{Ref: r.Pushed, Digest: r.Image.String()}}
	svc.Stage("chart").Status, svc.Stage("chart").Outputs = pipeline.Succeeded, pipeline.Outputs{Chart: r.Chart}
	svc.Stage("approve:prod").Status, svc.Stage("approve:prod").Outputs = pipeline.Succeeded, pipeline.Outputs{Approve: &pipeline.ApproveOutput{By: by}}
	j.Run, j.Pipeline, j.Stage, j.Outputs, j.Log, j.Force = &run, &svc, "promote:prod", &pipeline.Outputs{}, &strings.Builder{}, force
	return &j
}
