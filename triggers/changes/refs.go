package changes

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
)

// Ref is a branch, remote-tracking branch or tag and the commit it names (a tag peeled).
type Ref struct {
	// Name is the full ref name: refs/heads/main, refs/remotes/origin/main, refs/tags/v1.
	Name   string `json:"name"`
	Commit string `json:"commit"`
}

// Refs returns the repository's branches, remote-tracking branches and tags that name
// commits, sorted by name. Symbolic refs (refs/remotes/origin/HEAD) are left out.
func (r *Repo) Refs(ctx context.Context) ([]Ref, error) {
	refs, err := r.impl.refs(ctx)
	if err != nil {
		return nil, fmt.Errorf("list refs: %w", err)
	}
	slices.SortFunc(refs, func(a, b Ref) int { return strings.Compare(a.Name, b.Name) })
	return refs, nil
}

// refPrefixes are the namespaces Refs lists.
var refPrefixes = []string{"refs/heads/", "refs/remotes/", "refs/tags/"}

func (g *gitCLI) refs(ctx context.Context) ([]Ref, error) {
	out, err := g.run(ctx, "", "for-each-ref", "--format=%(refname)%00%(objecttype)%00%(objectname)%00%(*objecttype)%00%(*objectname)",
		"refs/heads", "refs/remotes", "refs/tags")
	if err != nil {
		return nil, err
	}
	var refs []Ref
	for line := range strings.SplitSeq(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "\x00")
		if len(f) != 5 {
			continue
		}
		switch {
		case f[1] == "commit":
			refs = append(refs, Ref{Name: f[0], Commit: f[2]})
		case f[3] == "commit": // an annotated tag of a commit
			refs = append(refs, Ref{Name: f[0], Commit: f[4]})
		}
	}
	return refs, nil
}

func (g *goGit) refs(ctx context.Context) ([]Ref, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	iter, err := g.storage.IterReferences()
	if err != nil {
		return nil, err
	}
	defer iter.Close()
	var refs []Ref
	err = iter.ForEach(func(ref *plumbing.Reference) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		name := ref.Name().String()
		if ref.Type() != plumbing.HashReference || !slices.ContainsFunc(refPrefixes, func(p string) bool { return strings.HasPrefix(name, p) }) {
			return nil
		}
		commit, ok, err := g.peel(ref.Hash())
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if ok {
			refs = append(refs, Ref{Name: name, Commit: commit.String()})
		}
		return nil
	})
	return refs, err
}

// ErrRefExists is returned by CreateBranch for a branch that is already there.
var ErrRefExists = errors.New("already exists")

// CreateBranch creates refs/heads/<name> at commit; it never moves an existing branch.
func (r *Repo) CreateBranch(ctx context.Context, name, commit string) error {
	ref := "refs/heads/" + name
	if !validRefName(ref) || name == "" {
		return fmt.Errorf("create branch %q: not a valid branch name", name)
	}
	if !isHex(commit) || len(commit) != 40 {
		return fmt.Errorf("create branch %s: %q is not a full commit id", name, commit)
	}
	var err error
	switch impl := r.impl.(type) {
	case *gitCLI:
		// An empty old value makes update-ref refuse a ref that exists, atomically.
		if _, err = impl.run(ctx, "", "update-ref", "-m", "ferry release cut", ref, commit, ""); err != nil && strings.Contains(err.Error(), "already exists") {
			err = ErrRefExists
		}
	case *goGit:
		err = impl.createRef(plumbing.ReferenceName(ref), plumbing.NewHash(commit))
	default:
		err = fmt.Errorf("backend %T cannot create branches", r.impl)
	}
	if err != nil {
		return fmt.Errorf("create branch %s: %w", name, err)
	}
	return nil
}

func (g *goGit) createRef(name plumbing.ReferenceName, commit plumbing.Hash) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, err := g.readTyped(commit, objCommit); err != nil {
		return err
	}
	if _, err := g.storage.Reference(name); err == nil {
		return ErrRefExists
	} else if !errors.Is(err, plumbing.ErrReferenceNotFound) {
		return err
	}
	return g.storage.SetReference(plumbing.NewHashReference(name, commit))
}

// DeleteBranch deletes refs/heads/<name> if it still names commit: the undo of CreateBranch
// when what followed it (a push) failed.
func (r *Repo) DeleteBranch(ctx context.Context, name, commit string) error {
	ref := "refs/heads/" + name
	if !validRefName(ref) || name == "" {
		return fmt.Errorf("delete branch %q: not a valid branch name", name)
	}
	var err error
	switch impl := r.impl.(type) {
	case *gitCLI:
		_, err = impl.run(ctx, "", "update-ref", "-d", ref, commit)
	case *goGit:
		err = impl.deleteRef(plumbing.ReferenceName(ref), plumbing.NewHash(commit))
	default:
		err = fmt.Errorf("backend %T cannot delete branches", r.impl)
	}
	if err != nil {
		return fmt.Errorf("delete branch %s: %w", name, err)
	}
	return nil
}

func (g *goGit) deleteRef(name plumbing.ReferenceName, commit plumbing.Hash) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	ref, err := g.storage.Reference(name)
	if err != nil {
		return err
	}
	if ref.Hash() != commit {
		return fmt.Errorf("it moved to %s", short(ref.Hash().String()))
	}
	return g.storage.RemoveReference(name)
}
