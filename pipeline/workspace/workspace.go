// Package workspace finds the repository and its ferry.yaml, and makes the plan of a git
// event: it completes the event from the checkout, decides the diff (fetching what a shallow
// checkout lacks, asking the run store or the CI system where a push without a before commit
// starts) and hands the changed paths to pipeline.NewPlan. It links git; the engine does not.
package workspace

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/ferry-ci/ferry/pipeline"
	"github.com/ferry-ci/ferry/pipeline/config"
)

// Workspace locates the config.
type Workspace struct {
	// WorkDir is where Ferry was started.
	WorkDir string
	// Repo, when set, is where to look for ferry.yaml instead of walking up from WorkDir.
	Repo string
	// ConfigFile, when set, is the config (relative to WorkDir or absolute).
	ConfigFile string
}

// ConfigPath returns the absolute path of the config: ConfigFile when given, else
// <Repo>/ferry.yaml, else the nearest ferry.yaml in WorkDir or its parents up to the git root
// (git's own rule for finding .git, applied to ferry.yaml).
func (w Workspace) ConfigPath() (string, error) {
	switch {
	case w.ConfigFile != "":
		file := w.ConfigFile
		if !filepath.IsAbs(file) {
			file = filepath.Join(w.WorkDir, file)
		}
		return filepath.Clean(file), nil
	case w.Repo != "":
		dir, err := filepath.Abs(w.Repo)
		if err != nil {
			return "", fmt.Errorf("--repo %s: %w", w.Repo, err)
		}
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			return "", fmt.Errorf("--repo %s: not a directory", w.Repo)
		}
		return filepath.Join(dir, config.FileName), nil
	}
	start, err := filepath.Abs(w.WorkDir)
	if err != nil {
		return "", err
	}
	for dir := start; ; dir = filepath.Dir(dir) {
		file := filepath.Join(dir, config.FileName)
		if _, err := os.Stat(file); err == nil {
			return file, nil
		}
		if exists(filepath.Join(dir, ".git")) || filepath.Dir(dir) == dir {
			return "", fmt.Errorf("no %s in %s or its parents up to %s (pass --config)", config.FileName, start, dir)
		}
	}
}

// LoadConfig reads and validates the config. Its paths are relative to the folder it is in.
// Problems come back as config.Errors.
func (w Workspace) LoadConfig() (*config.Config, error) {
	file, err := w.ConfigPath()
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(file)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("no config at %s (pass --config or --repo)", displayPath(w.WorkDir, file))
		}
		return nil, fmt.Errorf("read config: %w", err)
	}
	cfg, err := config.Parse(displayPath(w.WorkDir, file), filepath.Dir(file), data)
	if cfg == nil {
		return cfg, err
	}
	if more := pipeline.CheckReleases(cfg); len(more) > 0 {
		var errs config.Errors
		if !errors.As(err, &errs) && err != nil {
			return cfg, err
		}
		return cfg, append(errs, more...).Sorted()
	}
	return cfg, err
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// displayPath shows the config file relative to where Ferry runs when it is below it.
func displayPath(workDir, file string) string {
	if wd, err := filepath.Abs(workDir); err == nil {
		if rel, err := filepath.Rel(wd, file); err == nil && !strings.HasPrefix(rel, "..") {
			return rel
		}
	}
	return file
}

// GitRoot is the nearest folder at or above dir that holds .git ("" when there is none).
func GitRoot(dir string) string {
	for d := dir; ; d = filepath.Dir(d) {
		if exists(filepath.Join(d, ".git")) {
			return d
		}
		if filepath.Dir(d) == d {
			return ""
		}
	}
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
