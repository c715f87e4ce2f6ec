package evidence

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/crypto/ssh"

	"github.com/ferry-ci/ferry/pipeline"
	"github.com/ferry-ci/ferry/pipeline/config"
	pev "github.com/ferry-ci/ferry/pipeline/evidence"
)

// SignerFunc returns the key evidence is signed with, nil for none.
type SignerFunc func() (ssh.Signer, error)

// AtPush wraps the push stage: once the image is pushed, the scan report and the provenance
// statement are attached to its digest in the pushed repository. They are made where the scan
// report is on disk (the job that scanned and pushed), and promotion copies them.
type AtPush struct {
	Push     pipeline.Stage
	Keychain authn.Keychain
	Options  []remote.Option
	// Signer signs the evidence; nil leaves it unsigned, which the log says.
	Signer SignerFunc
	// Source is the repository's web address, as the CI system tells it ("" when unknown).
	Source string
	// Version is Ferry's version: the provenance's builder id.
	Version string
}

var (
	_ pipeline.Stage     = (*AtPush)(nil)
	_ pipeline.Skipper   = (*AtPush)(nil)
	_ pipeline.DryRunner = (*AtPush)(nil)
)

// Name is the push stage's.
func (s *AtPush) Name() string { return s.Push.Name() }

// Skip is the push stage's.
func (s *AtPush) Skip(job *pipeline.Job) (string, bool) {
	if sk, ok := s.Push.(pipeline.Skipper); ok {
		return sk.Skip(job)
	}
	return "", false
}

// DryRun is the push stage's, and the evidence.
func (s *AtPush) DryRun(job *pipeline.Job) string {
	what := ""
	if dr, ok := s.Push.(pipeline.DryRunner); ok {
		what = dr.DryRun(job) + "; "
	}
	return what + "attach the scan report and a provenance statement as referrers"
}

// Run pushes, then attaches the evidence.
func (s *AtPush) Run(ctx context.Context, job *pipeline.Job) error {
	if err := s.Push.Run(ctx, job); err != nil {
		return err
	}
	if job.Outputs.Push == nil {
		return nil
	}
	subject, err := name.NewDigest(job.Outputs.Push.Ref)
	if err != nil {
		return pipeline.Permanent(fmt.Errorf("pushed ref %q: %w", job.Outputs.Push.Ref, err))
	}
	arts, err := s.artifacts(job)
	if err != nil {
		return pipeline.Permanent(err)
	}
	signer, err := s.signer(job.Log)
	if err != nil {
		return pipeline.Permanent(err)
	}
	opts := Options(s.Keychain, s.Options)
	desc, err := remote.Head(subject, append(opts, remote.WithContext(ctx))...)
	if err != nil {
		return fmt.Errorf("read %s: %w", subject, err)
	}
	for _, a := range arts {
		if err := AttachLogged(ctx, job.Log, subject.Context(), *desc, a, signer, opts); err != nil {
			return err
		}
	}
	return nil
}

// Options are the remote options of a stage: its credentials and extra options.
func Options(keychain authn.Keychain, extra []remote.Option) []remote.Option {
	if keychain == nil {
		keychain = authn.DefaultKeychain
	}
	return append([]remote.Option{remote.WithAuthFromKeychain(keychain)}, extra...)
}

func (s *AtPush) signer(log io.Writer) (ssh.Signer, error) {
	if s.Signer == nil {
		fmt.Fprintln(log, "evidence is unsigned: no signing key configured (FERRY_SIGNING_KEY)")
		return nil, nil
	}
	k, err := s.Signer()
	if err != nil {
		return nil, fmt.Errorf("evidence signing key: %w", err)
	}
	if k == nil {
		fmt.Fprintln(log, "evidence is unsigned: no signing key configured (FERRY_SIGNING_KEY)")
	}
	return k, nil
}

