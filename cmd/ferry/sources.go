package main

import (
	"github.com/ferry-ci/ferry/pipeline"
	"github.com/ferry-ci/ferry/pipeline/config"
	"github.com/ferry-ci/ferry/pipeline/workspace"
	"github.com/ferry-ci/ferry/triggers"
	"github.com/ferry-ci/ferry/triggers/changes"
)

// newSources gives the engine git tree digests of the services' sources, which key the
// results cache. Outside a git repository there is no cache.
func newSources(cfg *config.Config) pipeline.Sources {
	repo, err := changes.Open(cfg.Root, changes.Auto)
	if err != nil {
		return nil
	}
	prefix, err := workspace.RepoPrefix(repo.Root(), cfg.Root)
	if err != nil {
		return nil
	}
	services, global := pipeline.TriggerServices(cfg)
	return &triggers.SourceDigests{Repo: repo, Services: services, Global: global, Prefix: prefix}
}
