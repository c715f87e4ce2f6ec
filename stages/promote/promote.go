// Package promote copies a pushed image into an environment's registry namespace by digest:
// REGISTRY/<service>@sha256:… becomes REGISTRY/<namespace>/<service>:<version> with the same
// digest, with everything attached to it (referrers, cosign tags) and the approvals as
// evidence; the chart goes to REGISTRY/<namespace>/helm/<chart>:<version> the same way. Nothing
// is rebuilt or re-packaged and no layer is copied: the registry mounts the blobs.
package promote

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/crypto/ssh"

	"github.com/ferry-ci/ferry/internal/ocierr"
	"github.com/ferry-ci/ferry/pipeline"
	"github.com/ferry-ci/ferry/pipeline/approval"
	"github.com/ferry-ci/ferry/pipeline/config"
	"github.com/ferry-ci/ferry/stages/evidence"
	"github.com/ferry-ci/ferry/triggers"
)

// Stage is the promote stage.
type Stage struct {
	Keychain authn.Keychain
	// Options are extra remote options (transport); tests use them to count bytes.
	Options []remote.Option
	// Signers are the allowed signers that judge an environment's approvals: the trunk's, as
	// the approve stage reads them. Promotion checks again that the approvals are of the
	// digest it copies.
	Signers func(ctx context.Context, env *config.Environment) (approval.AllowedSigners, error)
	// Signer signs the approvals evidence; nil leaves it unsigned.
	Signer evidence.SignerFunc
}

var (
	_ pipeline.Stage     = (*Stage)(nil)
	_ pipeline.DryRunner = (*Stage)(nil)
)

// Name is promote.
func (s *Stage) Name() string { return config.StagePromote }

// Destination is where a service's image is promoted for an environment.
func Destination(cfg *config.Config, env *config.Environment, service, version, commit string) string {
	return fmt.Sprintf("%s/%s/%s:%s", cfg.Registry, env.RegistryNamespace, service, tag(version, commit))
}

// ChartDestination is where a chart is promoted for an environment.
func ChartDestination(cfg *config.Config, env *config.Environment, ch *pipeline.ChartOutput) string {
	return fmt.Sprintf("%s/%s/helm/%s:%s", cfg.Registry, env.RegistryNamespace, ch.Name, ch.Tag)
}

func tag(version, commit string) string {
	if version != "" {
		return triggers.ImageTag(version)
	}
	return commit
}

// DryRun says what would be copied where.
func (s *Stage) DryRun(job *pipeline.Job) string {
	what := fmt.Sprintf("re-tag the pushed digest as %s with its referrers and the approvals as evidence",
		Destination(job.Config, job.Env, job.Pipeline.Name, job.Pipeline.Version, job.Run.Event.After))
	if job.Service != nil && job.Service.Chart != "" {
		what += fmt.Sprintf(", and the chart by digest to %s/%s/helm", job.Config.Registry, job.Env.RegistryNamespace)
	}
	return what
}

// plan is what one promotion copies.
type plan struct {
	src      name.Digest
	dst      name.Tag
	chartSrc *name.Digest
	chartDst *name.Tag
	chart    *pipeline.ChartOutput
}

// Run checks that the approvals are of the pushed digest, checks both destinations, then
// copies the referrers, attaches the approvals, copies the chart and, last, tags the image:
// nothing is tagged in the environment before its evidence is there. A destination that
// already holds the digest is left alone; one that holds another digest is refused unless the
// run was started with --force.
func (s *Stage) Run(ctx context.Context, job *pipeline.Job) error {
	p, err := s.plan(job)
	if err != nil {
		return pipeline.Permanent(err)
	}
	apps, err := s.approvals(ctx, job, p)
	if err != nil {
		return err
	}
	opts := append(evidence.Options(s.Keychain, s.Options), remote.WithContext(ctx))
	imageThere, err := s.free(job, p.dst, p.src.DigestStr(), opts)
	if err != nil {
		return err
	}
	chartThere := false
	if p.chart != nil {
		if chartThere, err = s.free(job, *p.chartDst, p.chart.Digest, opts); err != nil {
			return err
		}
	}
	desc, err := remote.Get(p.src, opts...)
	if err != nil {
		return fmt.Errorf("read %s: %w", p.src, err)
	}
	evidenceRefs, err := s.evidence(ctx, job, p, desc.Descriptor, apps, opts)
	if err != nil {
		return err
	}
	out := &pipeline.PromoteOutput{PushOutput: pipeline.PushOutput{Ref: p.dst.Context().Digest(p.src.DigestStr()).String(),
		Digest: p.src.DigestStr(), Tags: []string{p.dst.TagStr()}}, Evidence: evidenceRefs}
	if p.chart != nil {
		if err := s.copy(job, *p.chartSrc, *p.chartDst, chartThere, opts); err != nil {
			return err
		}
		out.Chart = &pipeline.PushOutput{Ref: p.chartDst.Context().Digest(p.chart.Digest).String(), Digest: p.chart.Digest, Tags: []string{p.chartDst.TagStr()}}
	}
	if err := s.copy(job, p.src, p.dst, imageThere, opts); err != nil {
		return err
	}
	job.Outputs.Promote = out
	return nil
}

