package ocistore

// # Cached results in the registry
//
// A cache entry is an artifact of the run repository, tagged
// cache-<stage>-<first 64 hex digits of the inputs digest>:
//
//	manifest  application/vnd.oci.image.manifest.v1+json, artifactType application/vnd.ferry.cache.v1+json
//	config    application/vnd.ferry.cache.v1+json     the pipeline.CacheEntry (outputs, inputs, files)
//	layer 0.. application/vnd.ferry.cache.files.v1.tar+gzip
//	                                                  one output root each (a build's bin/, an image
//	                                                  layout, a scan report), titled with its name
//	                                                  (org.opencontainers.image.title); an entry
//	                                                  without files has the empty layer instead
//
// The same manifest is also tagged cache-<stage>-<service>-latest, the entry saved last for
// that stage and service: a miss is explained by comparing its inputs with that entry's. Two
// machines saving at once leave one of theirs there, which is all an explanation needs.
//
// A hit on a machine without the files (a fresh CI runner) restores each layer into the
// job's folders, checked against its digest before any file is moved into place. Identical
// outputs make identical layers (see FilesMediaType), which the registry already has.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/ferry-ci/ferry/internal/ocierr"
	"github.com/ferry-ci/ferry/pipeline"
)

var (
	stageRE   = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,56}$`)
	hexRE     = regexp.MustCompile(`^[0-9a-f]+$`)
	serviceRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,62}$`)
)

var (
	_ pipeline.CacheRestorer = (*Store)(nil)
	_ pipeline.CacheHistory  = (*Store)(nil)
)

// titleAnnotation names a layer's output root.
const titleAnnotation = "org.opencontainers.image.title"

// cacheTag is the tag of a cache entry: cache-<stage>-<first 64 hex digits of the digest>.
func cacheTag(stage, digest string) (string, error) {
	if !stageRE.MatchString(stage) {
		return "", fmt.Errorf("stage %q cannot be part of a tag", stage)
	}
	hex := digest
	if _, h, ok := strings.Cut(digest, ":"); ok {
		hex = h
	}
	if !hexRE.MatchString(hex) {
		return "", fmt.Errorf("digest %q is not hexadecimal", digest)
	}
	if len(hex) > 64 {
		hex = hex[:64]
	}
	return cachePrefix + stage + "-" + hex, nil
}

// latestTag is the tag of a service's latest entry of a stage: cache-<stage>-<service>-latest,
// which no entry tag can be (those end in hex digits).
func latestTag(stage, service string) (string, error) {
	if !stageRE.MatchString(stage) || !serviceRE.MatchString(service) {
		return "", fmt.Errorf("stage %q of service %q cannot be part of a tag", stage, service)
	}
	return cachePrefix + stage + "-" + service + "-latest", nil
}

// LookupCache returns a cached stage result: from the working copy, else from the registry
// (keeping a copy in the working copy). Entries that do not decode or do not match are misses.
func (s *Store) LookupCache(ctx context.Context, stage, digest string) (*pipeline.CacheEntry, error) {
	if e, err := s.local.LookupCache(ctx, stage, digest); err == nil {
		return e, nil
	} else if !errors.Is(err, pipeline.ErrCacheMiss) {
		return nil, err
	}
	tag, err := cacheTag(stage, digest)
	if err != nil {
		return nil, pipeline.ErrCacheMiss // nothing can have been saved under it
	}
	e, err := s.fetchEntry(ctx, tag)
	if err != nil {
		return nil, err
	}
	if e.Stage != stage || e.Digest != digest {
		return nil, pipeline.ErrCacheMiss
	}
	// A failed local copy only costs another download next time.
	_ = s.local.SaveCache(ctx, *e)
	return e, nil
}

// LatestCache returns the entry saved last for the stage and service, from the registry: the
// working copy only knows this machine's.
func (s *Store) LatestCache(ctx context.Context, stage, service string) (*pipeline.CacheEntry, error) {
	tag, err := latestTag(stage, service)
	if err != nil {
		return nil, pipeline.ErrCacheMiss
	}
	e, err := s.fetchEntry(ctx, tag)
	if err != nil {
		return nil, err
	}
	if e.Stage != stage || e.Service != service {
		return nil, pipeline.ErrCacheMiss
	}
	return e, nil
}

// fetchEntry reads the cache entry tagged tag; ErrCacheMiss when there is none or it is not one.
func (s *Store) fetchEntry(ctx context.Context, tag string) (*pipeline.CacheEntry, error) {
	d, err := s.puller.Get(ctx, s.repo.Tag(tag))
	if err != nil {
		if ocierr.NotFound(err) {
			return nil, pipeline.ErrCacheMiss
		}
		return nil, fmt.Errorf("look up cache %s in %s: %w", tag, s.ref, err)
	}
	var m v1.Manifest
	if err := json.Unmarshal(d.Manifest, &m); err != nil || m.Config.MediaType != CacheMediaType {
		return nil, pipeline.ErrCacheMiss
	}
	data, err := s.readBlob(ctx, m.Config)
	if err != nil {
		return nil, fmt.Errorf("look up cache %s in %s: %w", tag, s.ref, err)
	}
	var e pipeline.CacheEntry
	if err := json.Unmarshal(data, &e); err != nil {
		return nil, pipeline.ErrCacheMiss
	}
	return &e, nil
}

