package ocistore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/ferry-ci/ferry/internal/ocierr"
)

// Media types of Ferry's artifacts.
const (
	RunMediaType types.MediaType = "application/vnd.ferry.run.v1+json"
	// JournalMediaType is the whole journal of a run in the first layout (one pipeline.Record
	// per line); it is read, never written.
	JournalMediaType types.MediaType = "application/vnd.ferry.journal.v1+jsonl"
	// SegmentMediaType is a part of one writer's journal: one entry (seq, clock, record) per line.
	SegmentMediaType types.MediaType = "application/vnd.ferry.journal.v2+jsonl"
	LogMediaType     types.MediaType = "text/plain"
	CacheMediaType   types.MediaType = "application/vnd.ferry.cache.v1+json"
	// PageArtifactType is the artifact type of a writer's pages.
	PageArtifactType = "application/vnd.ferry.run.page.v1"
	// emptyMediaType is the OCI empty descriptor ({}), the layer of artifacts that need none.
	emptyMediaType types.MediaType = "application/vnd.oci.empty.v1+json"
)

// Annotations of Ferry's manifests and layers.
const (
	v1TitleAnnotation = "org.opencontainers.image.title"
	offsetAnnotation  = "vnd.ferry.log.offset"
	layoutAnnotation  = "vnd.ferry.layout"
	runAnnotation     = "vnd.ferry.run"
	writerAnnotation  = "vnd.ferry.writer"
	pageAnnotation    = "vnd.ferry.page"
	fullAnnotation    = "vnd.ferry.page.full"
)

// maxBlob bounds the run.json, journal and cache blobs read into memory.
const maxBlob = 64 << 20

var errNotRun = errors.New("not a ferry run")

// rawManifest is a manifest to PUT as is.
type rawManifest struct {
	data []byte
	mt   types.MediaType
}

func (m rawManifest) RawManifest() ([]byte, error)        { return m.data, nil }
func (m rawManifest) MediaType() (types.MediaType, error) { return m.mt, nil }

// blob is content to upload with its descriptor.
type blob struct {
	desc v1.Descriptor
	data []byte
}

func newBlob(data []byte, mt types.MediaType) (blob, error) {
	h, n, err := v1.SHA256(bytes.NewReader(data))
	if err != nil {
		return blob{}, err
	}
	return blob{desc: v1.Descriptor{MediaType: mt, Size: n, Digest: h}, data: data}, nil
}

// emptyBlob is the OCI empty descriptor's content.
func emptyBlob() blob {
	b, _ := newBlob([]byte("{}"), emptyMediaType)
	return b
}

// upload sends the blobs the repository does not have yet. Blobs this Store pushed or read are
// skipped without a request; for the others go-containerregistry asks (HEAD) first.
func (s *Store) upload(ctx context.Context, blobs []blob) error {
	for _, b := range blobs {
		s.mu.Lock()
		known := s.known[b.desc.Digest]
		s.mu.Unlock()
		if known {
			continue
		}
		if b.data == nil && b.desc.Size > 0 {
			return fmt.Errorf("blob %s: content not available here", b.desc.Digest)
		}
		if err := s.pusher.Upload(ctx, s.repo, static.NewLayer(b.data, b.desc.MediaType)); err != nil {
			return fmt.Errorf("upload %s: %w", b.desc.Digest, err)
		}
		s.markKnown(b.desc.Digest)
	}
	return nil
}

func (s *Store) markKnown(hs ...v1.Hash) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, h := range hs {
		s.known[h] = true
	}
}

// putManifest pushes a manifest under a tag and returns its digest.
func (s *Store) putManifest(ctx context.Context, tag string, raw []byte) (v1.Hash, error) {
	digest, _, err := v1.SHA256(bytes.NewReader(raw))
	if err != nil {
		return v1.Hash{}, err
	}
	if err := s.pusher.Put(ctx, s.repo.Tag(tag), rawManifest{raw, types.OCIManifestSchema1}); err != nil {
		return v1.Hash{}, fmt.Errorf("put manifest %s: %w", tag, err)
	}
	return digest, nil
}

// errDeleteRefused says the registry does not allow deleting manifests.
var errDeleteRefused = errors.New("the registry refuses to delete manifests (distribution needs REGISTRY_STORAGE_DELETE_ENABLED=true)")

// deleteManifest deletes a manifest by digest, which also removes the tags that point at it. A
// manifest already gone is no error; a registry that refuses deletes gives errDeleteRefused, and
// the Store stops asking it.
func (s *Store) deleteManifest(ctx context.Context, h v1.Hash) error {
	if s.noDelete.Load() {
		return errDeleteRefused
	}
	err := s.pusher.Delete(ctx, s.repo.Digest(h.String()))
	switch {
	case err == nil, ocierr.NotFound(err):
		return nil
	case refused(err):
		s.noDelete.Store(true)
		return errDeleteRefused
	}
	return fmt.Errorf("delete manifest %s: %w", short(h), err)
}

// refused reports a registry's answer to a DELETE it does not support or allow.
func refused(err error) bool {
	var terr *transport.Error
	if !errors.As(err, &terr) {
		return false
	}
	if terr.StatusCode == http.StatusMethodNotAllowed || terr.StatusCode == http.StatusForbidden {
		return true
	}
	for _, d := range terr.Errors {
		if d.Code == transport.UnsupportedErrorCode || d.Code == transport.DeniedErrorCode {
			return true
		}
	}
	return false
}

// badRequest reports a 400, what some registries answer to deleting a manifest by tag.
func badRequest(err error) bool {
	var terr *transport.Error
	return errors.As(err, &terr) && terr.StatusCode == http.StatusBadRequest
}

// openBlob streams a blob, verifying its digest at the end.
func (s *Store) openBlob(ctx context.Context, h v1.Hash) (io.ReadCloser, error) {
	l, err := s.puller.Layer(ctx, s.repo.Digest(h.String()))
	if err != nil {
		return nil, err
	}
	return l.Compressed()
}

// readBlob reads a small blob into memory.
func (s *Store) readBlob(ctx context.Context, d v1.Descriptor) ([]byte, error) {
	if d.Size > maxBlob {
		return nil, fmt.Errorf("blob %s is %d bytes, more than %d", d.Digest, d.Size, maxBlob)
	}
	rc, err := s.openBlob(ctx, d.Digest)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, maxBlob+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxBlob {
		return nil, fmt.Errorf("blob %s is more than %d bytes", d.Digest, maxBlob)
	}
	return data, nil
}

func short(h v1.Hash) string {
	if len(h.Hex) > 12 {
		return h.Algorithm + ":" + h.Hex[:12]
	}
	return h.String()
}
