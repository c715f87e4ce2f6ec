// Package promote copies a pushed image into an environment's registry namespace by digest:
// REGISTRY/<service>@sha256:… becomes REGISTRY/<namespace>/<service>:<version> with the same
// digest. Nothing is rebuilt and no layer is copied: the registry mounts the blobs.
package promote

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/ferry-ci/ferry/internal/ocierr"
	"github.com/ferry-ci/ferry/pipeline"
	"github.com/ferry-ci/ferry/pipeline/config"
	"github.com/ferry-ci/ferry/triggers"
)

// Stage is the promote stage.
type Stage struct {
	Keychain authn.Keychain
	// Options are extra remote options (transport); tests use them to count bytes.
	Options []remote.Option
}

var (
	_ pipeline.Stage     = (*Stage)(nil)
	_ pipeline.DryRunner = (*Stage)(nil)
)

// Name is promote.
func (s *Stage) Name() string { return config.StagePromote }

// Destination is where a service's image is promoted for an environment.
func Destination(cfg *config.Config, env *config.Environment, service, version, commit string) string {
	tag := commit
	if version != "" {
		tag = triggers.ImageTag(version)
	}
	return fmt.Sprintf("%s/%s/%s:%s", cfg.Registry, env.RegistryNamespace, service, tag)
}

// DryRun says what would be copied where.
func (s *Stage) DryRun(job *pipeline.Job) string {
	return fmt.Sprintf("re-tag the pushed digest as %s", Destination(job.Config, job.Env, job.Pipeline.Name, job.Pipeline.Version, job.Run.Event.After))
}

// Run copies the manifest of the pushed digest to the destination tag. A destination that
// already holds the digest is left alone; one that holds another digest is refused unless the
// run was started with --force.
func (s *Stage) Run(ctx context.Context, job *pipeline.Job) error {
	pushed, ok := job.Pipeline.Output(config.StagePush)
	if !ok || pushed.Push == nil {
		return pipeline.Permanent(errors.New("nothing to promote: the push stage recorded no image"))
	}
	if job.Env == nil || job.Env.RegistryNamespace == "" {
		return pipeline.Permanent(errors.New("promote runs only for an environment with a registryNamespace"))
	}
	src, err := name.NewDigest(pushed.Push.Ref)
	if err != nil {
		return pipeline.Permanent(fmt.Errorf("pushed ref %q: %w", pushed.Push.Ref, err))
	}
	dstText := Destination(job.Config, job.Env, job.Pipeline.Name, job.Pipeline.Version, job.Run.Event.After)
	dst, err := name.NewTag(dstText)
	if err != nil {
		return pipeline.Permanent(fmt.Errorf("destination %q: %w", dstText, err))
	}
	keychain := s.Keychain
	if keychain == nil {
		keychain = authn.DefaultKeychain
	}
	opts := append([]remote.Option{remote.WithAuthFromKeychain(keychain), remote.WithContext(ctx)}, s.Options...)
	out := &pipeline.PushOutput{Ref: dst.Context().Digest(src.DigestStr()).String(), Digest: src.DigestStr(), Tags: []string{dst.TagStr()}}

	if desc, err := remote.Head(dst, opts...); err == nil {
		if desc.Digest.String() == src.DigestStr() {
			fmt.Fprintf(job.Log, "%s already holds %s: nothing to do\n", dst, src.DigestStr())
			job.Outputs.Promote = out
			return nil
		}
		if !job.Force {
			return pipeline.Permanent(fmt.Errorf("%s already holds %s, not %s (releases are immutable; run with --force to move it)",
				dst, desc.Digest, src.DigestStr()))
		}
		fmt.Fprintf(job.Log, "moving %s from %s (--force)\n", dst, desc.Digest)
	} else if !ocierr.NotFound(err) {
		return fmt.Errorf("check %s: %w", dst, err)
	}
	desc, err := remote.Get(src, opts...)
	if err != nil {
		return fmt.Errorf("read %s: %w", src, err)
	}
	// Push with the source's descriptor: image or index, the manifest bytes (and so the
	// digest) stay the same and blobs are mounted from the source repository.
	if err := remote.Push(dst, desc, opts...); err != nil {
		return fmt.Errorf("promote %s to %s: %w", src, dst, err)
	}
	got, err := remote.Head(dst, opts...)
	if err != nil {
		return fmt.Errorf("check %s: %w", dst, err)
	}
	if got.Digest.String() != src.DigestStr() {
		return pipeline.Permanent(fmt.Errorf("%s holds %s after the copy, want %s", dst, got.Digest, src.DigestStr()))
	}
	fmt.Fprintf(job.Log, "promoted %s to %s\n", src, dst)
	job.Outputs.Promote = out
	return nil
}
