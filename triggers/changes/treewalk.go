package changes

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
)

// treeIter steps through the entries of a raw tree object ("<octal mode> <name>\0<20-byte
// hash>" each) without allocating.
type treeIter struct {
	data   []byte
	name   []byte
	mode   uint32
	hash   plumbing.Hash
	isTree bool
}

var errBadTree = errors.New("malformed tree")

// next moves to the next entry; false at the end.
func (it *treeIter) next() (bool, error) {
	if len(it.data) == 0 {
		return false, nil
	}
	sp := bytes.IndexByte(it.data, ' ')
	if sp <= 0 {
		return false, errBadTree
	}
	var mode uint32
	for _, c := range it.data[:sp] {
		if c < '0' || c > '7' {
			return false, errBadTree
		}
		mode = mode<<3 | uint32(c-'0')
	}
	rest := it.data[sp+1:]
	nul := bytes.IndexByte(rest, 0)
	if nul <= 0 || len(rest) < nul+1+20 {
		return false, errBadTree
	}
	it.name = rest[:nul]
	copy(it.hash[:], rest[nul+1:nul+21])
	it.mode = mode
	// Submodules (mode 160000) are not trees: they are compared by their commit, not entered.
	it.isTree = mode&0o170000 == 0o040000
	it.data = rest[nul+21:]
	return true, nil
}

// compareEntries orders entries as git sorts them in a tree: by name, a tree's name compared as
// if it ended in '/'. Walking two trees in this order pairs up equal names.
func compareEntries(a []byte, aTree bool, b []byte, bTree bool) int {
	n := min(len(a), len(b))
	if c := bytes.Compare(a[:n], b[:n]); c != 0 {
		return c
	}
	end := func(name []byte, isTree bool) byte {
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
		if ia.data, err = g.readTyped(a, objTree); err != nil {
			return fmt.Errorf("%s: %w", strings.TrimSuffix(prefix, "/"), err)
		}
	}
	if !b.IsZero() {
		if ib.data, err = g.readTyped(b, objTree); err != nil {
			return fmt.Errorf("%s: %w", strings.TrimSuffix(prefix, "/"), err)
		}
	}
	okA, errA := ia.next()
	okB, errB := ib.next()
	for okA || okB {
		if errA != nil || errB != nil {
			break
		}
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
			okA, errA = ia.next()
		case c > 0: // only in b
			if err := g.emit(ctx, prefix, &ib, false, out); err != nil {
				return err
			}
			okB, errB = ib.next()
		default:
			if ia.hash != ib.hash || ia.mode != ib.mode {
				if ia.isTree {
					if err := g.diffTrees(ctx, prefix+string(ia.name)+"/", ia.hash, ib.hash, out); err != nil {
						return err
					}
				} else {
					*out = append(*out, prefix+string(ia.name))
				}
			}
			okA, errA = ia.next()
			okB, errB = ib.next()
		}
	}
	if err := errors.Join(errA, errB); err != nil {
		return fmt.Errorf("tree %s: %w", strings.TrimSuffix(prefix, "/"), err)
	}
	return nil
}

// emit lists an entry present on one side only: a file, or every file below a tree.
func (g *goGit) emit(ctx context.Context, prefix string, it *treeIter, onA bool, out *[]string) error {
	if !it.isTree {
		*out = append(*out, prefix+string(it.name))
		return nil
	}
	sub := prefix + string(it.name) + "/"
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
		data, err := g.readTyped(h, objTree)
		if err != nil {
			return nil, err
		}
		m := map[string]plumbing.Hash{}
		it := treeIter{data: data}
		for {
			ok, err := it.next()
			if err != nil {
				return nil, fmt.Errorf("tree %s: %w", h, err)
			}
			if !ok {
				break
			}
			if it.isTree {
				m[string(it.name)] = it.hash
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
	data, err := g.readTyped(tree, objTree)
	if err != nil {
		return h, 0, false, false, err
	}
	it := treeIter{data: data}
	for {
		ok, err := it.next()
		if err != nil {
			return h, 0, false, false, fmt.Errorf("tree %s: %w", tree, err)
		}
		if !ok {
			return h, 0, false, false, nil
		}
		if string(it.name) == name {
			return it.hash, it.mode, it.isTree, true, nil
		}
	}
}

// walkFiles appends every file below tree h, whose path starts with prefix.
func (g *goGit) walkFiles(ctx context.Context, prefix string, h plumbing.Hash, out *[]File) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	data, err := g.readTyped(h, objTree)
	if err != nil {
		return fmt.Errorf("%s: %w", strings.TrimSuffix(prefix, "/"), err)
	}
	it := treeIter{data: data}
	for {
		ok, err := it.next()
		if err != nil {
			return fmt.Errorf("tree %s: %w", strings.TrimSuffix(prefix, "/"), err)
		}
		if !ok {
			return nil
		}
		name := prefix + string(it.name)
		if it.isTree {
			if err := g.walkFiles(ctx, name+"/", it.hash, out); err != nil {
				return err
			}
			continue
		}
		*out = append(*out, File{Path: name, Hash: it.hash.String(), Mode: fmt.Sprintf("%06o", it.mode)})
	}
}
