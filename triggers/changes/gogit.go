package changes

import (
	"bytes"
	"container/heap"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-billy/v5/osfs"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// goGit answers in process over go-git's storage, which finds the repository (linked worktrees
// included), reads refs, the shallow list and objects. The merge-base walk is ours (below):
// go-git's Commit.MergeBase walks through a shallow clone's boundary, where git stops.
type goGit struct {
	mu      sync.Mutex // guards everything below
	storage *filesystem.Storage
	objects objectReader
	shallow map[plumbing.Hash]bool // nil until loaded
}

var _ backend = (*goGit)(nil)

func newGoGit(root string) (*goGit, error) {
	repo, err := git.PlainOpenWithOptions(root, &git.PlainOpenOptions{DetectDotGit: true, EnableDotGitCommonDir: true})
	if errors.Is(err, git.ErrRepositoryNotExists) {
		return nil, ErrNotRepository
	}
	if err != nil {
		return nil, fmt.Errorf("go-git: %w", err)
	}
	opened, ok := repo.Storer.(*filesystem.Storage)
	if !ok {
		return nil, fmt.Errorf("go-git: unexpected storage %T", repo.Storer)
	}
	// The storage is made again over the same files: PlainOpenWithOptions can ask neither for
	// KeepDescriptors (pack files stay open instead of being reopened per object) nor for an
	// alternates filesystem that reaches the absolute paths git writes into
	// objects/info/alternates. Never ExclusiveAccess: git may write while we read.
	st := filesystem.NewStorageWithOptions(opened.Filesystem(), cache.NewObjectLRUDefault(),
		filesystem.Options{KeepDescriptors: true, AlternatesFS: osfs.New("/")})
	return &goGit{storage: st, objects: objectReader{st: st}}, nil
}

// commonDir returns the directory that holds objects and refs: gitDir itself, or for a linked
// worktree the main repository's .git named by gitDir/commondir.
func commonDir(gitDir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(gitDir, "commondir"))
	if errors.Is(err, os.ErrNotExist) {
		return gitDir, nil
	}
	if err != nil {
		return "", err
	}
	d := strings.TrimSpace(string(b))
	if !filepath.IsAbs(d) {
		d = filepath.Join(gitDir, d)
	}
	return d, nil
}

func (g *goGit) close() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.storage.Close()
}

// readObject returns an object's type and content, errMissing when the repository lacks it.
func (g *goGit) readObject(h plumbing.Hash) (int, []byte, error) {
	return g.objects.read(h)
}

func (g *goGit) readTyped(h plumbing.Hash, want int) ([]byte, error) {
	typ, data, err := g.readObject(h)
	if err != nil {
		return nil, err
	}
	if typ != want {
		return nil, fmt.Errorf("object %s is a %s, want a %s", h, plumbing.ObjectType(typ), plumbing.ObjectType(want))
	}
	return data, nil
}

// peel follows annotated tags to the commit they name. ok is false when h is missing or
// names something other than a commit.
func (g *goGit) peel(h plumbing.Hash) (plumbing.Hash, bool, error) {
	for range 16 {
		typ, data, err := g.readObject(h)
		if errors.Is(err, errMissing) {
			return h, false, nil
		}
		if err != nil {
			return h, false, err
		}
		switch typ {
		case objCommit:
			return h, true, nil
		case objTag:
			target, ok := headerHash(data, "object ")
			if !ok {
				return h, false, fmt.Errorf("tag %s has no object", h)
			}
			h = target
		default:
			return h, false, nil
		}
	}
	return h, false, fmt.Errorf("tag %s: too many levels", h)
}

func (g *goGit) resolve(ctx context.Context, queries []query) ([]resolved, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]resolved, len(queries))
	for qi, q := range queries {
		for _, c := range q.cands {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			res, err := g.resolveOne(c)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", c.s, err)
			}
			if res.sha == "" && res.ambiguous == "" {
				continue
			}
			// The first name that resolves decides, even when its steps lead nowhere.
			if res.sha != "" && len(q.steps) > 0 {
				if res.sha, err = g.walkSteps(plumbing.NewHash(res.sha), q.steps); err != nil {
					return nil, fmt.Errorf("%s%s: %w", c.s, q.suffix, err)
				}
			}
			out[qi] = res
			break
		}
	}
	return out, nil
}

// walkSteps applies ~N and ^N steps from commit h; "" when a parent does not exist, as on a
// root commit or at a shallow clone's boundary.
func (g *goGit) walkSteps(h plumbing.Hash, steps []step) (string, error) {
	for _, s := range steps {
		hops, nth := s.n, 1
		if !s.tilde {
			hops, nth = 1, s.n
			if s.n == 0 {
				hops = 0
			}
		}
		for range hops {
			c, err := g.commit(h)
			if err != nil {
				return "", err
			}
			parents, err := g.parents(h, c)
			if err != nil {
				return "", err
			}
			if nth > len(parents) {
				return "", nil
			}
			h = parents[nth-1]
		}
	}
	// The last parent must be there: a parent list can name a commit the repository lacks.
	if _, err := g.commit(h); errors.Is(err, errMissing) {
		return "", nil
	} else if err != nil {
		return "", err
	}
	return h.String(), nil
}

