package ocistore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/ferry-ci/ferry/internal/ocierr"
	"github.com/ferry-ci/ferry/pipeline"
)

var (
	stageRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,56}$`)
	hexRE   = regexp.MustCompile(`^[0-9a-f]+$`)
)

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
	if err := json.Unmarshal(data, &e); err != nil || e.Stage != stage || e.Digest != digest {
		return nil, pipeline.ErrCacheMiss
	}
	// A failed local copy only costs another download next time.
	_ = s.local.SaveCache(ctx, e)
	return &e, nil
}

// SaveCache records a result in the working copy and in the registry.
func (s *Store) SaveCache(ctx context.Context, e pipeline.CacheEntry) error {
	tag, err := cacheTag(e.Stage, e.Digest)
	if err != nil {
		return fmt.Errorf("save cache to %s: %w", s.ref, err)
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
	empty, err := newBlob([]byte("{}"), emptyMediaType)
	if err != nil {
		return fmt.Errorf("save cache %s: %w", tag, err)
	}
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		ArtifactType:  string(CacheMediaType),
		Config:        cfg.desc,
		Layers:        []v1.Descriptor{empty.desc},
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("save cache %s: %w", tag, err)
	}
	if err := s.upload(ctx, []blob{cfg, empty}); err != nil {
		return fmt.Errorf("save cache %s to %s: %w", tag, s.ref, err)
	}
	if err := s.pusher.Put(ctx, s.repo.Tag(tag), rawManifest{raw, types.OCIManifestSchema1}); err != nil {
		return fmt.Errorf("save cache %s to %s: %w", tag, s.ref, err)
	}
	return nil
}
