// Package changes finds which paths changed between commits of a git repository, fast enough to
// run on every CI event of a monorepo with a hundred thousand files.
//
// Two backends compute the same answers: the git CLI (plumbing commands only, run with a
// scrubbed environment; the fast path) and go-git (its object API: a walk of the two
// object.Trees that skips equal subtrees, and a merge-base walk that stops at a shallow clone's
// boundary as git does). Both read loose and packed objects, alternates, linked worktrees and
// partial (blobless) clones; neither reads sha256 repositories, which Open refuses by name.
// Changed (base.go) holds the event-level policy: which two commits a push or a pull request is
// diffed between, what a shallow checkout must fetch, and when no diff base can be found.
//
// The package must not import other Ferry packages: the triggers package imports it.
package changes

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Backend chooses how diffs are computed.
type Backend string

const (
	// Auto uses the git CLI when git is on PATH and go-git otherwise.
	Auto Backend = "auto"
	// GitCLI runs git plumbing commands as subprocesses.
	GitCLI Backend = "git"
	// GoGit reads the object database in process with go-git's object API.
	GoGit Backend = "go-git"
)

// ParseBackend accepts the backend names of the command line; "" means Auto.
func ParseBackend(s string) (Backend, error) {
	switch b := Backend(strings.ToLower(s)); b {
	case "":
		return Auto, nil
	case Auto, GitCLI, GoGit:
		return b, nil
	case "gogit":
		return GoGit, nil
	}
	return "", fmt.Errorf("unknown diff backend %q (want auto, git or go-git)", s)
}

var (
	// ErrNotFound means a revision, object or directory does not exist in the repository.
	ErrNotFound = errors.New("not found")
	// ErrNoMergeBase means two commits share no history (or none that a shallow clone has).
	ErrNoMergeBase = errors.New("no merge base")
	// ErrNotRepository means no .git was found in a folder or any of its parents.
	ErrNotRepository = errors.New("not a git repository")
)

// Repo is an open repository. Its methods are safe for concurrent use.
type Repo struct {
	root    string
	backend Backend
	impl    backend
}

// backend is what the two implementations provide. All commits it receives are full,
// resolved SHAs; rev parsing and the choice between several merge bases live in Repo so that
// both backends answer identically.
type backend interface {
	// resolve returns, for each query, the commit named by the first of its candidates that
	// names one, after the query's parent steps.
	resolve(ctx context.Context, queries []query) ([]resolved, error)
	// mergeBases returns all best common ancestors of a and b (git merge-base --all).
	mergeBases(ctx context.Context, a, b string) ([]string, error)
	// diff returns the changed paths between the trees of two commits, in any order.
	diff(ctx context.Context, from, to string) ([]string, error)
	// commitParents returns the parents a commit object records, even those a shallow clone
	// lacks.
	commitParents(ctx context.Context, commit string) ([]string, error)
	// trees returns the tree hash of each clean dir in commit, "" where there is no tree.
	trees(ctx context.Context, commit string, dirs []string) ([]string, error)
	// files returns the files at or below the clean path in commit, in any order.
	files(ctx context.Context, commit, path string) ([]File, error)
	// blob returns a blob's content.
	blob(ctx context.Context, hash string) ([]byte, error)
	// log returns the non-merge commits head reaches and no excluded commit does, in any
	// order, each with the paths it changed against its first parent.
	log(ctx context.Context, head string, exclude []string) ([]Commit, error)
	// refs returns the branches, remote-tracking branches and tags, tags peeled to commits.
	refs(ctx context.Context) ([]Ref, error)
	// authors returns the author e-mails of the commits reachable from to and not from from
	// (from may be ""), each with one commit (see Authors).
	authors(ctx context.Context, from, to string) (map[string]string, error)
	// commitObject returns a commit object's content.
	commitObject(ctx context.Context, commit string) ([]byte, error)
	close() error
}

