package workspace

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/ferry-ci/ferry/pipeline"
	"github.com/ferry-ci/ferry/pipeline/config"
	"github.com/ferry-ci/ferry/triggers"
	"github.com/ferry-ci/ferry/triggers/azure"
	"github.com/ferry-ci/ferry/triggers/changes"
)

// SourceDigests identifies what a service is built from by git hashes at HEAD: the trees of its
// folder, its literal paths.include entries and the shared folders it depends on, the blobs of
// the files and of the files the globs it depends on match, and the same for the global
// dependencies (services it depends on add their own sources). A service whose sources have
// uncommitted changes has no digest.
//
// Digests are computed once per service and process: they describe the sources a run started
// with, and git status on a large repository is not free.
type SourceDigests struct {
	Repo *changes.Repo
	// Services and Global are the services and the dependencies they all share, as pipeline
	// makes them from ferry.yaml.
	Services []triggers.Service
	Global   []triggers.Dependency
	// Prefix is the config root relative to the repository root ("" when they are the same).
	Prefix string

	mu   sync.Mutex
	memo map[string]digestResult
	// listed keeps the files listed per repository path: services share go.mod and globs.
	listed map[string][]changes.File
}

type digestResult struct {
	digest string
	err    error
}

// Digest returns the named service's sources digest, or an error wrapping pipeline.ErrDirty.
func (s *SourceDigests) Digest(ctx context.Context, service string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.memo[service]; ok {
		return r.digest, r.err
	}
	d, err := s.digest(ctx, service)
	if ctx.Err() == nil {
		if s.memo == nil {
			s.memo = map[string]digestResult{}
		}
		s.memo[service] = digestResult{d, err}
	}
	return d, err
}

// sources is what a service is built from: literal folders, files and globs.
type sources struct {
	dirs, files, globs []string
}

