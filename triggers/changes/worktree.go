package changes

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
)

// gitDir returns the repository's git directory: root/.git, or where a .git file points
// (linked worktrees, submodules).
func (r *Repo) gitDir() (string, error) { return gitDir(r.root) }

// HeadRef returns the full ref HEAD points at (refs/heads/main), or "" when HEAD is detached.
func (r *Repo) HeadRef(ctx context.Context) (string, error) {
	dir, err := r.gitDir()
	if err != nil {
		return "", fmt.Errorf("read HEAD: %w", err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "HEAD"))
	if err != nil {
		return "", fmt.Errorf("read HEAD: %w", err)
	}
	if ref, ok := strings.CutPrefix(string(bytes.TrimSpace(data)), "ref:"); ok {
		return strings.TrimSpace(ref), nil
	}
	return "", nil
}

// Dirty reports whether the work tree has uncommitted changes (modified, staged or untracked
// files that are not ignored) under any of the folders.
func (r *Repo) Dirty(ctx context.Context, dirs []string) (bool, error) {
	if cli, ok := r.impl.(*gitCLI); ok {
		args := []string{"status", "--porcelain=v1", "-z", "--untracked-files=all", "--"}
		for _, d := range dirs {
			c, err := cleanDir(d)
			if err != nil {
				return false, err
			}
			if c == "" {
				c = "."
			}
			args = append(args, ":(literal)"+c)
		}
		out, err := cli.run(ctx, "", args...)
		if err != nil {
			return false, fmt.Errorf("git status: %w", err)
		}
		return len(out) > 0, nil
	}
	repo, err := git.PlainOpenWithOptions(r.root, &git.PlainOpenOptions{DetectDotGit: true, EnableDotGitCommonDir: true})
	if err != nil {
		return false, fmt.Errorf("status: %w", err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		return false, fmt.Errorf("status: %w", err)
	}
	status, err := wt.StatusWithOptions(git.StatusOptions{Strategy: git.Preload})
	if err != nil {
		return false, fmt.Errorf("status: %w", err)
	}
	for path, fs := range status {
		if fs.Worktree == git.Unmodified && fs.Staging == git.Unmodified {
			continue
		}
		for _, d := range dirs {
			c, _ := cleanDir(d)
			if c == "" || path == c || strings.HasPrefix(path, c+"/") {
				return true, nil
			}
		}
	}
	return false, nil
}

// CommitTime returns the committer time of a commit: images built from it are stamped with it,
// so that the same commit gives the same image digest.
func (r *Repo) CommitTime(ctx context.Context, rev string) (time.Time, error) {
	sha, err := r.Resolve(ctx, rev)
	if err != nil {
		return time.Time{}, err
	}
	var raw []byte
	if cli, ok := r.impl.(*gitCLI); ok {
		raw, err = cli.run(ctx, "", "cat-file", "commit", sha)
		if err != nil {
			return time.Time{}, fmt.Errorf("read commit %s: %w", sha, err)
		}
	} else if gg, ok := r.impl.(*goGit); ok {
		// The backend's own reader: reopening the repository with go-git here would decode
		// the whole pack index, ~100 ms in the benchmark monorepo.
		t, err := gg.commitTime(plumbing.NewHash(sha))
		if err != nil {
			return time.Time{}, fmt.Errorf("read commit %s: %w", sha, err)
		}
		return t.UTC(), nil
	}
	for line := range strings.SplitSeq(string(raw), "\n") {
		if line == "" {
			break // end of the headers
		}
		rest, ok := strings.CutPrefix(line, "committer ")
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) < 2 {
			break
		}
		secs, err := strconv.ParseInt(fields[len(fields)-2], 10, 64)
		if err != nil {
			break
		}
		return time.Unix(secs, 0).UTC(), nil
	}
	return time.Time{}, fmt.Errorf("read commit %s: no committer time", sha)
}