func (g *goGit) resolveOne(c candidate) (resolved, error) {
	var h plumbing.Hash
	switch c.kind {
	case candSHA:
		h = plumbing.NewHash(c.s)
	case candRef:
		ref, err := storer.ResolveReference(g.storage, plumbing.ReferenceName(c.s))
		if errors.Is(err, plumbing.ErrReferenceNotFound) {
			return resolved{}, nil
		}
		if err != nil {
			return resolved{}, err
		}
		h = ref.Hash()
	case candPrefix:
		// As git does for <prefix>^{commit}: among the objects with this prefix only commits
		// and tags of commits count; one is an answer, several are ambiguous, and a single
		// object of another kind is simply not a commit.
		hashes, err := g.objects.prefixed(c.s)
		if err != nil {
			return resolved{}, err
		}
		var commits []plumbing.Hash
		for _, x := range hashes {
			peeled, ok, err := g.peel(x)
			if err != nil {
				return resolved{}, err
			}
			if ok {
				commits = append(commits, peeled)
			}
		}
		switch {
		case len(commits) == 1:
			return resolved{sha: commits[0].String()}, nil
		case len(commits) > 1 || len(hashes) > 1:
			return resolved{ambiguous: c.s}, nil
		}
		return resolved{}, nil
	}
	peeled, ok, err := g.peel(h)
	if err != nil || !ok {
		return resolved{}, err
	}
	return resolved{sha: peeled.String()}, nil
}

// commitInfo is the part of a commit that merge-base and diff need.
type commitInfo struct {
	tree    plumbing.Hash
	parents []plumbing.Hash
	time    int64 // committer time
}

// parseCommit reads the header of a commit object, up to the blank line before the message.
func parseCommit(data []byte) (commitInfo, error) {
	var c commitInfo
	haveTree := false
	for len(data) > 0 {
		line, rest, _ := bytes.Cut(data, []byte{'\n'})
		data = rest
		if len(line) == 0 {
			break
		}
		key, val, _ := bytes.Cut(line, []byte{' '})
		switch string(key) {
		case "tree":
			h, ok := parseHash(val)
			if !ok {
				return c, fmt.Errorf("bad tree line %q", line)
			}
			c.tree, haveTree = h, true
		case "parent":
			h, ok := parseHash(val)
			if !ok {
				return c, fmt.Errorf("bad parent line %q", line)
			}
			c.parents = append(c.parents, h)
		case "committer":
			// "Name <email> 1600000000 +0000"; the name may contain anything but '>'.
			if i := bytes.LastIndexByte(val, '>'); i >= 0 {
				if f := strings.Fields(string(val[i+1:])); len(f) > 0 {
					c.time, _ = strconv.ParseInt(f[0], 10, 64)
				}
			}
		}
	}
	if !haveTree {
		return c, errors.New("commit has no tree")
	}
	return c, nil
}

func parseHash(b []byte) (plumbing.Hash, bool) {
	var h plumbing.Hash
	if len(b) != 40 || !isHex(string(b)) {
		return h, false
	}
	return plumbing.NewHash(string(b)), true
}

// headerHash returns the hash on the header line that starts with key ("object ").
func headerHash(data []byte, key string) (plumbing.Hash, bool) {
	for len(data) > 0 {
		line, rest, _ := bytes.Cut(data, []byte{'\n'})
		if len(line) == 0 {
			break
		}
		if v, ok := bytes.CutPrefix(line, []byte(key)); ok {
			return parseHash(v)
		}
		data = rest
	}
	return plumbing.ZeroHash, false
}

func (g *goGit) commit(h plumbing.Hash) (commitInfo, error) {
	data, err := g.readTyped(h, objCommit)
	if err != nil {
		return commitInfo{}, err
	}
	c, err := parseCommit(data)
	if err != nil {
		return c, fmt.Errorf("commit %s: %w", h, err)
	}
	return c, nil
}

func (g *goGit) commitParents(_ context.Context, commit string) ([]string, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	c, err := g.commit(plumbing.NewHash(commit))
	if err != nil {
		return nil, err
	}
	return hashStrings(c.parents), nil
}

func (g *goGit) blob(_ context.Context, hash string) ([]byte, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	typ, data, err := g.objects.read(plumbing.NewHash(hash))
	if err != nil {
		return nil, err
	}
	if typ != int(plumbing.BlobObject) {
		return nil, fmt.Errorf("object %s is a %s, not a blob", hash, plumbing.ObjectType(typ))
	}
	return data, nil
}

func hashStrings(hs []plumbing.Hash) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = h.String()
	}
	return out
}

// commitTime returns the committer time of a commit.
func (g *goGit) commitTime(h plumbing.Hash) (time.Time, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	c, err := g.commit(h)
	if err != nil {
		return time.Time{}, err
	}
	return time.Unix(c.time, 0), nil
}