func (s *SourceDigests) digest(ctx context.Context, service string) (string, error) {
	svc := s.service(service)
	if svc == nil {
		return "", fmt.Errorf("sources of %s: unknown service", service)
	}
	src := s.sources(svc, map[string]bool{})
	for _, d := range s.Global {
		src.add(d)
	}
	src.sort()
	if err := s.checkClean(ctx, src); err != nil {
		return "", err
	}
	h := sha256.New()
	if err := s.writeTrees(ctx, h, src.dirs); err != nil {
		return "", err
	}
	if err := s.writeFiles(ctx, h, src); err != nil {
		return "", err
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

func (s *SourceDigests) service(name string) *triggers.Service {
	for i := range s.Services {
		if s.Services[i].Name == name {
			return &s.Services[i]
		}
	}
	return nil
}

// sources lists what a service is built from, through service dependencies.
func (s *SourceDigests) sources(svc *triggers.Service, seen map[string]bool) sources {
	var src sources
	if seen[svc.Name] {
		return src
	}
	seen[svc.Name] = true
	src.dirs = append(src.dirs, svc.Path)
	for _, inc := range svc.Paths.Include {
		if p, err := azure.CompilePathPattern(inc); err == nil {
			src.dirs = append(src.dirs, p.LiteralDir())
		}
	}
	for _, d := range svc.DependsOn {
		if d.Service == "" {
			src.add(d)
		} else if dep := s.service(d.Service); dep != nil {
			sub := s.sources(dep, seen)
			src.dirs = append(src.dirs, sub.dirs...)
			src.files = append(src.files, sub.files...)
			src.globs = append(src.globs, sub.globs...)
		}
	}
	return src
}

// add adds a path dependency.
func (src *sources) add(d triggers.Dependency) {
	switch {
	case d.Folder != "":
		src.dirs = append(src.dirs, d.Folder)
	case d.File != "":
		src.files = append(src.files, d.File)
	case d.Glob != "":
		src.globs = append(src.globs, d.Glob)
	}
}

func (src *sources) sort() {
	for _, list := range []*[]string{&src.dirs, &src.files, &src.globs} {
		sort.Strings(*list)
		*list = slices.Compact(*list)
	}
}

// checkClean fails with pipeline.ErrDirty when the work tree differs from HEAD under any source. For a
// glob that is its literal folder: a new file it would match is not in HEAD yet.
func (s *SourceDigests) checkClean(ctx context.Context, src sources) error {
	paths := append(append([]string(nil), src.dirs...), src.files...)
	for _, g := range src.globs {
		if p, err := azure.CompilePathPattern(g); err == nil {
			paths = append(paths, p.LiteralDir())
		}
	}
	full := make([]string, len(paths))
	for i, p := range paths {
		full[i] = joinPath(s.Prefix, p)
	}
	dirty, err := s.Repo.Dirty(ctx, full)
	if err != nil {
		return err
	}
	if dirty {
		return fmt.Errorf("%w under %v", pipeline.ErrDirty, paths)
	}
	return nil
}

// writeTrees hashes the folders' trees. The format is the one digests had before files and
// globs could be dependencies, so that services without them keep their cached results.
func (s *SourceDigests) writeTrees(ctx context.Context, h hash.Hash, dirs []string) error {
	full := make([]string, len(dirs))
	for i, d := range dirs {
		full[i] = joinPath(s.Prefix, d)
	}
	trees, err := s.Repo.TreeHashes(ctx, "HEAD", full)
	if err != nil {
		return err
	}
	for i, d := range dirs {
		fmt.Fprintf(h, "%s\x00%s\x00", d, trees[i])
	}
	return nil
}

// writeFiles hashes the blobs of the file dependencies and of every file a glob matches at
// HEAD; an absent file or a glob matching nothing counts as such.
func (s *SourceDigests) writeFiles(ctx context.Context, h hash.Hash, src sources) error {
	for _, f := range src.files {
		files, err := s.files(ctx, f)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "file\x00%s\x00", f)
		writeBlobs(h, files, s.Prefix, nil)
	}
	for _, g := range src.globs {
		p, err := azure.CompilePathPattern(g)
		if err != nil {
			return fmt.Errorf("glob %s: %w", g, err)
		}
		files, err := s.files(ctx, p.LiteralDir())
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "glob\x00%s\x00", g)
		writeBlobs(h, files, s.Prefix, p)
	}
	return nil
}

// writeBlobs hashes the listed files that match (all when match is nil).
func writeBlobs(h hash.Hash, files []changes.File, prefix string, match *azure.PathPattern) {
	for _, f := range files {
		rel := f.Path
		if prefix != "" {
			rel = strings.TrimPrefix(rel, prefix+"/")
		}
		if match == nil || match.Covers(rel) {
			fmt.Fprintf(h, "%s\x00%s %s\x00", rel, f.Mode, f.Hash)
		}
	}
	h.Write([]byte{0})
}

// files lists the files of HEAD at or below a path of the config root, once per path.
func (s *SourceDigests) files(ctx context.Context, path string) ([]changes.File, error) {
	full := joinPath(s.Prefix, path)
	if files, ok := s.listed[full]; ok {
		return files, nil
	}
	files, err := s.Repo.Files(ctx, "HEAD", full)
	if err != nil {
		return nil, err
	}
	if s.listed == nil {
		s.listed = map[string][]changes.File{}
	}
	s.listed[full] = files
	return files, nil
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

// NewSources gives the engine git digests of the services' sources, which key the results
// cache. Outside a git repository there is none (nil): nothing is cached.
func NewSources(cfg *config.Config) pipeline.Sources {
	repo, err := changes.Open(cfg.Root, changes.Auto)
	if err != nil {
		return nil
	}
	prefix, err := RepoPrefix(repo.Root(), cfg.Root)
	if err != nil {
		repo.Close()
		return nil
	}
	services, global := pipeline.TriggerServices(cfg)
	return &SourceDigests{Repo: repo, Services: services, Global: global, Prefix: prefix}
}
