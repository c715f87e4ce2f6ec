package workspace

import (
	"context"
	"fmt"
	"strings"

	"github.com/ferry-ci/ferry/pipeline"
	"github.com/ferry-ci/ferry/triggers/azure"
	"github.com/ferry-ci/ferry/triggers/changes"
)

var _ pipeline.SourceLister = (*SourceDigests)(nil)

// SourceInputs lists what the service's sources digest is made of, file by file: every file
// of HEAD under its folders, each file it depends on and each file its globs match, as
// "mode blob-hash" (an absent file dependency as "absent"), named by its path relative to the
// config root. The engine asks only on a cache miss and when it saves a result.
func (s *SourceDigests) SourceInputs(ctx context.Context, service string) ([]pipeline.Input, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	svc := s.service(service)
	if svc == nil {
		return nil, fmt.Errorf("sources of %s: unknown service", service)
	}
	src := s.sources(svc, map[string]bool{})
	for _, d := range s.Global {
		src.add(d)
	}
	src.sort()
	var out []pipeline.Input
	seen := map[string]bool{}
	add := func(files []changes.File, match *azure.PathPattern) {
		for _, f := range files {
			rel := f.Path
			if s.Prefix != "" {
				rel = strings.TrimPrefix(rel, s.Prefix+"/")
			}
			if (match == nil || match.Covers(rel)) && !seen[rel] {
				seen[rel] = true
				out = append(out, pipeline.Input{Name: rel, Digest: f.Mode + " " + f.Hash})
			}
		}
	}
	for _, d := range src.dirs {
		files, err := s.files(ctx, d)
		if err != nil {
			return nil, err
		}
		add(files, nil)
	}
	for _, f := range src.files {
		files, err := s.files(ctx, f)
		if err != nil {
			return nil, err
		}
		if len(files) == 0 && !seen[f] {
			seen[f] = true
			out = append(out, pipeline.Input{Name: f, Digest: "absent"})
		}
		add(files, nil)
	}
	for _, g := range src.globs {
		p, err := azure.CompilePathPattern(g)
		if err != nil {
			return nil, fmt.Errorf("glob %s: %w", g, err)
		}
		files, err := s.files(ctx, p.LiteralDir())
		if err != nil {
			return nil, err
		}
		add(files, p)
	}
	return out, nil
}
