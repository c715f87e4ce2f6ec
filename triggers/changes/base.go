package changes

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// This file decides the diff base of an event: which two commits a push or a pull request is
// diffed between, what is fetched when a shallow checkout lacks them, and when no base can be
// found at all. It is the only place that decides it.

// Request describes the git side of a CI event.
type Request struct {
	// PullRequest selects the three-dot diff of a pull request; otherwise the event is a push.
	PullRequest bool
	// Before is the commit a pushed branch pointed at before the push: all zeros (or "" with
	// NoBefore unset) for a new branch. After is the pushed commit, or the head of the pull
	// request.
	Before, After string
	// NoBefore says the CI system does not tell which commit a push replaced (every Azure
	// Pipelines push; GitHub's workflow_dispatch, schedule and repository_dispatch). Previous
	// is asked instead.
	NoBefore bool
	// Previous finds, in order, the last commit Ferry ran for the branch (the run store, the CI
	// system's last successful build), for a NoBefore push.
	Previous []Previous
	// Base is a pull request's target: a branch name or a refs/heads/ ref, looked up as
	// refs/remotes/origin/<name> (fresher in a CI clone) before refs/heads/<name>. BaseSHA is
	// the target's commit when the CI system tells it.
	Base, BaseSHA string
	// Trunk is the trunk branch name, looked up like Base. New branches are diffed against
	// their merge base with it.
	Trunk string
	// Fetch lets Changed fetch missing commits and history from the checkout's remote.
	Fetch bool
}

// Previous is one way to find the commit a push without a before commit starts from.
type Previous struct {
	// Name says where the commit comes from, for the reason: "the run store".
	Name string
	// Find returns the commit ("" when there is none) and what it is ("run 20260102-…").
	Find func(ctx context.Context) (sha, what string, err error)
}

// Result says which paths an event changed and how that was decided.
type Result struct {
	// Paths are the changed files, sorted; empty when All is set.
	Paths []string `json:"paths"`
	// From and To are the commits actually diffed; From is "" when All is set.
	From string `json:"from,omitempty"`
	To   string `json:"to"`
	// All is set when no diff base could be found: every service counts as affected.
	All bool `json:"all,omitempty"`
	// Reason says in one line how From was chosen, or why there is none.
	Reason string `json:"reason"`
	// Fetches are the git fetches this decision needed, in order.
	Fetches []Fetch `json:"fetches,omitempty"`
}

// Changed applies the event policy and computes the changed paths:
//
//   - push: before..after (two dots: the difference between the two trees, even when before is
//     not an ancestor of after, as after a force push);
//   - pull request: merge-base(base, head)..head (three dots: the changes of the branch only);
//   - new branch: merge-base(after, trunk)..after;
//   - push without a before commit: from the last commit Ferry ran for the branch, else, off
//     the trunk, like a new branch, else, for a merge commit, from its first parent;
//   - nothing of that to be found: All, with the reason.
//
// Commits a shallow checkout lacks are fetched (req.Fetch): one commit with --depth=1 for a
// two-tree diff, history deepened step by step for a merge base.
//
// Errors are reserved for a missing or invalid After and for failures to read the repository.
func Changed(ctx context.Context, r *Repo, req Request) (Result, error) {
	b := &baseFinder{repo: r, req: req, fetch: &fetcher{repo: r, enabled: req.Fetch}}
	var res Result
	var err error
	switch {
	case req.PullRequest:
		res, err = b.pullRequest(ctx)
	case req.NoBefore:
		res, err = b.pushWithoutBefore(ctx)
	default:
		res, err = b.push(ctx)
	}
	if err != nil {
		return Result{}, err
	}
	res.Fetches = b.fetch.log
	if s := summarizeFetches(b.fetch.log); s != "" {
		res.Reason += " (" + s + ")"
	}
	return res, nil
}

// baseFinder carries one event's decision and the fetches it made.
type baseFinder struct {
	repo  *Repo
	req   Request
	fetch *fetcher
}

// isZero reports whether a before commit means "the branch did not exist".
func isZero(sha string) bool { return strings.Trim(sha, "0") == "" }

// commit resolves a commit, fetching it when it is a full SHA the clone lacks. The error says
// why it could not be had: not found, or the fetch's failure.
func (b *baseFinder) commit(ctx context.Context, rev string) (string, error) {
	sha, err := b.repo.Resolve(ctx, rev)
	if err == nil || !errors.Is(err, ErrNotFound) || len(rev) != 40 || !isHex(rev) {
		return sha, err
	}
	if ferr := b.fetch.fetchCommit(ctx, rev); ferr != nil {
		return "", fmt.Errorf("%w in the clone; fetching it: %w", ErrNotFound, ferr)
	}
	return b.repo.Resolve(ctx, rev)
}

