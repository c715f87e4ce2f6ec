// Package triggers turns a git event into the set of affected services: it reads the event
// (from flags or the CI environment), finds the changed paths, evaluates branch and path
// filters and maps changed paths to services. Everything here except the edges that read git
// and the environment is a pure function of its inputs.
package triggers

import (
	"fmt"
	"strings"
	"time"
)

// EventKind says what happened in the repository.
type EventKind string

const (
	// Push is a push of commits to a branch or of a tag.
	Push EventKind = "push"
	// PullRequest is a pull request opened or updated against a target branch.
	PullRequest EventKind = "pr"
)

// ParseEventKind accepts the names users and CI systems give the two event kinds.
func ParseEventKind(s string) (EventKind, error) {
	switch strings.ToLower(s) {
	case "push":
		return Push, nil
	case "pr", "pull_request", "pull-request", "pullrequest":
		return PullRequest, nil
	}
	return "", fmt.Errorf("unknown event %q (want push or pr)", s)
}

// ZeroSHA is what git and both CI systems send as the "before" of a newly created branch.
const ZeroSHA = "0000000000000000000000000000000000000000"

// Event is one git event that may trigger pipelines.
type Event struct {
	Kind EventKind `json:"kind"`
	// Ref is the full pushed ref (refs/heads/x, refs/tags/x) for a push, and the full ref of
	// the source branch for a pull request.
	Ref string `json:"ref"`
	// Before is the commit the branch pointed at before a push; ZeroSHA or empty for a new branch.
	Before string `json:"before,omitempty"`
	// NoBefore says the CI system does not tell which commit a push replaced: every Azure
	// Pipelines push, and GitHub's workflow_dispatch, schedule and repository_dispatch. The diff
	// base is then looked up (the last run of the branch) rather than guessed.
	NoBefore bool `json:"noBefore,omitempty"`
	// After is the commit that was pushed, or the head of the pull request.
	After string `json:"after,omitempty"`
	// Base is the full ref of a pull request's target branch (refs/heads/main).
	Base string `json:"base,omitempty"`
	// BaseSHA is the target branch's commit when the CI system tells it (GitHub does).
	BaseSHA string `json:"baseSha,omitempty"`
	// Source says where the event came from: flags, github or azure.
	Source string `json:"source"`
	// Committed is the committer time of After, when the repository has it. Images are
	// stamped with it so that one commit always gives the same image.
	Committed time.Time `json:"committed,omitzero"`
}

// FilterRef is the ref that branch filters are evaluated against: the pushed ref for a push,
// the target branch for a pull request, as both Azure Pipelines and GitHub Actions do.
func (e Event) FilterRef() string {
	if e.Kind == PullRequest {
		return e.Base
	}
	return e.Ref
}

// IsTag reports whether the event pushes a tag.
func (e Event) IsTag() bool { return strings.HasPrefix(e.Ref, "refs/tags/") }

// NewBranch reports whether a push created its branch (there is no previous commit).
func (e Event) NewBranch() bool {
	return e.Kind == Push && !e.NoBefore && strings.Trim(e.Before, "0") == ""
}

// NormalizeBranchRef turns a branch name into a full ref; full refs are returned unchanged.
func NormalizeBranchRef(s string) string {
	if s == "" || strings.HasPrefix(s, "refs/") {
		return s
	}
	return "refs/heads/" + s
}

// ShortRef strips refs/heads/ or refs/tags/ from a ref.
func ShortRef(ref string) string {
	for _, p := range []string{"refs/heads/", "refs/tags/"} {
		if strings.HasPrefix(ref, p) {
			return ref[len(p):]
		}
	}
	return ref
}
