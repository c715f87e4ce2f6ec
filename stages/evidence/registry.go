// Package evidence attaches Ferry's evidence (pipeline/evidence) to images as OCI referrers,
// lists and reads it back, and copies what is attached to an image when the image is
// promoted: OCI referrers (the referrers API where the registry has it, the referrers tag
// schema, sha256-<hex>, where it does not, as Debian's distribution 2.8) and cosign-style
// tags (sha256-<hex>.sig, .att, .sbom). Every copy is by digest with blob mounts.
package evidence

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/ferry-ci/ferry/internal/ocierr"
	pev "github.com/ferry-ci/ferry/pipeline/evidence"
)

// maxPayload bounds what is read of one evidence payload: a Trivy report of a large image is
// a few MB.
const maxPayload = 64 << 20

// rawManifest is a manifest's bytes with its media type, for remote.Put.
type rawManifest struct {
	raw []byte
	mt  types.MediaType
}

func (m rawManifest) RawManifest() ([]byte, error)        { return m.raw, nil }
func (m rawManifest) MediaType() (types.MediaType, error) { return m.mt, nil }

// Attach pushes an artifact as a referrer of subject into repo and returns the artifact
// manifest's digest. The subject need not be in repo yet (promotion pushes the image last).
// The manifest is deterministic: an artifact already there is not pushed again.
func Attach(ctx context.Context, repo name.Repository, subject v1.Descriptor, a pev.Artifact, opts []remote.Option) (v1.Hash, bool, error) {
	opts = append(opts, remote.WithContext(ctx))
	m, err := a.Manifest(subject)
	if err != nil {
		return v1.Hash{}, false, err
	}
	dst := repo.Digest(m.Digest.String())
	if _, err := remote.Head(dst, opts...); err == nil {
		return m.Digest, true, nil
	} else if !ocierr.NotFound(err) {
		return v1.Hash{}, false, fmt.Errorf("check %s: %w", dst, err)
	}
	for _, b := range m.Blobs {
		if err := remote.WriteLayer(repo, static.NewLayer(b.Content, b.Descriptor.MediaType), opts...); err != nil {
			return v1.Hash{}, false, fmt.Errorf("attach %s evidence to %s@%s: %w", a.ArtifactType, repo, subject.Digest, err)
		}
	}
	if err := remote.Put(dst, rawManifest{raw: m.Raw, mt: types.OCIManifestSchema1}, opts...); err != nil {
		return v1.Hash{}, false, fmt.Errorf("attach %s evidence to %s@%s: %w", a.ArtifactType, repo, subject.Digest, err)
	}
	return m.Digest, false, nil
}