// Open opens the repository whose work tree contains dir. It looks for .git in dir and its
// parents; a .git file (linked worktree, submodule) is followed.
func Open(dir string, backend Backend) (*Repo, error) {
	backend, err := ParseBackend(string(backend))
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", dir, err)
	}
	root, err := findRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", dir, err)
	}
	if backend == Auto {
		// The CLI is the reference implementation and reads every repository format
		// (reftable, commit-graph, partial clones, sha256) that git itself reads.
		backend = GoGit
		if _, err := exec.LookPath("git"); err == nil {
			backend = GitCLI
		}
	}
	if err := checkObjectFormat(root); err != nil {
		return nil, fmt.Errorf("open %s: %w", dir, err)
	}
	r := &Repo{root: root, backend: backend}
	if backend == GitCLI {
		r.impl, err = newGitCLI(root)
	} else {
		r.impl, err = newGoGit(root)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", dir, err)
	}
	return r, nil
}

// checkObjectFormat refuses repositories whose objects are not named by SHA-1: both backends
// read 40-digit names (go-git v5 reads no other), and a wrong answer is worse than none.
func checkObjectFormat(root string) error {
	dir, err := gitDir(root)
	if err != nil {
		return err
	}
	common, err := commonDir(dir)
	if err != nil {
		return err
	}
	data, err := os.ReadFile(filepath.Join(common, "config"))
	if err != nil {
		return nil // git itself will say what is wrong
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
		if ok && strings.EqualFold(strings.TrimSpace(k), "objectformat") && !strings.EqualFold(strings.TrimSpace(v), "sha1") {
			return fmt.Errorf("a %s repository: Ferry reads only sha1 repositories", strings.TrimSpace(v))
		}
	}
	return nil
}

// findRoot returns the work tree root: the nearest of dir and its parents that holds .git.
func findRoot(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	if fi, err := os.Stat(abs); err != nil {
		return "", err
	} else if !fi.IsDir() {
		abs = filepath.Dir(abs)
	}
	for d := abs; ; {
		if _, err := os.Stat(filepath.Join(d, ".git")); err == nil {
			return d, nil
		} else if !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", ErrNotRepository
		}
		d = parent
	}
}

// gitDir returns the git directory of the work tree at root: root/.git, or where a .git file
// points (linked worktree, submodule).
func gitDir(root string) (string, error) {
	dot := filepath.Join(root, ".git")
	fi, err := os.Stat(dot)
	if err != nil {
		return "", err
	}
	if fi.IsDir() {
		return dot, nil
	}
	data, err := os.ReadFile(dot)
	if err != nil {
		return "", err
	}
	dir, ok := strings.CutPrefix(strings.TrimSpace(string(data)), "gitdir:")
	if !ok {
		return "", fmt.Errorf("%s: no gitdir: line", dot)
	}
	if dir = strings.TrimSpace(dir); !filepath.IsAbs(dir) {
		dir = filepath.Join(root, dir)
	}
	return dir, nil
}

// Root is the root of the work tree.
func (r *Repo) Root() string { return r.root }

// Backend is the backend in use; never Auto.
func (r *Repo) Backend() Backend { return r.backend }

// Close releases the pack files the go-git backend keeps open.
func (r *Repo) Close() error {
	if err := r.impl.close(); err != nil {
		return fmt.Errorf("close %s: %w", r.root, err)
	}
	return nil
}

// Resolve returns the commit that rev names: a full or short (at least 4 digits) SHA, HEAD, a
// full ref, or a short name looked up as refs/heads/<rev>, refs/remotes/origin/<rev> and
// refs/tags/<rev>, in that order, before it is tried as a short SHA. Annotated tags are peeled.
// The name may be followed by parent steps: ~N (N first parents, ~ is ~1), ^N (the Nth parent,
// ^ is ^1, ^0 the commit itself), as in main~2 or HEAD^2. No other revision syntax is accepted.
// A commit on a shallow clone's boundary has no parents. ErrNotFound when nothing matches.
func (r *Repo) Resolve(ctx context.Context, rev string) (string, error) {
	shas, err := r.resolveAll(ctx, revQuery(rev))
	if err != nil {
		return "", fmt.Errorf("resolve %q: %w", rev, err)
	}
	return shas[0], nil
}

