package pipeline

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/ferry-ci/ferry/pipeline/config"
	"github.com/ferry-ci/ferry/triggers"
	"github.com/ferry-ci/ferry/triggers/changes"
)

// Workspace locates the repository and its config.
type Workspace struct {
	// WorkDir is where Ferry was started; Repo, when set, is the repository root.
	WorkDir string
	Repo    string
	// ConfigFile defaults to <repo>/ferry.yaml.
	ConfigFile string
}

// Root returns the repository root: Repo when given, else the nearest folder at or above
// WorkDir that holds .git, else WorkDir.
func (w Workspace) Root() (string, error) {
	if w.Repo != "" {
		abs, err := filepath.Abs(w.Repo)
		if err != nil {
			return "", fmt.Errorf("--repo %s: %w", w.Repo, err)
		}
		if st, err := os.Stat(abs); err != nil || !st.IsDir() {
			return "", fmt.Errorf("--repo %s: not a directory", w.Repo)
		}
		return abs, nil
	}
	dir, err := filepath.Abs(w.WorkDir)
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, ".git")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return dir, nil
		}
	}
}

// LoadConfig reads and validates the workspace's config. Problems come back as config.Errors.
func (w Workspace) LoadConfig() (*config.Config, error) {
	root, err := w.Root()
	if err != nil {
		return nil, err
	}
	file := w.ConfigFile
	if file == "" {
		file = filepath.Join(root, config.FileName)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("no config at %s (pass --config or --repo)", file)
		}
		return nil, fmt.Errorf("read config: %w", err)
	}
	cfg, err := config.Parse(displayPath(w.WorkDir, file), root, data)
	if cfg == nil {
		return cfg, err
	}
	if more := CheckReleases(cfg); len(more) > 0 {
		var errs config.Errors
		if !errors.As(err, &errs) {
			if err != nil {
				return cfg, err
			}
		}
		return cfg, append(errs, more...).Sorted()
	}
	return cfg, err
}

// displayPath shows the config file relative to where Ferry runs when it is below it.
func displayPath(workDir, file string) string {
	abs, err := filepath.Abs(file)
	if err != nil {
		return file
	}
	if wd, err := filepath.Abs(workDir); err == nil {
		if rel, err := filepath.Rel(wd, abs); err == nil && !strings.HasPrefix(rel, "..") {
			return rel
		}
	}
	return abs
}

// PlanOptions say which event to plan for and how to find its changes.
type PlanOptions struct {
	Flags triggers.EventFlags
	// Changed, when ChangedGiven, are the changed paths: no diff is made.
	Changed      []string
	ChangedGiven bool
	Env          func(string) string
	ReadFile     func(string) ([]byte, error)
	Git          changes.Backend
}

// MakePlan reads the event (CI environment, then flags), completes it from the repository,
// finds the changed paths and plans the pipelines.
func MakePlan(ctx context.Context, cfg *config.Config, o PlanOptions) (*Plan, error) {
	if o.ReadFile == nil {
		o.ReadFile = os.ReadFile
	}
	ev, err := triggers.DetectEvent(o.Env, o.ReadFile, o.Flags)
	if err != nil {
		return nil, err
	}
	var ch triggers.Changes
	needRepo := !o.ChangedGiven || ev.Ref == "" || ev.After == ""
	if needRepo {
		repo, err := changes.Open(cfg.Root, o.Git)
		if err != nil {
			return nil, fmt.Errorf("open repository %s: %w", cfg.Root, err)
		}
		defer repo.Close()
		if err := triggers.CompleteEvent(ctx, repo, &ev); err != nil {
			return nil, err
		}
		if !o.ChangedGiven {
			if ch, err = triggers.FindChanges(ctx, repo, ev, cfg.Trunk); err != nil {
				return nil, err
			}
			prefix, err := RepoPrefix(repo.Root(), cfg.Root)
			if err != nil {
				return nil, err
			}
			ch.Paths = triggers.ScopePaths(ch.Paths, prefix)
		}
	}
	if o.ChangedGiven {
		ch = triggers.Changes{Paths: triggers.CleanPaths(o.Changed), Reason: "changed paths given on the command line"}
	}
	return NewPlan(cfg, ev, ch)
}

// RepoPrefix is the config root relative to the git work tree root, with '/' ("" when they are
// the same): a ferry.yaml may describe a monorepo that is a folder of a larger repository.
func RepoPrefix(gitRoot, cfgRoot string) (string, error) {
	a, err := filepath.EvalSymlinks(gitRoot)
	if err != nil {
		return "", err
	}
	b, err := filepath.EvalSymlinks(cfgRoot)
	if err != nil {
		return "", err
	}
	rel, err := filepath.Rel(a, b)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return "", fmt.Errorf("config root %s is outside the git work tree %s", cfgRoot, gitRoot)
	}
	if rel == "." {
		return "", nil
	}
	return filepath.ToSlash(rel), nil
}
