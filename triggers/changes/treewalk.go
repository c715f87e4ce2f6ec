package changes

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// treeIter steps through the entries of a go-git tree, in the order git stores them.
type treeIter struct {
	entries []object.TreeEntry
	name    string
	mode    filemode.FileMode
	hash    plumbing.Hash
	isTree  bool
}

// next moves to the next entry; false at the end.
func (it *treeIter) next() bool {
	if len(it.entries) == 0 {
		return false
	}
	e := it.entries[0]
	it.entries = it.entries[1:]
	it.name, it.mode, it.hash = e.Name, e.Mode, e.Hash
	// Submodules (mode 160000) are not trees: they are compared by their commit, not entered.
	it.isTree = e.Mode == filemode.Dir
	return true
}

// compareEntries orders entries as git sorts them in a tree: by name, a tree's name compared as
// if it ended in '/'. Walking two trees in this order pairs up equal names.
func compareEntries(a string, aTree bool, b string, bTree bool) int {
	n := min(len(a), len(b))
	if c := strings.Compare(a[:n], b[:n]); c != 0 {
		return c
	}
	end := func(name string, isTree bool) byte {
		switch {
		case len(name) > n:
			return name[n]
		case isTree:
			return '/'
		}
		return 0
	}
	return int(end(a, aTree)) - int(end(b, bTree))
}

// tree reads a tree with go-git.
func (g *goGit) tree(h plumbing.Hash) ([]object.TreeEntry, error) {
	t, err := object.GetTree(g.storage, h)
	if errors.Is(err, plumbing.ErrObjectNotFound) {
		return nil, fmt.Errorf("tree %s: %w", h, errMissing)
	}
	if err != nil {
		return nil, fmt.Errorf("tree %s: %w", h, err)
	}
	return t.Entries, nil
}

func (g *goGit) diff(ctx context.Context, from, to string) ([]string, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	a, err := g.commit(plumbing.NewHash(from))
	if err != nil {
		return nil, err
	}
	b, err := g.commit(plumbing.NewHash(to))
	if err != nil {
		return nil, err
	}
	paths := []string{}
	err = g.diffTrees(ctx, "", a.tree, b.tree, &paths)
	return paths, err
}

