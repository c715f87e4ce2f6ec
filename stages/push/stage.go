package push

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/ferry-ci/ferry/internal/ocilayout"
	"github.com/ferry-ci/ferry/pipeline"
	"github.com/ferry-ci/ferry/pipeline/config"
	"github.com/ferry-ci/ferry/triggers"
)

// Stage is the push stage: it pushes the image the image stage built to
// REGISTRY/<service>, tagged with the commit and, for releases, the version, and records the
// digest that every later stage uses.
type Stage struct {
	Keychain  authn.Keychain
	PlainHTTP bool
}

var (
	_ pipeline.Stage     = (*Stage)(nil)
	_ pipeline.Skipper   = (*Stage)(nil)
	_ pipeline.DryRunner = (*Stage)(nil)
)

// Name is push.
func (s *Stage) Name() string { return config.StagePush }

// Skip skips services without an image.
func (s *Stage) Skip(job *pipeline.Job) (string, bool) {
	if job.Service == nil || job.Service.Image == nil {
		return "no image section", true
	}
	return "", false
}

// Target is where a service's image goes: the repository and its tags. For releases the
// version, as triggers.ImageTag writes it, is an immutable tag; the commit is a moving tag:
// the latest image built from it.
func Target(cfg *config.Config, service, version, commit string) (repo string, tags Tags) {
	repo = cfg.Registry + "/" + service
	if version != "" {
		tags.Immutable = append(tags.Immutable, triggers.ImageTag(version))
	}
	if commit != "" {
		tags.Moving = append(tags.Moving, commit)
	}
	return repo, tags
}

// DryRun says where the image would go.
func (s *Stage) DryRun(job *pipeline.Job) string {
	repo, tags := Target(job.Config, job.Pipeline.Name, job.Pipeline.Version, job.Run.Event.After)
	return fmt.Sprintf("push the built image to %s as %s", repo, strings.Join(append(slices.Clone(tags.Immutable), tags.Moving...), ", "))
}

// Run pushes the image layout. An image already in the registry under the same digest is
// not uploaded again; a release tag that points at another digest is refused unless the run
// was started with --force.
func (s *Stage) Run(ctx context.Context, job *pipeline.Job) error {
	out, ok := job.Pipeline.Output(config.StageImage)
	if !ok || out.Image == nil {
		return pipeline.Permanent(errors.New("no image to push: the image stage did not produce one"))
	}
	if job.Config.Registry == "" {
		return pipeline.Permanent(errors.New("no registry in ferry.yaml"))
	}
	img, err := ocilayout.Read(out.Image.Layout)
	if err != nil {
		return pipeline.Permanent(fmt.Errorf("read the built image: %w", err))
	}
	keychain := s.Keychain
	if keychain == nil {
		keychain = authn.DefaultKeychain
	}
	pusher, err := New(Options{Keychain: keychain, PlainHTTP: s.PlainHTTP, Log: job.Log})
	if err != nil {
		return pipeline.Permanent(err)
	}
	repo, tags := Target(job.Config, job.Pipeline.Name, job.Pipeline.Version, job.Run.Event.After)
	pushed, err := pusher.Push(ctx, img, repo, tags, job.Force)
	if errors.Is(err, ErrTagMoved) {
		return pipeline.Permanent(fmt.Errorf("%w (releases are immutable; run with --force to move it)", err))
	}
	if err != nil {
		return err
	}
	if pushed.AlreadyPresent {
		fmt.Fprintf(job.Log, "already in the registry: %s\n", pushed.Ref)
	}
	job.Outputs.Push = &pipeline.PushOutput{Ref: pushed.Ref, Digest: pushed.Digest.String(), Tags: pushed.Tags}
	return nil
}
