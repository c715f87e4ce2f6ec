package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/renameio/v2"
)

var _ CacheHistory = (*LocalStore)(nil)

// LatestCache returns the entry SaveCache wrote last for the stage kind and service.
func (s *LocalStore) LatestCache(ctx context.Context, stage, service string) (*CacheEntry, error) {
	if !fileName(service) {
		return nil, ErrCacheMiss
	}
	data, err := os.ReadFile(s.latestPath(stage, service))
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrCacheMiss
	}
	if err != nil {
		return nil, fmt.Errorf("read latest cache entry: %w", err)
	}
	var e CacheEntry
	if err := json.Unmarshal(data, &e); err != nil || e.Stage != stage || e.Service != service {
		return nil, ErrCacheMiss
	}
	return &e, nil
}

// saveLatest keeps a copy of the entry as the stage's latest for its service: a copy rather
// than a link, so that it reads in one step and survives the entry's removal.
func (s *LocalStore) saveLatest(e CacheEntry, data []byte) error {
	if !fileName(e.Service) {
		return nil // nothing to compare a later miss with: no harm
	}
	path := s.latestPath(e.Stage, e.Service)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("write cache: %w", err)
	}
	if err := renameio.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("write cache: %w", err)
	}
	return nil
}

// latestPath is cache/<stage>/latest/<service>.json: service names are file names (config
// validates them), and "latest" is no hex digest, so it never meets an entry.
func (s *LocalStore) latestPath(stage, service string) string {
	return filepath.Join(s.root, "cache", stage, "latest", service+".json")
}

// fileName reports whether a service name can be a file name as it is.
func fileName(s string) bool {
	return s != "" && s != "." && s != ".." && !strings.ContainsAny(s, `/\`)
}