// diffTrees appends the files that differ between trees a and b (either may be the zero hash:
// absent) under prefix. Subtrees with equal hashes are skipped without being read, which is
// what makes a small change in a large repository cheap.
func (g *goGit) diffTrees(ctx context.Context, prefix string, a, b plumbing.Hash, out *[]string) error {
	if a == b {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	var ia, ib treeIter
	var err error
	if !a.IsZero() {
		if ia.entries, err = g.tree(a); err != nil {
			return fmt.Errorf("%s: %w", strings.TrimSuffix(prefix, "/"), err)
		}
	}
	if !b.IsZero() {
		if ib.entries, err = g.tree(b); err != nil {
			return fmt.Errorf("%s: %w", strings.TrimSuffix(prefix, "/"), err)
		}
	}
	okA, okB := ia.next(), ib.next()
	for okA || okB {
		c := 0
		switch {
		case !okA:
			c = 1
		case !okB:
			c = -1
		default:
			c = compareEntries(ia.name, ia.isTree, ib.name, ib.isTree)
		}
		switch {
		case c < 0: // only in a
			if err := g.emit(ctx, prefix, &ia, true, out); err != nil {
				return err
			}
			okA = ia.next()
		case c > 0: // only in b
			if err := g.emit(ctx, prefix, &ib, false, out); err != nil {
				return err
			}
			okB = ib.next()
		default:
			if ia.hash != ib.hash || ia.mode != ib.mode {
				if err := g.changed(ctx, prefix, &ia, &ib, out); err != nil {
					return err
				}
			}
			okA, okB = ia.next(), ib.next()
		}
	}
	return nil
}

// changed lists what differs between two entries of the same name and kind (compareEntries
// never pairs a file with a tree): the files below a tree, or the file itself.
func (g *goGit) changed(ctx context.Context, prefix string, a, b *treeIter, out *[]string) error {
	if a.isTree {
		return g.diffTrees(ctx, prefix+a.name+"/", a.hash, b.hash, out)
	}
	*out = append(*out, prefix+a.name)
	return nil
}

// emit lists an entry present on one side only: a file, or every file below a tree.
func (g *goGit) emit(ctx context.Context, prefix string, it *treeIter, onA bool, out *[]string) error {
	if !it.isTree {
		*out = append(*out, prefix+it.name)
		return nil
	}
	sub := prefix + it.name + "/"
	if onA {
		return g.diffTrees(ctx, sub, it.hash, plumbing.ZeroHash, out)
	}
	return g.diffTrees(ctx, sub, plumbing.ZeroHash, it.hash, out)
}

func (g *goGit) trees(ctx context.Context, commit string, dirs []string) ([]string, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	c, err := g.commit(plumbing.NewHash(commit))
	if err != nil {
		return nil, err
	}
	// Service folders share parents (src/...), so each tree is read and indexed once.
	subtrees := map[plumbing.Hash]map[string]plumbing.Hash{}
	children := func(h plumbing.Hash) (map[string]plumbing.Hash, error) {
		if m, ok := subtrees[h]; ok {
			return m, nil
		}
		entries, err := g.tree(h)
		if err != nil {
			return nil, err
		}
		m := map[string]plumbing.Hash{}
		for _, e := range entries {
			if e.Mode == filemode.Dir {
				m[e.Name] = e.Hash
			}
		}
		subtrees[h] = m
		return m, nil
	}
	out := make([]string, len(dirs))
	for i, d := range dirs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		h := c.tree
		found := true
		if d != "" {
			for part := range strings.SplitSeq(d, "/") {
				m, err := children(h)
				if err != nil {
					return nil, err
				}
				if h, found = m[part]; !found {
					break
				}
			}
		}
		if found {
			out[i] = h.String()
		}
	}
	return out, nil
}

func (g *goGit) files(ctx context.Context, commit, path string) ([]File, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	c, err := g.commit(plumbing.NewHash(commit))
	if err != nil {
		return nil, err
	}
	h, mode, isTree := c.tree, uint32(0o040000), true
	if path != "" {
		for part := range strings.SplitSeq(path, "/") {
			if !isTree {
				return nil, nil // a file on the way: nothing is below it
			}
			var found bool
			if h, mode, isTree, found, err = g.child(h, part); err != nil || !found {
				return nil, err
			}
		}
	}
	if !isTree {
		return []File{{Path: path, Hash: h.String(), Mode: fmt.Sprintf("%06o", mode)}}, nil
	}
	var out []File
	prefix := ""
	if path != "" {
		prefix = path + "/"
	}
	return out, g.walkFiles(ctx, prefix, h, &out)
}

// child finds one entry of a tree by name.
func (g *goGit) child(tree plumbing.Hash, name string) (h plumbing.Hash, mode uint32, isTree, found bool, err error) {
	entries, err := g.tree(tree)
	if err != nil {
		return h, 0, false, false, err
	}
	for _, e := range entries {
		if e.Name == name {
			return e.Hash, uint32(e.Mode), e.Mode == filemode.Dir, true, nil
		}
	}
	return h, 0, false, false, nil
}

// walkFiles appends every file below tree h, whose path starts with prefix.
func (g *goGit) walkFiles(ctx context.Context, prefix string, h plumbing.Hash, out *[]File) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	entries, err := g.tree(h)
	if err != nil {
		return fmt.Errorf("%s: %w", strings.TrimSuffix(prefix, "/"), err)
	}
	for _, e := range entries {
		name := prefix + e.Name
		if e.Mode == filemode.Dir {
			if err := g.walkFiles(ctx, name+"/", e.Hash, out); err != nil {
				return err
			}
			continue
		}
		*out = append(*out, File{Path: name, Hash: e.Hash.String(), Mode: fmt.Sprintf("%06o", uint32(e.Mode))})
	}
	return nil
}