func (s *Stage) plan(job *pipeline.Job) (plan, error) {
	pushed, ok := job.Pipeline.Output(config.StagePush)
	if !ok || pushed.Push == nil {
		return plan{}, errors.New("nothing to promote: the push stage recorded no image")
	}
	if job.Env == nil || job.Env.RegistryNamespace == "" {
		return plan{}, errors.New("promote runs only for an environment with a registryNamespace")
	}
	var p plan
	var err error
	if p.src, err = name.NewDigest(pushed.Push.Ref); err != nil {
		return plan{}, fmt.Errorf("pushed ref %q: %w", pushed.Push.Ref, err)
	}
	dst := Destination(job.Config, job.Env, job.Pipeline.Name, job.Pipeline.Version, job.Run.Event.After)
	if p.dst, err = name.NewTag(dst); err != nil {
		return plan{}, fmt.Errorf("destination %q: %w", dst, err)
	}
	if out, ok := job.Pipeline.Output(config.StageChart); ok && out.Chart != nil {
		src, err := name.NewDigest(out.Chart.Ref)
		if err != nil {
			return plan{}, fmt.Errorf("chart ref %q: %w", out.Chart.Ref, err)
		}
		text := ChartDestination(job.Config, job.Env, out.Chart)
		dst, err := name.NewTag(text)
		if err != nil {
			return plan{}, fmt.Errorf("chart destination %q: %w", text, err)
		}
		p.chart, p.chartSrc, p.chartDst = out.Chart, &src, &dst
	}
	return p, nil
}

// free checks a destination tag before anything is copied: whether it already holds want,
// and refuses one holding another digest (without --force).
func (s *Stage) free(job *pipeline.Job, dst name.Tag, want string, opts []remote.Option) (bool, error) {
	desc, err := remote.Head(dst, opts...)
	if ocierr.NotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("check %s: %w", dst, err)
	}
	if desc.Digest.String() == want {
		return true, nil
	}
	if !job.Force {
		return false, pipeline.Permanent(fmt.Errorf("%s already holds %s, not %s (releases are immutable; run with --force to move it): nothing promoted",
			dst, desc.Digest, want))
	}
	fmt.Fprintf(job.Log, "moving %s from %s (--force)\n", dst, desc.Digest)
	return false, nil
}

// copy puts src's manifest under the dst tag (blobs mounted from src's repository) and checks
// the tag holds src's digest after.
func (s *Stage) copy(job *pipeline.Job, src name.Digest, dst name.Tag, there bool, opts []remote.Option) error {
	if there {
		fmt.Fprintf(job.Log, "%s already holds %s: nothing to do\n", dst, src.DigestStr())
		return nil
	}
	want, err := v1.NewHash(src.DigestStr())
	if err != nil {
		return pipeline.Permanent(err)
	}
	if err := evidence.CopyManifest(src, dst, want, opts); err != nil {
		return fmt.Errorf("promote %s to %s: %w", src, dst, err)
	}
	got, err := remote.Head(dst, opts...)
	if err != nil {
		return fmt.Errorf("check %s: %w", dst, err)
	}
	if got.Digest != want {
		return pipeline.Permanent(fmt.Errorf("%s holds %s after the copy, want %s", dst, got.Digest, want))
	}
	fmt.Fprintf(job.Log, "promoted %s to %s\n", src, dst)
	return nil
}

// evidence copies what is attached to the pushed digest and attaches the approvals, in the
// destination repository, and returns the destination's referrers.
func (s *Stage) evidence(ctx context.Context, job *pipeline.Job, p plan, subject v1.Descriptor, apps *approvalsEvidence, opts []remote.Option) ([]string, error) {
	copied, err := evidence.Copy(ctx, p.src, p.dst.Context(), opts)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(job.Log, "copied %d referrers and %d cosign tags of %s to %s\n", len(copied.Referrers), len(copied.Tags), p.src.DigestStr(), p.dst.Context())
	if apps != nil {
		signer, err := s.signer(job)
		if err != nil {
			return nil, pipeline.Permanent(err)
		}
		if err := evidence.AttachLogged(ctx, job.Log, p.dst.Context(), subject, apps.artifact, signer, opts); err != nil {
			return nil, err
		}
	}
	refs, err := evidence.Referrers(ctx, p.dst.Context().Digest(p.src.DigestStr()), opts)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(refs))
	for _, r := range refs {
		out = append(out, r.Digest.String())
	}
	return out, nil
}

// signer is the evidence signing key, nil (and said so) when none is configured.
func (s *Stage) signer(job *pipeline.Job) (ssh.Signer, error) {
	if s.Signer != nil {
		k, err := s.Signer()
		if err != nil {
			return nil, fmt.Errorf("evidence signing key: %w", err)
		}
		if k != nil {
			return k, nil
		}
	}
	fmt.Fprintln(job.Log, "the approvals evidence is unsigned: no signing key configured (FERRY_SIGNING_KEY); the approvals in it are signed by their approvers")
	return nil, nil
}
