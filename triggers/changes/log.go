package changes

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
)

// Commit is one commit of a history walk, with the paths it changed.
type Commit struct {
	SHA     string   `json:"sha"`
	Parents []string `json:"parents,omitempty"`
	// Author is "Name <email>".
	Author string    `json:"author"`
	Time   time.Time `json:"time"`
	// Message is the full commit message; Subject its first line.
	Message string `json:"-"`
	Subject string `json:"subject"`
	// Paths are the files the commit changed against its first parent (every file of a root
	// commit), sorted.
	Paths []string `json:"paths"`
}

// History is what Log found.
type History struct {
	// Commits are newest first (committer time, then SHA, so that both backends agree).
	Commits []Commit
	// Truncated reports that the walk reached a shallow clone's boundary: older commits that
	// belong to the range are not in the repository.
	Truncated bool
}

// Log returns the commits reachable from head and from none of exclude, as git log head
// ^exclude... does, without merge commits (the commits a merge brings are listed themselves,
// and its own diff against the first parent would list them again). There is no depth limit.
func (r *Repo) Log(ctx context.Context, head string, exclude ...string) (History, error) {
	queries := []query{revQuery(head)}
	for _, e := range exclude {
		queries = append(queries, revQuery(e))
	}
	shas, err := r.resolveAll(ctx, queries...)
	if err != nil {
		return History{}, fmt.Errorf("log %s: %w", head, err)
	}
	commits, err := r.impl.log(ctx, shas[0], shas[1:])
	if err != nil {
		return History{}, fmt.Errorf("log %s: %w", head, err)
	}
	slices.SortFunc(commits, func(a, b Commit) int {
		if c := b.Time.Compare(a.Time); c != 0 {
			return c
		}
		return strings.Compare(a.SHA, b.SHA)
	})
	h := History{Commits: commits}
	shallow, err := r.shallowCommits()
	if err != nil {
		return History{}, fmt.Errorf("log %s: %w", head, err)
	}
	for _, c := range commits {
		if shallow[c.SHA] {
			h.Truncated = true
		}
	}
	return h, nil
}

// Deepen fetches more history behind commits, with the same steps (and the checkout's
// credentials) as the fetches of Changed, until done reports true or the clone is no longer
// shallow. ok is false when the whole history was fetched and done still said no.
func (r *Repo) Deepen(ctx context.Context, commits []string, done func() (bool, error)) (ok bool, fetches []Fetch, err error) {
	f := &fetcher{repo: r, enabled: true}
	ok, err = f.deepen(ctx, commits, done)
	return ok, f.log, err
}

// Shallow reports whether the repository is a shallow clone.
func (r *Repo) Shallow() (bool, error) { return r.isShallow() }