// resolveAll resolves several candidate lists in one round trip (one subprocess for the CLI).
func (r *Repo) resolveAll(ctx context.Context, queries ...query) ([]string, error) {
	res, err := r.impl.resolve(ctx, queries)
	if err != nil {
		return nil, err
	}
	shas := make([]string, len(res))
	for i, x := range res {
		switch {
		case x.ambiguous != "":
			return nil, fmt.Errorf("short sha %s is ambiguous: %w", x.ambiguous, ErrNotFound)
		case x.sha == "" && len(queries[i].cands) == 0:
			return nil, fmt.Errorf("invalid revision: %w", ErrNotFound)
		case x.sha == "":
			return nil, ErrNotFound
		}
		shas[i] = x.sha
	}
	return shas, nil
}

// MergeBase returns the best common ancestor of two revisions, as git merge-base does. When
// criss-cross merges leave several, the smallest SHA is returned so that both backends agree.
// ErrNoMergeBase when the histories are unrelated.
func (r *Repo) MergeBase(ctx context.Context, a, b string) (string, error) {
	shas, err := r.resolveAll(ctx, revQuery(a), revQuery(b))
	if err == nil {
		var base string
		if base, err = r.mergeBase(ctx, shas[0], shas[1]); err == nil {
			return base, nil
		}
	}
	return "", fmt.Errorf("merge-base %s %s: %w", a, b, err)
}

func (r *Repo) mergeBase(ctx context.Context, a, b string) (string, error) {
	if a == b {
		return a, nil
	}
	bases, err := r.impl.mergeBases(ctx, a, b)
	if err != nil {
		return "", err
	}
	if len(bases) == 0 {
		return "", ErrNoMergeBase
	}
	return slices.Min(bases), nil
}

// Diff returns the sorted, unique, '/'-separated paths of files that differ between the trees
// of two revisions: added, deleted, modified, mode or type changed. Renames are not detected,
// so a rename lists the old and the new path. A submodule whose commit changed is listed by its
// path; submodules are not entered.
func (r *Repo) Diff(ctx context.Context, from, to string) ([]string, error) {
	shas, err := r.resolveAll(ctx, revQuery(from), revQuery(to))
	if err == nil {
		var paths []string
		if paths, err = r.diff(ctx, shas[0], shas[1]); err == nil {
			return paths, nil
		}
	}
	return nil, fmt.Errorf("diff %s..%s: %w", from, to, err)
}

func (r *Repo) diff(ctx context.Context, from, to string) ([]string, error) {
	if from == to {
		return []string{}, nil
	}
	paths, err := r.impl.diff(ctx, from, to)
	if err != nil {
		return nil, err
	}
	slices.Sort(paths)
	return slices.Compact(paths), nil
}

// TreeHash returns the hash of the tree at dir in rev ("" or "." for the root): a content
// address of a folder. ErrNotFound when dir is absent or not a folder.
func (r *Repo) TreeHash(ctx context.Context, rev, dir string) (string, error) {
	hashes, err := r.TreeHashes(ctx, rev, []string{dir})
	if err == nil && hashes[0] == "" {
		err = ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("tree %s:%s: %w", rev, dir, err)
	}
	return hashes[0], nil
}

// TreeHashes is TreeHash for many folders of one revision at once (one subprocess for the
// CLI); absent folders get "".
func (r *Repo) TreeHashes(ctx context.Context, rev string, dirs []string) ([]string, error) {
	shas, err := r.resolveAll(ctx, revQuery(rev))
	if err != nil {
		return nil, fmt.Errorf("trees of %s: %w", rev, err)
	}
	clean := make([]string, len(dirs))
	for i, d := range dirs {
		if clean[i], err = cleanDir(d); err != nil {
			return nil, fmt.Errorf("trees of %s: %w", rev, err)
		}
	}
	hashes, err := r.impl.trees(ctx, shas[0], clean)
	if err != nil {
		return nil, fmt.Errorf("trees of %s: %w", rev, err)
	}
	return hashes, nil
}