// branch resolves a branch (remote-tracking first), fetching its tip when the clone lacks it.
func (b *baseFinder) branch(ctx context.Context, name string) (string, error) {
	res, err := b.repo.impl.resolve(ctx, []query{branchQuery(name)})
	if err != nil {
		return "", err
	}
	if res[0].sha != "" {
		return res[0].sha, nil
	}
	short := strings.TrimPrefix(name, "refs/heads/")
	if ferr := b.fetch.fetchBranch(ctx, short); ferr != nil {
		return "", fmt.Errorf("branch %s %w in the clone; fetching it: %w", short, ErrNotFound, ferr)
	}
	if res, err = b.repo.impl.resolve(ctx, []query{branchQuery(name)}); err != nil {
		return "", err
	}
	if res[0].sha == "" {
		return "", fmt.Errorf("branch %s: %w", short, ErrNotFound)
	}
	return res[0].sha, nil
}

// after resolves the pushed commit or the pull request's head, which must exist.
func (b *baseFinder) after(ctx context.Context, what string) (string, error) {
	if b.req.After == "" {
		return "", fmt.Errorf("%s commit is required", what)
	}
	sha, err := b.commit(ctx, b.req.After)
	if err != nil {
		return "", fmt.Errorf("%s commit %s: %w", what, b.req.After, err)
	}
	return sha, nil
}

func (b *baseFinder) push(ctx context.Context) (Result, error) {
	after, err := b.after(ctx, "push: the after")
	if err != nil {
		return Result{}, err
	}
	if isZero(b.req.Before) {
		return b.againstTrunk(ctx, after, "new branch")
	}
	before, err := b.commit(ctx, b.req.Before)
	if err != nil {
		return all(after, fmt.Sprintf("before commit %s: %v: every service is affected", short(b.req.Before), err)), nil
	}
	return b.diff(ctx, before, after, fmt.Sprintf("diff %s..%s (push)", short(before), short(after)))
}

// pushWithoutBefore finds where a push without a before commit starts: the last commit Ferry
// ran for the branch; else, off the trunk, the merge base with it; else, for a merge commit
// (a completed pull request), its first parent. Anything less could skip commits of the push.
func (b *baseFinder) pushWithoutBefore(ctx context.Context) (Result, error) {
	after, err := b.after(ctx, "push: the after")
	if err != nil {
		return Result{}, err
	}
	var tried []string
	for _, p := range b.req.Previous {
		sha, what, err := p.Find(ctx)
		switch {
		case err != nil:
			tried = append(tried, fmt.Sprintf("%s: %v", p.Name, err))
			continue
		case sha == "":
			tried = append(tried, p.Name+": no earlier run of this branch")
			continue
		case sha == after:
			tried = append(tried, fmt.Sprintf("%s: %s was of this very commit", p.Name, what))
			continue
		}
		before, err := b.commit(ctx, sha)
		if err != nil {
			tried = append(tried, fmt.Sprintf("%s: %s: %v", p.Name, what, err))
			continue
		}
		return b.diff(ctx, before, after, fmt.Sprintf("no before commit given: diff %s..%s from %s (%s)", short(before), short(after), what, p.Name))
	}
	why := "no before commit given"
	if len(tried) > 0 {
		why += " (" + strings.Join(tried, "; ") + ")"
	}
	if b.req.Trunk != "" {
		if res, ok, err := b.offTrunk(ctx, after, why); ok || err != nil {
			return res, err
		}
	}
	return b.firstParentOfMerge(ctx, after, why)
}

// offTrunk diffs a commit that is not on the trunk against its merge base with the trunk; ok
// is false for a commit on the trunk, or when the merge base cannot be had.
func (b *baseFinder) offTrunk(ctx context.Context, after, why string) (Result, bool, error) {
	res, err := b.againstTrunk(ctx, after, why)
	if err != nil || res.All || res.From == after {
		return Result{}, false, err
	}
	return res, true, nil
}

// firstParentOfMerge diffs a merge commit with its first parent: the branch it was merged into.
// Any other commit affects every service: the push may have carried several commits.
func (b *baseFinder) firstParentOfMerge(ctx context.Context, after, why string) (Result, error) {
	parents, err := b.repo.impl.commitParents(ctx, after)
	if err != nil {
		return Result{}, fmt.Errorf("parents of %s: %w", short(after), err)
	}
	if len(parents) < 2 {
		return all(after, fmt.Sprintf("%s and %s is not a merge commit, so the push may hold more commits than it: every service is affected", why, short(after))), nil
	}
	first, err := b.commit(ctx, parents[0])
	if err != nil {
		return all(after, fmt.Sprintf("%s; first parent %s: %v: every service is affected", why, short(parents[0]), err)), nil
	}
	return b.diff(ctx, first, after, fmt.Sprintf("%s: %s is a merge commit, diff with its first parent %s", why, short(after), short(first)))
}

