package workspace

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/Masterminds/semver/v3"

	"github.com/ferry-ci/ferry/pipeline"
	"github.com/ferry-ci/ferry/pipeline/config"
	"github.com/ferry-ci/ferry/triggers"
	"github.com/ferry-ci/ferry/triggers/changes"
)

// Requester names whoever starts a run, for approval gates with excludeRequester: every name
// that is known, so that an approver who goes by any of them is refused. FERRY_REQUESTER
// (set by a wrapper that knows better), the CI system's user (GITHUB_ACTOR and
// GITHUB_TRIGGERING_ACTOR, Azure's BUILD_REQUESTEDFOREMAIL) and, outside CI without
// FERRY_REQUESTER, the author of the commit being run: on a laptop that is who cut the release.
func Requester(ctx context.Context, cfg *config.Config, env func(string) string, commit string) []pipeline.Identity {
	var ids []pipeline.Identity
	add := func(name, source string) {
		name = strings.TrimSpace(name)
		for _, id := range ids {
			if strings.EqualFold(id.Name, name) {
				return
			}
		}
		if name != "" {
			ids = append(ids, pipeline.Identity{Name: name, Source: source})
		}
	}
	add(env("FERRY_REQUESTER"), "FERRY_REQUESTER")
	switch triggers.CISystem(env) {
	case triggers.SourceGitHub:
		add(env("GITHUB_ACTOR"), "GITHUB_ACTOR")
		add(env("GITHUB_TRIGGERING_ACTOR"), "GITHUB_TRIGGERING_ACTOR")
	case triggers.SourceAzure:
		add(env("BUILD_REQUESTEDFOREMAIL"), "BUILD_REQUESTEDFOREMAIL")
	default:
		if commit == "" || len(ids) > 0 {
			break
		}
		if repo, err := changes.Open(cfg.Root, changes.Auto); err == nil {
			if who, err := repo.Author(ctx, commit); err == nil {
				add(who, "author of "+shortSHA(commit))
			}
			repo.Close()
		}
	}
	return ids
}

// ReleaseAuthors returns the authors (e-mail → one of their commits) of the commits a
// service's release brings, for approval gates with excludeAuthors, and the range it read:
// the commits of the run's commit that the service's previous release (the highest lower
// version among its release branches, remote-tracking branches and release tags) lacks, or,
// for a first release, those since the release left the trunk (their merge base). A shallow
// clone is an error: a partial list would let an author approve.
func ReleaseAuthors(cfg *config.Config) func(ctx context.Context, run *pipeline.Run, service string) (map[string]string, string, error) {
	return func(ctx context.Context, run *pipeline.Run, service string) (map[string]string, string, error) {
		to := run.Event.After
		if to == "" {
			return nil, "", errors.New("the run names no commit")
		}
		svc := run.Service(service)
		if svc == nil || svc.Version == "" {
			return nil, "", fmt.Errorf("%s is not released by run %s: no version", service, run.ID)
		}
		repo, err := changes.Open(cfg.Root, changes.Auto)
		if err != nil {
			return nil, "", err
		}
		defer repo.Close()
		from, since, err := previousRelease(ctx, repo, cfg, service, svc.Version)
		if err != nil {
			return nil, "", err
		}
		if from == "" {
			trunk, err := repo.ResolveBranch(ctx, cfg.Trunk, true)
			if err != nil {
				return nil, "", fmt.Errorf("no previous release of %s, and the trunk: %w", service, err)
			}
			if from, err = repo.MergeBase(ctx, trunk, to); err != nil {
				return nil, "", err
			}
			since = fmt.Sprintf("%s..%s (first release of %s: since it left %s)", shortSHA(from), shortSHA(to), service, cfg.Trunk)
		} else {
			since = fmt.Sprintf("%s..%s (since %s)", shortSHA(from), shortSHA(to), since)
		}
		authors, err := repo.Authors(ctx, from, to)
		return authors, since, err
	}
}

// previousRelease finds the newest release of service older than version among the refs.
func previousRelease(ctx context.Context, repo *changes.Repo, cfg *config.Config, service, version string) (commit, name string, err error) {
	shapes, err := pipeline.ReleaseRefs(cfg)
	if err != nil {
		return "", "", err
	}
	current, err := semver.NewVersion(version)
	if err != nil {
		return "", "", fmt.Errorf("version %q: %w", version, err)
	}
	refs, err := repo.Refs(ctx)
	if err != nil {
		return "", "", err
	}
	var best *semver.Version
	for _, r := range refs {
		ref, sha := r.Name, r.Commit
		rel, ok := releaseOf(shapes, ref)
		if !ok || rel.Service != service {
			continue
		}
		v, err := semver.NewVersion(rel.Version)
		if err != nil || !v.LessThan(current) {
			continue
		}
		if best == nil || v.GreaterThan(best) || (v.Equal(best) && ref < name) {
			best, commit, name = v, sha, ref
		}
	}
	return commit, name, nil
}

// releaseOf reads a full ref as a release: refs/heads/X and refs/remotes/REMOTE/X by the
// branch shape, refs/tags/X by the tag shape.
func releaseOf(shapes triggers.ReleaseRefs, ref string) (triggers.Release, bool) {
	if rest, ok := strings.CutPrefix(ref, "refs/remotes/"); ok {
		_, branch, ok := strings.Cut(rest, "/")
		if !ok {
			return triggers.Release{}, false
		}
		ref = "refs/heads/" + branch
	}
	rel, err := shapes.Parse(ref)
	return rel, err == nil
}

func shortSHA(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}