// File is one file of a commit: a blob (a regular file or a symbolic link) or a submodule's
// commit, with its mode as git writes it (100644, 100755, 120000, 160000).
type File struct {
	Path string
	Hash string
	Mode string
}

// Files returns the files of rev at or below path ("" for the root), sorted by path: the file
// itself when path names one, every file below it (recursively) when it names a folder,
// none when it is absent. It lists a glob's candidates from a commit rather than from the
// work tree, so that what keys a cache does not depend on untracked files.
func (r *Repo) Files(ctx context.Context, rev, path string) ([]File, error) {
	shas, err := r.resolveAll(ctx, revQuery(rev))
	if err != nil {
		return nil, fmt.Errorf("files of %s: %w", rev, err)
	}
	clean, err := cleanDir(path)
	if err != nil {
		return nil, fmt.Errorf("files of %s: %w", rev, err)
	}
	files, err := r.impl.files(ctx, shas[0], clean)
	if err != nil {
		return nil, fmt.Errorf("files of %s:%s: %w", rev, clean, err)
	}
	slices.SortFunc(files, func(a, b File) int { return strings.Compare(a.Path, b.Path) })
	return files, nil
}

// ReadFile returns the content of a file at rev. ErrNotFound when rev has no such file.
func (r *Repo) ReadFile(ctx context.Context, rev, path string) ([]byte, error) {
	files, err := r.Files(ctx, rev, path)
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		if f.Path == path {
			data, err := r.impl.blob(ctx, f.Hash)
			if err != nil {
				return nil, fmt.Errorf("read %s:%s: %w", rev, path, err)
			}
			return data, nil
		}
	}
	return nil, fmt.Errorf("%s:%s: %w", rev, path, ErrNotFound)
}

// ResolveBranch resolves a branch as CI checkouts hold it (the remote-tracking ref first),
// fetching its tip from the checkout's remote when the clone lacks it and fetch is set.
func (r *Repo) ResolveBranch(ctx context.Context, name string, fetch bool) (string, error) {
	b := &baseFinder{repo: r, fetch: &fetcher{repo: r, enabled: fetch}}
	return b.branch(ctx, name)
}

// cleanDir turns a folder given by a user into a repository path without leading or trailing
// slashes; "" is the root. "." and ".." elements are refused rather than resolved, and so is a
// newline, which cannot be passed to git cat-file --batch-check.
func cleanDir(dir string) (string, error) {
	d := strings.Trim(filepath.ToSlash(dir), "/")
	if d == "" || d == "." {
		return "", nil
	}
	if !fs.ValidPath(d) || strings.ContainsAny(d, "\n\x00") {
		return "", fmt.Errorf("invalid folder %q", dir)
	}
	return d, nil
}

// query is a revision to resolve: the first of its candidates that names a commit, then its
// parent steps.
type query struct {
	cands  []candidate
	steps  []step
	suffix string // the steps as written (~2^2), for the git CLI
}

// step is one parent step: ~n follows n first parents, ^n takes the nth parent (^0: itself).
type step struct {
	tilde bool
	n     int
}

// candidate is one interpretation of a revision name.
type candidate struct {
	kind candKind
	s    string // lower-case hex for SHAs and prefixes; a full ref name otherwise
}

type candKind int

const (
	candSHA    candKind = iota // a full 40-digit object name
	candRef                    // HEAD or a full ref name
	candPrefix                 // 4 to 39 hex digits
)

// resolved is a backend's answer to one query.
type resolved struct {
	sha       string // the commit; "" when no candidate names one
	ambiguous string // a short SHA that matched several commits
}