// AttachLogged signs (when signer is set) and attaches one artifact, and says so.
func AttachLogged(ctx context.Context, log io.Writer, repo name.Repository, subject v1.Descriptor, a pev.Artifact, signer ssh.Signer, opts []remote.Option) error {
	if signer != nil {
		var err error
		if a, err = a.Sign(signer); err != nil {
			return pipeline.Permanent(err)
		}
	}
	d, already, err := Attach(ctx, repo, subject, a, opts)
	if err != nil {
		return err
	}
	state := "attached"
	if already {
		state = "already attached"
	}
	signed := "unsigned"
	if signer != nil {
		signed = "signed by " + ssh.FingerprintSHA256(signer.PublicKey())
	}
	fmt.Fprintf(log, "%s %s evidence to %s@%s as %s (%s)\n", state, a.ArtifactType, repo, subject.Digest, d, signed)
	return nil
}

// artifacts are the scan report (when the scan stage kept one) and the provenance.
func (s *AtPush) artifacts(job *pipeline.Job) ([]pev.Artifact, error) {
	var out []pev.Artifact
	digest := job.Outputs.Push.Digest
	if sc, st, ok := scanOutput(job.Pipeline); ok {
		report, err := os.ReadFile(sc.Report)
		if err != nil {
			return nil, fmt.Errorf("the scan report to attach: %w", err)
		}
		a, err := pev.ScanArtifact(job.Run.ID, job.Pipeline.Name, pev.Scan{Image: digest, Scanner: sc.Scanner,
			ScannedAt: st.Ended.UTC(), Policy: scanPolicy(job.Config.ScanPolicyFor(job.Service)), Passed: sc.Passed,
			Counts: sc.Counts, Failing: sc.Failing, Report: report})
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	} else {
		fmt.Fprintln(job.Log, "no scan report to attach: the scan stage did not run for this image")
	}
	prov, err := pev.ProvenanceArtifact(s.provenance(job))
	if err != nil {
		return nil, err
	}
	return append(out, prov), nil
}

func scanOutput(svc *pipeline.ServiceRun) (*pipeline.ScanOutput, *pipeline.StageState, bool) {
	for _, st := range svc.Stages {
		if st.ID.Kind() == config.StageScan && st.Status == pipeline.Succeeded && st.Outputs.Scan != nil && st.Outputs.Scan.Report != "" {
			return st.Outputs.Scan, st, true
		}
	}
	return nil, nil, false
}

func scanPolicy(p config.ScanPolicy) pev.ScanPolicy {
	out := pev.ScanPolicy{FailOn: p.FailOn, IgnoreUnfixed: p.IgnoreUnfixed}
	if out.FailOn == "" {
		out.FailOn = config.DefaultFailOn
	}
	for _, ig := range p.Ignore {
		out.Ignore = append(out.Ignore, pev.ScanIgnore{ID: ig.ID, Reason: ig.Reason, Expires: ig.Expires})
	}
	return out
}

func (s *AtPush) provenance(job *pipeline.Job) pev.ProvenanceInput {
	cfgPath := filepath.Base(job.Config.File)
	if rel, err := filepath.Rel(job.RepoRoot, job.Config.File); err == nil && job.RepoRoot != "" {
		cfgPath = filepath.ToSlash(rel)
	}
	var stages []pev.StageRecord
	for _, st := range job.Pipeline.Stages {
		stages = append(stages, pev.StageRecord{ID: string(st.ID), Status: string(st.Status), InputsDigest: st.InputsDigest, CachedFrom: st.CachedFrom})
		if st.ID == job.Stage {
			stages[len(stages)-1].Status = string(pipeline.Succeeded)
			break
		}
	}
	started := job.Run.Created
	if started.IsZero() {
		started = time.Now()
	}
	return pev.ProvenanceInput{Image: job.Outputs.Push.Ref, Run: job.Run.ID, Started: started, FerryVersion: s.Version, Stages: stages,
		Params: pev.ExternalParameters{Repository: s.Source, Ref: job.Run.Event.Ref, Commit: job.Run.Event.After, Config: cfgPath,
			ConfigDigest: job.Run.ConfigDigest, Pipeline: job.Pipeline.Pipeline, Service: job.Pipeline.Name, Version: job.Pipeline.Version}}
}
