package workspace

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/ferry-ci/ferry/pipeline"
	"github.com/ferry-ci/ferry/pipeline/config"
	"github.com/ferry-ci/ferry/triggers"
	"github.com/ferry-ci/ferry/triggers/changes"
)

// PlanOptions say which event to plan for and how to find its changes.
type PlanOptions struct {
	Flags triggers.EventFlags
	// Changed, when ChangedGiven, are the changed paths: no diff is made. They may be relative
	// to the git root (as git diff --name-only prints them) or to the config's folder.
	Changed      []string
	ChangedGiven bool
	Env          func(string) string
	ReadFile     func(string) ([]byte, error)
	Git          changes.Backend
	// NoFetch keeps Ferry from fetching what a shallow checkout lacks.
	NoFetch bool
	// Runs opens the run store, where a push without a before commit looks for the last run
	// of its branch; nil skips that lookup.
	Runs func(ctx context.Context) (pipeline.Store, error)
	// HTTP is the client for CI systems' APIs (http.DefaultClient when nil).
	HTTP *http.Client
}

// MakePlan reads the event (CI environment, then flags), completes it from the repository,
// finds the changed paths and plans the pipelines.
func MakePlan(ctx context.Context, cfg *config.Config, o PlanOptions) (*pipeline.Plan, error) {
	if o.ReadFile == nil {
		o.ReadFile = os.ReadFile
	}
	ev, err := triggers.DetectEvent(o.Env, o.ReadFile, o.Flags)
	if err != nil {
		return nil, err
	}
	var ch triggers.Changes
	if !o.ChangedGiven || ev.Ref == "" || ev.After == "" {
		repo, err := changes.Open(cfg.Root, o.Git)
		if err != nil {
			return nil, fmt.Errorf("open repository %s: %w", cfg.Root, err)
		}
		defer repo.Close()
		if err := completeEvent(ctx, repo, &ev); err != nil {
			return nil, err
		}
		if !o.ChangedGiven {
			if ch, err = findChanges(ctx, repo, cfg, ev, o); err != nil {
				return nil, err
			}
			// A pull request's checkout is GitHub's merge commit, without its head: finding
			// the changes fetched it. Its time dates the images, the same on every machine.
			if ev.Committed.IsZero() {
				if t, err := repo.CommitTime(ctx, ev.After); err == nil {
					ev.Committed = t
				}
			}
		}
	}
	if o.ChangedGiven {
		paths, err := givenPaths(cfg.Root, o.Changed)
		if err != nil {
			return nil, err
		}
		ch = triggers.Changes{Paths: paths, Reason: "changed paths given on the command line"}
	}
	return pipeline.NewPlan(cfg, ev, ch)
}

// completeEvent fills what the event does not say from the repository: the ref of the checked
// out branch and the commit HEAD points at.
func completeEvent(ctx context.Context, repo *changes.Repo, ev *triggers.Event) error {
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

// findChanges asks git for the event's changed paths, as seen from the config's folder.
func findChanges(ctx context.Context, repo *changes.Repo, cfg *config.Config, ev triggers.Event, o PlanOptions) (triggers.Changes, error) {
	req := changes.Request{
		PullRequest: ev.Kind == triggers.PullRequest,
		Before:      ev.Before,
		After:       ev.After,
		NoBefore:    ev.NoBefore && ev.Kind == triggers.Push,
		Trunk:       cfg.Trunk,
		Fetch:       !o.NoFetch,
	}
	if req.PullRequest {
		req.Base, req.BaseSHA = triggers.ShortRef(ev.Base), ev.BaseSHA
	}
	if req.NoBefore {
		req.Previous = previousSources(ev, o)
	}
	res, err := changes.Changed(ctx, repo, req)
	if err != nil {
		return triggers.Changes{}, err
	}
	prefix, err := RepoPrefix(repo.Root(), cfg.Root)
	if err != nil {
		return triggers.Changes{}, err
	}
	return triggers.Changes{Paths: triggers.ScopePaths(res.Paths, prefix), All: res.All, From: res.From, To: res.To,
		Reason: res.Reason, Fetches: fetches(res.Fetches)}, nil
}

func fetches(fs []changes.Fetch) []triggers.Fetch {
	out := make([]triggers.Fetch, len(fs))
	for i, f := range fs {
		out[i] = triggers.Fetch{Command: f.Command, Took: f.Took, Error: f.Error}
	}
	return out
}

// givenPaths cleans the paths of --changed and --changed-from and makes them relative to the
// config's folder: a path below it, as git prints it from the git root, loses the prefix;
// others are taken as relative to the config's folder already.
func givenPaths(cfgRoot string, paths []string) ([]string, error) {
	clean, err := triggers.CleanPaths(paths)
	if err != nil {
		return nil, err
	}
	root := GitRoot(cfgRoot)
	if root == "" {
		return clean, nil
	}
	prefix, err := RepoPrefix(root, cfgRoot)
	if err != nil || prefix == "" {
		return clean, err
	}
	for i, p := range clean {
		if rest, ok := strings.CutPrefix(p, prefix+"/"); ok {
			clean[i] = rest
		}
	}
	return triggers.CleanPaths(clean)
}
