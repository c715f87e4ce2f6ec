package changes

import (
	"context"
	"fmt"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
)

// Authors returns the author e-mail of every commit reachable from to and not from from (git
// rev-list to ^from; from "" means all of to's history), each with one of their commits. The
// addresses are lower-cased. A shallow clone is refused: commits past its boundary would be
// missing from the answer without a word, and whoever asks for the authors of a release
// (to keep them from approving it) must not get a partial list.
func (r *Repo) Authors(ctx context.Context, from, to string) (map[string]string, error) {
	shallow, err := r.isShallow()
	if err != nil {
		return nil, err
	}
	if shallow {
		return nil, fmt.Errorf("authors of %s..%s: the clone is shallow (fetch its whole history, e.g. fetch-depth: 0)", short(from), short(to))
	}
	out, err := r.impl.authors(ctx, from, to)
	if err != nil {
		return nil, fmt.Errorf("authors of %s..%s: %w", short(from), short(to), err)
	}
	return out, nil
}

// Author returns the author e-mail of one commit, lower-cased.
func (r *Repo) Author(ctx context.Context, commit string) (string, error) {
	data, err := r.impl.commitObject(ctx, commit)
	if err != nil {
		return "", fmt.Errorf("author of %s: %w", short(commit), err)
	}
	return strings.ToLower(authorEmail(data)), nil
}

func (g *gitCLI) authors(ctx context.Context, from, to string) (map[string]string, error) {
	args := []string{"rev-list", "--format=%H %ae", to}
	if from != "" {
		args = append(args, "^"+from)
	}
	data, err := g.run(ctx, "", append(args, "--")...)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		sha, email, ok := strings.Cut(line, " ")
		if !ok || sha == "commit" {
			continue // rev-list's "commit <sha>" header before each formatted line
		}
		addAuthor(out, email, sha)
	}
	return out, nil
}

func (g *gitCLI) commitObject(ctx context.Context, commit string) ([]byte, error) {
	return g.run(ctx, "", "cat-file", "commit", commit)
}

func (g *goGit) commitObject(_ context.Context, commit string) ([]byte, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.readTyped(plumbing.NewHash(commit), objCommit)
}

func (g *goGit) authors(ctx context.Context, from, to string) (map[string]string, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	seen := map[plumbing.Hash]bool{}
	if from != "" {
		if err := g.walk(ctx, []string{from}, seen, nil); err != nil {
			return nil, err
		}
	}
	out := map[string]string{}
	err := g.walk(ctx, []string{to}, seen, func(h plumbing.Hash, _ commitInfo, data []byte) error {
		addAuthor(out, authorEmail(data), h.String())
		return nil
	})
	return out, err
}

// authorEmail reads the e-mail of a commit object's author ("Name <email> ...").
func authorEmail(data []byte) string {
	author, _ := commitAuthorMessage(data)
	if i, j := strings.IndexByte(author, '<'), strings.LastIndexByte(author, '>'); i >= 0 && j > i {
		return author[i+1 : j]
	}
	return ""
}

func addAuthor(out map[string]string, email, sha string) {
	email = strings.ToLower(strings.TrimSpace(email))
	if email == "" {
		return
	}
	if _, ok := out[email]; !ok {
		out[email] = sha
	}
}