// againstTrunk diffs after against its merge base with the trunk.
func (b *baseFinder) againstTrunk(ctx context.Context, after, why string) (Result, error) {
	trunk := strings.TrimPrefix(b.req.Trunk, "refs/heads/")
	if trunk == "" {
		return all(after, why+" and no trunk branch configured: every service is affected"), nil
	}
	trunkSHA, err := b.branch(ctx, trunk)
	if err != nil {
		return all(after, fmt.Sprintf("%s and trunk %s: %v: every service is affected", why, trunk, err)), nil
	}
	base, err := b.mergeBase(ctx, after, trunkSHA, "+refs/heads/"+trunk+":refs/remotes/origin/"+trunk)
	if err != nil {
		return all(after, fmt.Sprintf("%s and no merge-base with %s%s: every service is affected", why, trunk, unlessPlain(err))), nil
	}
	return b.diff(ctx, base, after, fmt.Sprintf("%s: diff against merge-base %s with %s", why, short(base), trunk))
}

func (b *baseFinder) pullRequest(ctx context.Context) (Result, error) {
	head, err := b.after(ctx, "pull request: the head")
	if err != nil {
		return Result{}, err
	}
	if b.req.Base == "" && b.req.BaseSHA == "" {
		return Result{}, errors.New("pull request: the base branch is required")
	}
	name := strings.TrimPrefix(b.req.Base, "refs/heads/")
	base, refspec, err := b.prBase(ctx)
	if err != nil {
		return all(head, fmt.Sprintf("pull request base %s: %v: every service is affected", name, err)), nil
	}
	mb, err := b.mergeBase(ctx, base, head, refspec)
	if err != nil {
		return all(head, fmt.Sprintf("no merge-base between %s and the pull request%s: every service is affected", name, unlessPlain(err))), nil
	}
	return b.diff(ctx, mb, head, fmt.Sprintf("diff %s..%s (pull request into %s: from the merge-base)", short(mb), short(head), name))
}

// prBase is the target's commit as the CI system gave it, else the target branch's tip, and
// what to name in a deepening fetch.
func (b *baseFinder) prBase(ctx context.Context) (sha, refspec string, err error) {
	if b.req.BaseSHA != "" {
		if sha, err = b.commit(ctx, b.req.BaseSHA); err == nil {
			return sha, sha, nil
		}
		if b.req.Base == "" {
			return "", "", err
		}
	}
	base := b.req.Base
	if isHex(base) && len(base) == 40 {
		sha, err = b.commit(ctx, base)
		return sha, sha, err
	}
	if sha, err = b.branch(ctx, base); err != nil {
		// A base given as a short SHA or another revision.
		if s, rerr := b.repo.Resolve(ctx, base); rerr == nil {
			return s, s, nil
		}
		return "", "", err
	}
	name := strings.TrimPrefix(base, "refs/heads/")
	return sha, "+refs/heads/" + name + ":refs/remotes/origin/" + name, nil
}

// mergeBase finds the merge base of a and b, deepening a shallow clone step by step until it
// has it. other names b for the fetch (a branch refspec or a commit).
func (b *baseFinder) mergeBase(ctx context.Context, a, bSHA, other string) (string, error) {
	mb, err := b.repo.mergeBase(ctx, a, bSHA)
	if !errors.Is(err, ErrNoMergeBase) {
		return mb, err
	}
	shallow, serr := b.repo.isShallow()
	if serr != nil || !shallow {
		return "", err
	}
	found := func() (bool, error) {
		mb, err = b.repo.mergeBase(ctx, a, bSHA)
		if errors.Is(err, ErrNoMergeBase) {
			return false, nil
		}
		return err == nil, err
	}
	ok, ferr := b.fetch.deepen(ctx, []string{a, other}, found)
	switch {
	case ferr != nil && !ok:
		return "", fmt.Errorf("the clone is shallow and deepening it failed: %w", ferr)
	case !ok:
		return "", ErrNoMergeBase
	}
	return mb, err
}

func (b *baseFinder) diff(ctx context.Context, from, to, reason string) (Result, error) {
	paths, err := b.repo.diff(ctx, from, to)
	if err != nil {
		return Result{}, fmt.Errorf("diff %s..%s: %w", short(from), short(to), err)
	}
	return Result{Paths: paths, From: from, To: to, Reason: reason}, nil
}

// unlessPlain explains a merge-base failure other than unrelated histories.
func unlessPlain(err error) string {
	if errors.Is(err, ErrNoMergeBase) {
		return ""
	}
	return ": " + err.Error()
}

func all(to, reason string) Result {
	return Result{Paths: []string{}, To: to, All: true, Reason: reason}
}