// revQuery lists what a user-given revision may mean, in the order Resolve documents. An
// invalid revision yields no candidates, hence ErrNotFound.
func revQuery(rev string) query {
	name, suffix := rev, ""
	if i := strings.IndexAny(rev, "~^"); i >= 0 {
		name, suffix = rev[:i], rev[i:]
	}
	steps, ok := parseSteps(suffix)
	if !ok {
		return query{}
	}
	return query{cands: nameCandidates(name), steps: steps, suffix: suffix}
}

// parseSteps parses ~N and ^N steps; ok is false for anything else (^{tree}, ^!, @{1}...).
func parseSteps(s string) (steps []step, ok bool) {
	for s != "" {
		st := step{tilde: s[0] == '~', n: 1}
		if s[0] != '~' && s[0] != '^' {
			return nil, false
		}
		s = s[1:]
		digits := 0
		for digits < len(s) && '0' <= s[digits] && s[digits] <= '9' {
			digits++
		}
		if digits > 0 {
			n, err := strconv.Atoi(s[:digits])
			if err != nil || digits > 6 {
				return nil, false
			}
			st.n, s = n, s[digits:]
		}
		steps = append(steps, st)
	}
	return steps, true
}

func nameCandidates(rev string) []candidate {
	switch {
	case isHex(rev) && len(rev) == 40:
		return []candidate{{candSHA, strings.ToLower(rev)}}
	case rev == "HEAD" || strings.HasPrefix(rev, "refs/"):
		if !validRefName(rev) {
			return nil
		}
		return []candidate{{candRef, rev}}
	}
	var c []candidate
	if validRefName("refs/heads/" + rev) {
		c = append(c,
			candidate{candRef, "refs/heads/" + rev},
			candidate{candRef, "refs/remotes/origin/" + rev},
			candidate{candRef, "refs/tags/" + rev})
	}
	if isHex(rev) && len(rev) >= 4 && len(rev) < 40 {
		c = append(c, candidate{candPrefix, strings.ToLower(rev)})
	}
	return c
}

// branchQuery lists what a branch given by a CI system may mean: a commit first, then the
// remote-tracking branch (fresher than a local branch in a CI clone), then the local branch.
// name may be a full refs/heads/ ref.
func branchQuery(name string) query {
	if isHex(name) && len(name) == 40 {
		return query{cands: []candidate{{candSHA, strings.ToLower(name)}}}
	}
	short, isHead := strings.CutPrefix(name, "refs/heads/")
	if !isHead && strings.HasPrefix(name, "refs/") {
		return query{cands: nameCandidates(name)}
	}
	var c []candidate
	if validRefName("refs/heads/" + short) {
		c = append(c,
			candidate{candRef, "refs/remotes/origin/" + short},
			candidate{candRef, "refs/heads/" + short},
			candidate{candRef, "refs/remotes/" + short}) // origin/main, upstream/main
	}
	if isHex(short) && len(short) >= 4 && len(short) < 40 {
		c = append(c, candidate{candPrefix, strings.ToLower(short)})
	}
	return query{cands: c}
}

func isHex(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// validRefName applies git check-ref-format's rules. Refusing everything else keeps revision
// syntax (a^{tree}, @{u}, :path) out of the CLI backend, which would otherwise interpret what
// go-git does not.
func validRefName(s string) bool {
	if s == "HEAD" {
		return true
	}
	if s == "" || s == "@" || strings.HasSuffix(s, "/") || strings.HasSuffix(s, ".") ||
		strings.Contains(s, "..") || strings.Contains(s, "@{") || strings.Contains(s, "//") ||
		strings.ContainsAny(s, " ~^:?*[\\\x7f") {
		return false
	}
	for _, c := range []byte(s) {
		if c < 0x20 {
			return false
		}
	}
	for part := range strings.SplitSeq(s, "/") {
		if part == "" || strings.HasPrefix(part, ".") || strings.HasSuffix(part, ".lock") {
			return false
		}
	}
	return true
}

// short abbreviates a commit for messages.
func short(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}
