package changes

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Request describes the git side of a CI event.
type Request struct {
	// PullRequest selects the three-dot diff of a pull request; otherwise the event is a push.
	PullRequest bool
	// Before is the commit a pushed branch pointed at before the push: "" or all zeros for a
	// new branch. After is the pushed commit, or the head of the pull request.
	Before, After string
	// Base is a pull request's target: a SHA, a branch name or a refs/heads/ ref. A branch is
	// looked up as refs/remotes/origin/<name> (fresher in a CI clone) before refs/heads/<name>.
	Base string
	// Trunk is the trunk branch name, looked up like Base. New branches, and pushes whose
	// before commit is gone, are diffed against their merge base with it.
	Trunk string
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
}

// Changed applies the event policy and computes the changed paths:
//
//   - push: before..after (two dots: the difference between the two trees, even when before is
//     not an ancestor of after, as after a force push that kept the old commit around);
//   - pull request: merge-base(base, head)..head (three dots: the changes of the branch only);
//   - new branch, or a before commit the repository lacks (force push, shallow clone):
//     merge-base(after, trunk)..after;
//   - no trunk or base to be found, or no merge base: All, with the reason.
//
// Errors are reserved for a missing or invalid After and for failures to read the repository.
func Changed(ctx context.Context, r *Repo, req Request) (Result, error) {
	if req.PullRequest {
		return changedPR(ctx, r, req)
	}
	return changedPush(ctx, r, req)
}

// isZero reports whether a before commit means "the branch did not exist".
func isZero(sha string) bool { return strings.Trim(sha, "0") == "" }

func changedPush(ctx context.Context, r *Repo, req Request) (Result, error) {
	if req.After == "" {
		return Result{}, errors.New("push: the after commit is required")
	}
	newBranch := isZero(req.Before)
	// One round trip resolves everything this event may need, the trunk included, so that
	// the fallback costs no extra git process.
	queries := []query{revQuery(req.After), {}, {}}
	if !newBranch {
		queries[1] = revQuery(req.Before)
	}
	if req.Trunk != "" {
		queries[2] = branchQuery(req.Trunk)
	}
	res, err := r.impl.resolve(ctx, queries)
	if err != nil {
		return Result{}, fmt.Errorf("push %s..%s: %w", req.Before, req.After, err)
	}
	after := res[0].sha
	if after == "" {
		return Result{}, fmt.Errorf("push: after commit %s: %w", req.After, ErrNotFound)
	}
	if before := res[1].sha; before != "" {
		return diffResult(ctx, r, before, after, fmt.Sprintf("diff %s..%s (push)", short(before), short(after)))
	}
	why := "new branch"
	if !newBranch {
		why = fmt.Sprintf("before commit %s missing (force push or shallow clone)", short(req.Before))
	}
	return againstTrunk(ctx, r, req.Trunk, res[2].sha, after, why)
}

// againstTrunk diffs after against its merge base with the trunk.
func againstTrunk(ctx context.Context, r *Repo, trunk, trunkSHA, after, why string) (Result, error) {
	switch {
	case trunk == "":
		return all(after, why+" and no trunk branch configured: every service is affected"), nil
	case trunkSHA == "":
		return all(after, fmt.Sprintf("%s and trunk %s not found (fetch it): every service is affected", why, trunk)), nil
	}
	base, err := r.mergeBase(ctx, after, trunkSHA)
	if errors.Is(err, ErrNoMergeBase) {
		return all(after, fmt.Sprintf("%s and no merge-base with %s: every service is affected", why, trunk)), nil
	}
	if err != nil {
		return Result{}, fmt.Errorf("merge-base %s %s: %w", short(after), trunk, err)
	}
	return diffResult(ctx, r, base, after, fmt.Sprintf("%s: diff against merge-base %s with %s", why, short(base), trunk))
}

func changedPR(ctx context.Context, r *Repo, req Request) (Result, error) {
	if req.After == "" {
		return Result{}, errors.New("pull request: the head commit is required")
	}
	if req.Base == "" {
		return Result{}, errors.New("pull request: the base branch is required")
	}
	res, err := r.impl.resolve(ctx, []query{revQuery(req.After), branchQuery(req.Base)})
	if err != nil {
		return Result{}, fmt.Errorf("pull request %s into %s: %w", req.After, req.Base, err)
	}
	head, base := res[0].sha, res[1].sha
	if head == "" {
		return Result{}, fmt.Errorf("pull request: head commit %s: %w", req.After, ErrNotFound)
	}
	name := strings.TrimPrefix(req.Base, "refs/heads/")
	if base == "" {
		return all(head, fmt.Sprintf("pull request base %s not found (fetch it): every service is affected", name)), nil
	}
	mb, err := r.mergeBase(ctx, base, head)
	if errors.Is(err, ErrNoMergeBase) {
		return all(head, fmt.Sprintf("no merge-base between %s and the pull request: every service is affected", name)), nil
	}
	if err != nil {
		return Result{}, fmt.Errorf("merge-base %s %s: %w", name, short(head), err)
	}
	return diffResult(ctx, r, mb, head, fmt.Sprintf("diff %s..%s (pull request into %s: from the merge-base)", short(mb), short(head), name))
}

func diffResult(ctx context.Context, r *Repo, from, to, reason string) (Result, error) {
	paths, err := r.diff(ctx, from, to)
	if err != nil {
		return Result{}, fmt.Errorf("diff %s..%s: %w", short(from), short(to), err)
	}
	return Result{Paths: paths, From: from, To: to, Reason: reason}, nil
}

func all(to, reason string) Result {
	return Result{Paths: []string{}, To: to, All: true, Reason: reason}
}
