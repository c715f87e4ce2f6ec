package triggers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/ferry-ci/ferry/pipeline/config"
	"github.com/ferry-ci/ferry/triggers/azure"
	"github.com/ferry-ci/ferry/triggers/changes"
)

// ErrDirty means the work tree has uncommitted changes in a service's sources.
var ErrDirty = errors.New("uncommitted changes")

// SourceDigests identifies what a service is built from by git tree hashes at HEAD: its folder,
// its literal paths.include entries and the shared folders it depends on (services it depends
// on add their own folders). A service whose folders have uncommitted changes has no digest.
//
// Digests are computed once per service and process: they describe the sources a run started
// with, and git status on a large repository is not free.
type SourceDigests struct {
	Repo   *changes.Repo
	Config *config.Config
	// Prefix is the config root relative to the repository root ("" when they are the same).
	Prefix string

	mu   sync.Mutex
	memo map[string]digestResult
}

type digestResult struct {
	digest string
	err    error
}

// Digest returns the service's sources digest, or an error wrapping ErrDirty.
func (s *SourceDigests) Digest(ctx context.Context, svc *config.Service) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.memo[svc.Name]; ok {
		return r.digest, r.err
	}
	d, err := s.digest(ctx, svc)
	if ctx.Err() == nil {
		if s.memo == nil {
			s.memo = map[string]digestResult{}
		}
		s.memo[svc.Name] = digestResult{d, err}
	}
	return d, err
}

func (s *SourceDigests) digest(ctx context.Context, svc *config.Service) (string, error) {
	dirs := s.folders(svc, map[string]bool{})
	sort.Strings(dirs)
	full := make([]string, len(dirs))
	for i, d := range dirs {
		full[i] = joinPath(s.Prefix, d)
	}
	dirty, err := s.Repo.Dirty(ctx, full)
	if err != nil {
		return "", err
	}
	if dirty {
		return "", fmt.Errorf("%w under %v", ErrDirty, dirs)
	}
	trees, err := s.Repo.TreeHashes(ctx, "HEAD", full)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	for i, d := range dirs {
		fmt.Fprintf(h, "%s\x00%s\x00", d, trees[i])
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// folders lists the literal folders a service depends on, through service dependencies.
func (s *SourceDigests) folders(svc *config.Service, seen map[string]bool) []string {
	if seen[svc.Name] {
		return nil
	}
	seen[svc.Name] = true
	out := []string{svc.Path}
	for _, inc := range svc.Paths.Include {
		if p, err := azure.CompilePathPattern(inc); err == nil {
			out = append(out, p.LiteralDir())
		}
	}
	for _, d := range svc.DependsOn {
		if d.Folder != "" {
			out = append(out, d.Folder)
		} else if dep := s.Config.Service(d.Service); dep != nil {
			out = append(out, s.folders(dep, seen)...)
		}
	}
	return dedupe(out)
}

func joinPath(prefix, p string) string {
	switch {
	case prefix == "":
		return p
	case p == "":
		return prefix
	}
	return prefix + "/" + p
}
