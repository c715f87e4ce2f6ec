package chart

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/ferry-ci/ferry/pipeline"
	"github.com/ferry-ci/ferry/pipeline/config"
)

// Stage is the chart stage: lint the service's chart, package it with the release version
// for the image the push stage recorded, and push it to REGISTRY/helm/<chart>. It runs once
// per service; every environment deploys the digest it records.
type Stage struct {
	Keychain  authn.Keychain
	PlainHTTP bool
}

var (
	_ pipeline.Stage     = (*Stage)(nil)
	_ pipeline.Skipper   = (*Stage)(nil)
	_ pipeline.Verifier  = (*Stage)(nil)
	_ pipeline.DryRunner = (*Stage)(nil)
)

// Name is chart.
func (s *Stage) Name() string { return config.StageChart }

// Skip skips services without a chart.
func (s *Stage) Skip(job *pipeline.Job) (string, bool) {
	if job.Service == nil || job.Service.Chart == "" {
		return "no chart", true
	}
	return "", false
}

// DryRun says what would be packaged and where it would go.
func (s *Stage) DryRun(job *pipeline.Job) string {
	if job.Service == nil || job.Service.Chart == "" {
		return "skip: no chart"
	}
	dir := chartDir(job)
	chartName, err := ChartName(dir)
	if err != nil {
		chartName = filepath.Base(dir)
	}
	version, appVersion, tag, err := Version(job.Pipeline.Version, job.Run.Event.After)
	if err != nil {
		return fmt.Sprintf("lint and package %s: %v", job.Service.Chart, err)
	}
	image := "the pushed image"
	if job.Service.Image == nil {
		image = "no image of its own"
	}
	return fmt.Sprintf("lint %s, package chart %s %s (appVersion %s) for %s, push it to oci://%s as %s",
		job.Service.Chart, chartName, version, appVersion, image, Repository(job.Config.Registry, chartName), tag)
}

// Run lints, packages and pushes the chart. A chart version already in the registry with the
// same content is not pushed again; one with other content is refused unless the run was
// started with --force.
func (s *Stage) Run(ctx context.Context, job *pipeline.Job) error {
	if job.Service == nil || job.Service.Chart == "" {
		return &pipeline.SkipError{Reason: "no chart"}
	}
	if job.Config.Registry == "" {
		return pipeline.Permanent(errors.New("no registry in ferry.yaml"))
	}
	image, err := pushedImage(job)
	if err != nil {
		return pipeline.Permanent(err)
	}
	version, appVersion, _, err := Version(job.Pipeline.Version, job.Run.Event.After)
	if err != nil {
		return pipeline.Permanent(err)
	}
	dir := chartDir(job)
	if err := Lint(dir, job.Log); err != nil {
		return pipeline.Permanent(fmt.Errorf("chart %s: %w", job.Service.Chart, err))
	}
	out := job.Dir
	if out == "" {
		if out, err = os.MkdirTemp("", "ferry-chart-"); err != nil {
			return err
		}
		defer os.RemoveAll(out)
	}
	pkg, err := Package(dir, out, version, appVersion, image)
	if err != nil {
		return pipeline.Permanent(err)
	}
	fmt.Fprintf(job.Log, "packaged %s: chart %s %s (appVersion %s), content %s\n",
		filepath.Base(pkg.Path), pkg.Name, pkg.Version, pkg.AppVersion, pkg.ContentDigest)
	reg := s.registry(job)
	reg.CredentialsFile = filepath.Join(out, "helm-registry-config.json")
	pushed, err := reg.Push(ctx, pkg, Repository(job.Config.Registry, pkg.Name), job.Force)
	if errors.Is(err, ErrContentChanged) {
		return pipeline.Permanent(fmt.Errorf("%w (run with --force to overwrite it)", err))
	}
	if err != nil {
		return err
	}
	if !pushed.AlreadyPresent {
		fmt.Fprintf(job.Log, "pushed chart %s\n", pushed.Ref)
	}
	job.Outputs.Chart = &pipeline.ChartOutput{
		Ref: pushed.Ref, Digest: pushed.Digest, Name: pkg.Name, Version: pkg.Version, AppVersion: pkg.AppVersion,
		Tag: pushed.Tag, Image: image, ContentDigest: pkg.ContentDigest,
	}
	return nil
}

// Verify checks that a recorded chart is still in the registry and was packaged for the image
// the push stage records now, before a resumed run deploys it.
func (s *Stage) Verify(ctx context.Context, job *pipeline.Job, out pipeline.Outputs) error {
	if out.Chart == nil || out.Chart.Ref == "" {
		return errors.New("no chart recorded")
	}
	if image, err := pushedImage(job); err == nil && image != out.Chart.Image {
		return fmt.Errorf("chart %s was packaged for image %q, the push stage now records %q", out.Chart.Ref, out.Chart.Image, image)
	}
	return s.registry(job).Exists(ctx, out.Chart.Ref)
}

func (s *Stage) registry(job *pipeline.Job) *Registry {
	return &Registry{Keychain: s.Keychain, PlainHTTP: s.PlainHTTP, Log: job.Log}
}

// chartDir is the service's chart folder.
func chartDir(job *pipeline.Job) string {
	return filepath.Join(job.RepoRoot, filepath.FromSlash(job.Service.Chart))
}

// pushedImage is the image the push stage recorded (REGISTRY/<service>@sha256:…); "" for a
// service without an image, whose chart deploys someone else's.
func pushedImage(job *pipeline.Job) (string, error) {
	out, ok := job.Pipeline.Output(config.StagePush)
	if ok && out.Push != nil && out.Push.Digest != "" {
		return out.Push.Ref, nil
	}
	if job.Service != nil && job.Service.Image == nil {
		return "", nil
	}
	return "", errors.New("no image for the chart: the push stage recorded none")
}
