package triggers

import (
	"context"
	"errors"
	"fmt"

	"github.com/ferry-ci/ferry/triggers/changes"
)

// CompleteEvent fills what the event does not say from the repository: the ref of the checked
// out branch and the commit HEAD points at.
func CompleteEvent(ctx context.Context, repo *changes.Repo, ev *Event) error {
	if ev.After == "" {
		sha, err := repo.Resolve(ctx, "HEAD")
		if err != nil {
			return fmt.Errorf("find the pushed commit (pass --after): %w", err)
		}
		ev.After = sha
	}
	if ev.Committed.IsZero() {
		if t, err := repo.CommitTime(ctx, ev.After); err == nil {
			ev.Committed = t
		}
	}
	if ev.Ref == "" {
		ref, err := repo.HeadRef(ctx)
		if err != nil || ref == "" {
			return fmt.Errorf("HEAD is not on a branch: pass --ref")
		}
		ev.Ref = ref
	}
	return nil
}

// FindChanges diffs the commits the event covers: before..after for a push, the merge-base
// with the target branch for a pull request, the merge-base with the trunk for a new branch or
// a push whose previous commit is gone. A push of a commit that is already on the trunk with no
// known previous commit (Azure Pipelines does not tell it) is compared with its first parent.
func FindChanges(ctx context.Context, repo *changes.Repo, ev Event, trunk string) (Changes, error) {
	req := changes.Request{
		PullRequest: ev.Kind == PullRequest,
		Before:      ev.Before,
		After:       ev.After,
		Trunk:       trunk,
	}
	if ev.Kind == PullRequest {
		req.Base = ShortRef(ev.Base)
		if ev.BaseSHA != "" {
			if _, err := repo.Resolve(ctx, ev.BaseSHA); err == nil {
				req.Base = ev.BaseSHA
			}
		}
	}
	res, err := changes.Changed(ctx, repo, req)
	if err != nil {
		return Changes{}, err
	}
	if !res.All && res.From != "" && res.From == res.To && ev.Kind == Push && ev.NewBranch() {
		parent, perr := repo.Resolve(ctx, ev.After+"^")
		switch {
		case perr == nil:
			paths, err := repo.Diff(ctx, parent, ev.After)
			if err != nil {
				return Changes{}, err
			}
			return Changes{Paths: paths, From: parent, To: ev.After,
				Reason: fmt.Sprintf("no previous commit given and %s is on %s: diff with its first parent %s", short(ev.After), trunk, short(parent))}, nil
		case errors.Is(perr, changes.ErrNotFound):
			return Changes{All: true, To: ev.After,
				Reason: fmt.Sprintf("%s is a root commit with no previous commit given", short(ev.After))}, nil
		default:
			return Changes{}, perr
		}
	}
	return Changes{Paths: res.Paths, All: res.All, From: res.From, To: res.To, Reason: res.Reason}, nil
}

func short(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}