// SaveCache records a result in the working copy and in the registry: its output roots
// (e.Roots) as layers, the entry as the config, under the entry's tag and the service's latest.
func (s *Store) SaveCache(ctx context.Context, e pipeline.CacheEntry) error {
	tag, err := cacheTag(e.Stage, e.Digest)
	if err != nil {
		return fmt.Errorf("save cache to %s: %w", s.ref, err)
	}
	layers, err := s.uploadRoots(ctx, &e)
	if err != nil {
		return fmt.Errorf("save cache %s to %s: %w", tag, s.ref, err)
	}
	if err := s.local.SaveCache(ctx, e); err != nil {
		return err
	}
	data, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("save cache %s: %w", tag, err)
	}
	cfg, err := newBlob(data, CacheMediaType)
	if err != nil {
		return fmt.Errorf("save cache %s: %w", tag, err)
	}
	blobs := []blob{cfg}
	if len(layers) == 0 {
		empty, err := newBlob([]byte("{}"), emptyMediaType)
		if err != nil {
			return fmt.Errorf("save cache %s: %w", tag, err)
		}
		blobs, layers = append(blobs, empty), []v1.Descriptor{empty.desc}
	}
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		ArtifactType:  string(CacheMediaType),
		Config:        cfg.desc,
		Layers:        layers,
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("save cache %s: %w", tag, err)
	}
	if err := s.upload(ctx, blobs); err != nil {
		return fmt.Errorf("save cache %s to %s: %w", tag, s.ref, err)
	}
	tags := []string{tag}
	if latest, err := latestTag(e.Stage, e.Service); err == nil {
		tags = append(tags, latest)
	}
	for _, t := range tags {
		if err := s.pusher.Put(ctx, s.repo.Tag(t), rawManifest{raw, types.OCIManifestSchema1}); err != nil {
			return fmt.Errorf("save cache %s to %s: %w", t, s.ref, err)
		}
	}
	return nil
}

// uploadRoots packs each output root with files into a layer and uploads it (the pusher asks
// the registry first, so unchanged outputs are not sent again); e.Files lists them.
func (s *Store) uploadRoots(ctx context.Context, e *pipeline.CacheEntry) ([]v1.Descriptor, error) {
	var layers []v1.Descriptor
	e.Files = nil
	for _, root := range e.Roots {
		if len(root.Files) == 0 {
			continue
		}
		a, err := packRoot(root)
		if err != nil {
			return nil, err
		}
		err = s.pusher.Upload(ctx, s.repo, fileLayer{a})
		os.Remove(a.path)
		if err != nil {
			return nil, fmt.Errorf("upload output %s: %w", root.Name, err)
		}
		e.Files = append(e.Files, pipeline.CacheFile{Name: root.Name, Digest: a.digest.String(),
			MediaType: string(FilesMediaType), Size: a.size, Bytes: a.bytes, Count: a.count})
		layers = append(layers, v1.Descriptor{MediaType: FilesMediaType, Size: a.size, Digest: a.digest,
			Annotations: map[string]string{titleAnnotation: root.Name}})
	}
	return layers, nil
}

// RestoreCache writes the entry's output files into the roots of the same names.
func (s *Store) RestoreCache(ctx context.Context, e *pipeline.CacheEntry, roots []pipeline.OutputRoot) (pipeline.RestoreStats, error) {
	start := time.Now()
	var stats pipeline.RestoreStats
	for _, f := range e.Files {
		dir := ""
		for _, r := range roots {
			if r.Name == f.Name {
				dir = r.Dir
			}
		}
		if dir == "" {
			return stats, fmt.Errorf("output %s of run %s has no place here", f.Name, e.Run)
		}
		h, err := v1.NewHash(f.Digest)
		if err != nil || f.MediaType != string(FilesMediaType) {
			return stats, fmt.Errorf("output %s of run %s: not a file archive (%s %s)", f.Name, e.Run, f.MediaType, f.Digest)
		}
		n, count, err := s.restoreBlob(ctx, h, dir)
		if err != nil {
			return stats, fmt.Errorf("output %s of run %s from %s: %w", f.Name, e.Run, s.ref, err)
		}
		stats.Downloaded += f.Size
		stats.Bytes += n
		stats.Files += count
	}
	stats.Took = time.Since(start)
	return stats, nil
}

func (s *Store) restoreBlob(ctx context.Context, h v1.Hash, dir string) (int64, int, error) {
	rc, err := s.openBlob(ctx, h)
	if err != nil {
		return 0, 0, err
	}
	defer rc.Close()
	return unpack(rc, h, dir)
}