// Referrers lists the manifests whose subject is the digest (any artifact type).
func Referrers(ctx context.Context, subject name.Digest, opts []remote.Option) ([]v1.Descriptor, error) {
	idx, err := remote.Referrers(subject, append(opts, remote.WithContext(ctx))...)
	if err != nil {
		return nil, fmt.Errorf("list the referrers of %s: %w", subject, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("list the referrers of %s: %w", subject, err)
	}
	return im.Manifests, nil
}

// Fetch lists the Ferry evidence attached to subject and reads each artifact's payload and
// signature. Referrers of other types (cosign's, an SBOM tool's) are left out.
func Fetch(ctx context.Context, subject name.Digest, opts []remote.Option) ([]pev.Fetched, error) {
	descs, err := Referrers(ctx, subject, opts)
	if err != nil {
		return nil, err
	}
	var out []pev.Fetched
	for _, d := range descs {
		switch d.ArtifactType {
		case pev.ScanType, pev.ApprovalsType, pev.ProvenanceType:
		default:
			continue
		}
		f, err := fetchOne(ctx, subject, d, opts)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

func fetchOne(ctx context.Context, subject name.Digest, d v1.Descriptor, opts []remote.Option) (pev.Fetched, error) {
	opts = append(opts, remote.WithContext(ctx))
	ref := subject.Context().Digest(d.Digest.String())
	desc, err := remote.Get(ref, opts...)
	if err != nil {
		return pev.Fetched{}, fmt.Errorf("read evidence %s: %w", ref, err)
	}
	p, err := pev.ParseManifest(desc.Manifest)
	if err != nil {
		return pev.Fetched{}, fmt.Errorf("%s: %w", ref, err)
	}
	if p.Subject.String() != subject.DigestStr() {
		return pev.Fetched{}, fmt.Errorf("%s: subject is %s, not %s", ref, p.Subject, subject.DigestStr())
	}
	f := pev.Fetched{ArtifactType: p.ArtifactType, Run: p.Annotations[pev.AnnotationRun]}
	if f.Payload, err = readBlob(subject.Context(), p.Payload, opts); err != nil {
		return f, err
	}
	if p.Signature != nil {
		if f.Signature, err = readBlob(subject.Context(), *p.Signature, opts); err != nil {
			return f, err
		}
	}
	return f, nil
}

// readBlob reads a blob, checking its digest (go-containerregistry verifies it as it reads).
func readBlob(repo name.Repository, d v1.Descriptor, opts []remote.Option) ([]byte, error) {
	if d.Size > maxPayload {
		return nil, fmt.Errorf("evidence blob %s is %d bytes, more than %d", d.Digest, d.Size, maxPayload)
	}
	l, err := remote.Layer(repo.Digest(d.Digest.String()), opts...)
	if err != nil {
		return nil, fmt.Errorf("read evidence blob %s: %w", d.Digest, err)
	}
	rc, err := l.Compressed()
	if err != nil {
		return nil, fmt.Errorf("read evidence blob %s: %w", d.Digest, err)
	}
	b, err := io.ReadAll(io.LimitReader(rc, maxPayload+1))
	if err := errors.Join(err, rc.Close()); err != nil {
		return nil, fmt.Errorf("read evidence blob %s: %w", d.Digest, err)
	}
	return b, nil
}

// CosignSuffixes are the tags cosign attaches to sha256-<hex>: signatures, attestations,
// SBOMs.
var cosignSuffixes = []string{".sig", ".att", ".sbom"}

// Copied says what Copy copied (or found already there).
type Copied struct {
	Referrers []string // manifest digests
	Tags      []string // cosign tags
}

// Copy copies what is attached to src into dst, the repository the image is promoted to:
// every referrer by digest (which also updates dst's referrers tag where the registry has
// no referrers API) and cosign's tags. Blobs are mounted from src.
func Copy(ctx context.Context, src name.Digest, dst name.Repository, opts []remote.Option) (Copied, error) {
	var c Copied
	descs, err := Referrers(ctx, src, opts)
	if err != nil {
		return c, err
	}
	opts = append(opts, remote.WithContext(ctx))
	for _, d := range descs {
		if err := CopyManifest(src.Context().Digest(d.Digest.String()), dst.Digest(d.Digest.String()), d.Digest, opts); err != nil {
			return c, err
		}
		c.Referrers = append(c.Referrers, d.Digest.String())
	}
	tagBase := strings.Replace(src.DigestStr(), ":", "-", 1)
	for _, suffix := range cosignSuffixes {
		from := src.Context().Tag(tagBase + suffix)
		desc, err := remote.Head(from, opts...)
		if ocierr.NotFound(err) {
			continue
		}
		if err != nil {
			return c, fmt.Errorf("check %s: %w", from, err)
		}
		if err := CopyManifest(from, dst.Tag(tagBase+suffix), desc.Digest, opts); err != nil {
			return c, err
		}
		c.Tags = append(c.Tags, tagBase+suffix)
	}
	return c, nil
}

// CopyManifest copies a manifest (and, by mounts, its blobs) to another reference unless that
// reference already holds the digest want.
func CopyManifest(from, to name.Reference, want v1.Hash, opts []remote.Option) error {
	if got, err := remote.Head(to, opts...); err == nil && got.Digest == want {
		return nil
	} else if err != nil && !ocierr.NotFound(err) {
		return fmt.Errorf("check %s: %w", to, err)
	}
	desc, err := remote.Get(from, opts...)
	if err != nil {
		return fmt.Errorf("read %s: %w", from, err)
	}
	if err := remote.Push(to, desc, opts...); err != nil {
		return fmt.Errorf("copy %s to %s: %w", from, to, err)
	}
	return nil
}

// VerifyImage reads the evidence attached to an image from the registry and judges it. The
// repository the provenance names is asked whether it holds the digest, unless opt says how.
func VerifyImage(ctx context.Context, image name.Digest, opts []remote.Option, opt pev.VerifyOptions) (pev.Result, error) {
	found, err := Fetch(ctx, image, opts)
	if err != nil {
		return pev.Result{}, err
	}
	if opt.Holds == nil {
		opt.Holds = func(ctx context.Context, repo, digest string) (bool, error) {
			d, err := name.NewDigest(repo + "@" + digest)
			if err != nil {
				return false, err
			}
			_, err = remote.Head(d, append(opts, remote.WithContext(ctx))...)
			if ocierr.NotFound(err) {
				return false, nil
			}
			return err == nil, err
		}
	}
	return pev.Verify(ctx, image.Context().Name()+"@"+image.DigestStr(), found, opt), nil
}