// parents returns a commit's parents as the repository sees them: none for a commit on the
// shallow boundary, whose parents a shallow clone does not have.
func (g *goGit) parents(h plumbing.Hash, c commitInfo) ([]plumbing.Hash, error) {
	if g.shallow == nil {
		list, err := g.storage.Shallow()
		if err != nil {
			return nil, fmt.Errorf("reading shallow list: %w", err)
		}
		g.shallow = make(map[plumbing.Hash]bool, len(list))
		for _, s := range list {
			g.shallow[s] = true
		}
	}
	if g.shallow[h] {
		return nil, nil
	}
	return c.parents, nil
}

// Flags of the merge-base walk, as in git's commit-reach.c.
const (
	parent1 = 1 << iota
	parent2
	stale
	result
)

type mbNode struct {
	hash    plumbing.Hash
	time    int64
	parents []plumbing.Hash
	flags   int
}

// mbQueue orders commits newest first, like git's date-ordered priority queue.
type mbQueue []*mbNode

func (q mbQueue) Len() int           { return len(q) }
func (q mbQueue) Less(i, j int) bool { return q[i].time > q[j].time }
func (q mbQueue) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *mbQueue) Push(x any)        { *q = append(*q, x.(*mbNode)) }

// hasNonStale is git's queue_has_nonstale: the walk may stop once everything queued is below
// a common ancestor already found. The queue stays short (about the number of branches
// walked in parallel), so a scan is cheap.
func (q mbQueue) hasNonStale() bool {
	for _, n := range q {
		if n.flags&stale == 0 {
			return true
		}
	}
	return false
}

func (q *mbQueue) Pop() any {
	old := *q
	n := old[len(old)-1]
	*q = old[:len(old)-1]
	return n
}

// mergeBases is git's paint_down_to_common followed by remove_redundant: walk back from both
// commits newest first, painting what each reaches; a commit reached from both is a candidate
// and everything below it is stale; the walk stops when only stale commits are queued. In a
// shallow clone the walk ends at the shallow boundary, as git's does.
func (g *goGit) mergeBases(ctx context.Context, a, b string) ([]string, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	nodes := map[plumbing.Hash]*mbNode{}
	node := func(h plumbing.Hash) (*mbNode, error) {
		if n, ok := nodes[h]; ok {
			return n, nil
		}
		c, err := g.commit(h)
		if err != nil {
			return nil, err
		}
		parents, err := g.parents(h, c)
		if err != nil {
			return nil, err
		}
		n := &mbNode{hash: h, time: c.time, parents: parents}
		nodes[h] = n
		return n, nil
	}
	one, err := node(plumbing.NewHash(a))
	if err != nil {
		return nil, err
	}
	two, err := node(plumbing.NewHash(b))
	if err != nil {
		return nil, err
	}
	one.flags |= parent1
	two.flags |= parent2
	q := &mbQueue{one, two}
	heap.Init(q)
	var candidates []*mbNode
	for q.hasNonStale() {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		n := heap.Pop(q).(*mbNode)
		flags := n.flags & (parent1 | parent2 | stale)
		if flags == parent1|parent2 {
			if n.flags&result == 0 {
				n.flags |= result
				candidates = append(candidates, n)
			}
			flags |= stale
		}
		for _, ph := range n.parents {
			p, err := node(ph)
			if errors.Is(err, errMissing) {
				continue // history cut off without a shallow entry: treat as a root
			}
			if err != nil {
				return nil, err
			}
			if p.flags&flags == flags {
				continue
			}
			p.flags |= flags
			heap.Push(q, p)
		}
	}
	// A candidate that turned stale later is an ancestor of another candidate.
	var bases []*mbNode
	for _, c := range candidates {
		if c.flags&stale == 0 {
			bases = append(bases, c)
		}
	}
	if len(bases) > 1 {
		if bases, err = g.removeRedundant(ctx, bases, node); err != nil {
			return nil, err
		}
	}
	out := make([]string, len(bases))
	for i, n := range bases {
		out[i] = n.hash.String()
	}
	return out, nil
}

// removeRedundant drops candidates that are ancestors of other candidates. It only runs after
// criss-cross merges, so a plain walk is good enough.
func (g *goGit) removeRedundant(ctx context.Context, cands []*mbNode, node func(plumbing.Hash) (*mbNode, error)) ([]*mbNode, error) {
	var keep []*mbNode
	for i, c := range cands {
		seen := map[plumbing.Hash]bool{}
		var stack []plumbing.Hash
		for j, o := range cands {
			if j != i {
				stack = append(stack, o.parents...)
			}
		}
		redundant := false
		for len(stack) > 0 && !redundant {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			h := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if seen[h] {
				continue
			}
			seen[h] = true
			if h == c.hash {
				redundant = true
				break
			}
			n, err := node(h)
			if errors.Is(err, errMissing) {
				continue
			}
			if err != nil {
				return nil, err
			}
			stack = append(stack, n.parents...)
		}
		if !redundant {
			keep = append(keep, c)
		}
	}
	return keep, nil
}