// DirtyPaths lists the work tree's uncommitted changes: modified, staged and untracked files
// that are not ignored, as paths from the root of the work tree.
func (r *Repo) DirtyPaths(ctx context.Context) ([]string, error) {
	if cli, ok := r.impl.(*gitCLI); ok {
		out, err := cli.run(ctx, "", "status", "--porcelain=v1", "-z", "--untracked-files=all")
		if err != nil {
			return nil, fmt.Errorf("git status: %w", err)
		}
		var paths []string
		entries := strings.Split(string(out), "\x00")
		for i := 0; i < len(entries); i++ {
			e := entries[i]
			if len(e) < 4 {
				continue
			}
			paths = append(paths, e[3:])
			if e[0] == 'R' || e[0] == 'C' {
				i++ // the old path of a rename or copy follows
			}
		}
		slices.Sort(paths)
		return paths, nil
	}
	repo, err := git.PlainOpenWithOptions(r.root, &git.PlainOpenOptions{DetectDotGit: true, EnableDotGitCommonDir: true})
	if err != nil {
		return nil, fmt.Errorf("status: %w", err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		return nil, fmt.Errorf("status: %w", err)
	}
	status, err := wt.StatusWithOptions(git.StatusOptions{Strategy: git.Preload})
	if err != nil {
		return nil, fmt.Errorf("status: %w", err)
	}
	var paths []string
	for path, fs := range status {
		if fs.Worktree != git.Unmodified || fs.Staging != git.Unmodified {
			paths = append(paths, path)
		}
	}
	slices.Sort(paths)
	return paths, nil
}

// FetchRefs fetches branches (into their remote-tracking refs) and tags of the remote with
// their history, with the checkout's credentials, as Changed's fetches do.
func (r *Repo) FetchRefs(ctx context.Context, refs ...string) ([]Fetch, error) {
	f := &fetcher{repo: r, enabled: true}
	var specs []string
	for _, ref := range refs {
		switch {
		case strings.HasPrefix(ref, "refs/heads/"):
			specs = append(specs, "+"+ref+":refs/remotes/origin/"+strings.TrimPrefix(ref, "refs/heads/"))
		case strings.HasPrefix(ref, "refs/tags/"):
			specs = append(specs, "+"+ref+":"+ref)
		default:
			return nil, fmt.Errorf("fetch %q: not a branch or a tag", ref)
		}
		if !validRefName(ref) {
			return nil, fmt.Errorf("fetch %q: not a valid ref name", ref)
		}
	}
	if len(specs) == 0 {
		return nil, nil
	}
	err := f.run(ctx, specs...)
	return f.log, err
}

// shallowCommits is the shallow clone's boundary: commits whose parents are not here.
func (r *Repo) shallowCommits() (map[string]bool, error) {
	dir, err := r.gitDir()
	if err != nil {
		return nil, err
	}
	common, err := commonDir(dir)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(filepath.Join(common, "shallow"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	out := map[string]bool{}
	for _, f := range strings.Fields(string(data)) {
		out[f] = true
	}
	return out, nil
}

// logFormat separates records with RS and fields with US; -z ends the paths with NUL.
const logFormat = "tformat:\x1e%H\x1f%P\x1f%ct\x1f%an <%ae>\x1f%B\x1f"

func (g *gitCLI) log(ctx context.Context, head string, exclude []string) ([]Commit, error) {
	args := []string{"-c", "log.showSignature=false", "log", "-z", "--no-merges", "--no-renames", "--root",
		"--name-only", "--no-relative", "--no-ext-diff", "--no-textconv", "--ignore-submodules=none",
		"--format=" + logFormat, head}
	for _, e := range exclude {
		args = append(args, "^"+e)
	}
	out, err := g.runEnv(ctx, []string{"GIT_INDEX_FILE=" + g.noIndex}, "", append(args, "--")...)
	if err != nil {
		return nil, err
	}
	var commits []Commit
	for rec := range strings.SplitSeq(string(out), "\x1e") {
		if rec == "" {
			continue
		}
		c, err := parseLogRecord(rec)
		if err != nil {
			return nil, err
		}
		commits = append(commits, c)
	}
	return commits, nil
}

// parseLogRecord reads one record of logFormat: SHA, parents, time, author, message, paths.
func parseLogRecord(rec string) (Commit, error) {
	f := strings.SplitN(rec, "\x1f", 5)
	if len(f) < 5 {
		return Commit{}, fmt.Errorf("git log: unexpected record %q", rec)
	}
	end := strings.LastIndex(f[4], "\x1f")
	if end < 0 {
		return Commit{}, fmt.Errorf("git log: unexpected record %q", rec)
	}
	secs, err := strconv.ParseInt(f[2], 10, 64)
	if err != nil {
		return Commit{}, fmt.Errorf("git log: commit %s: time %q: %w", f[0], f[2], err)
	}
	c := Commit{SHA: f[0], Parents: strings.Fields(f[1]), Time: time.Unix(secs, 0).UTC(), Author: f[3]}
	c.setMessage(f[4][:end])
	c.Paths = []string{}
	for p := range strings.SplitSeq(f[4][end+1:], "\x00") {
		if p = strings.TrimPrefix(p, "\n"); p != "" {
			c.Paths = append(c.Paths, p)
		}
	}
	slices.Sort(c.Paths)
	c.Paths = slices.Compact(c.Paths)
	return c, nil
}

func (c *Commit) setMessage(msg string) {
	c.Message = strings.TrimRight(msg, "\n")
	c.Subject, _, _ = strings.Cut(c.Message, "\n")
}

// log walks the commits that no excluded commit reaches: it marks everything the excluded
// commits reach first, which is simple and, unlike a date-ordered walk, cannot be fooled by
// committer clocks.
func (g *goGit) log(ctx context.Context, head string, exclude []string) ([]Commit, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	hidden := map[plumbing.Hash]bool{}
	if err := g.walk(ctx, exclude, hidden, nil); err != nil {
		return nil, err
	}
	var commits []Commit
	err := g.walk(ctx, []string{head}, hidden, func(h plumbing.Hash, info commitInfo, data []byte) error {
		if len(info.parents) > 1 {
			return nil
		}
		c := Commit{SHA: h.String(), Parents: hashStrings(info.parents), Time: time.Unix(info.time, 0).UTC(), Paths: []string{}}
		c.Author, c.Message = commitAuthorMessage(data)
		c.setMessage(c.Message)
		var parentTree plumbing.Hash
		if len(info.parents) == 1 {
			p, err := g.commit(info.parents[0])
			if err != nil {
				return err
			}
			parentTree = p.tree
		}
		if err := g.diffTrees(ctx, "", parentTree, info.tree, &c.Paths); err != nil {
			return fmt.Errorf("commit %s: %w", h, err)
		}
		slices.Sort(c.Paths)
		commits = append(commits, c)
		return nil
	})
	return commits, err
}

// walk visits every commit reachable from starts that is not in seen, adding it to seen. It
// stops at a shallow clone's boundary as git does.
func (g *goGit) walk(ctx context.Context, starts []string, seen map[plumbing.Hash]bool, visit func(plumbing.Hash, commitInfo, []byte) error) error {
	stack := make([]plumbing.Hash, 0, len(starts))
	for _, s := range starts {
		stack = append(stack, plumbing.NewHash(s))
	}
	for len(stack) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		h := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[h] {
			continue
		}
		seen[h] = true
		data, err := g.readTyped(h, objCommit)
		if err != nil {
			return err
		}
		info, err := parseCommit(data)
		if err != nil {
			return fmt.Errorf("commit %s: %w", h, err)
		}
		// A commit on the boundary has no parents here, as for git.
		if info.parents, err = g.parents(h, info); err != nil {
			return err
		}
		if visit != nil {
			if err := visit(h, info, data); err != nil {
				return err
			}
		}
		stack = append(stack, info.parents...)
	}
	return nil
}

// commitAuthorMessage reads the author ("Name <email>") and the message of a commit object.
func commitAuthorMessage(data []byte) (author, message string) {
	header, msg, _ := bytes.Cut(data, []byte("\n\n"))
	for line := range bytes.SplitSeq(header, []byte{'\n'}) {
		if val, ok := bytes.CutPrefix(line, []byte("author ")); ok {
			if i := bytes.LastIndexByte(val, '>'); i >= 0 {
				val = val[:i+1]
			}
			author = string(val)
		}
	}
	return author, string(msg)
}
