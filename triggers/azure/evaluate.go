package azure

import (
	"strings"
)

// EvalOptions are the project settings that change how triggers are read.
type EvalOptions struct {
	// DisableImpliedCITrigger is the "Disable implied YAML CI trigger" setting: a pipeline
	// without a trigger section then has no CI trigger instead of one on every branch.
	DisableImpliedCITrigger bool
}

// Event is what happened, reduced to what the triggers look at.
type Event struct {
	PullRequest bool
	// Ref is the full pushed ref for a push and the target branch for a pull request. A bare
	// name is read as a branch (refs/heads/<name>).
	Ref string
	// Paths are the changed files, repository-relative with '/' separators.
	Paths []string
	// PathsKnown says Paths is the complete change set; an empty set then means no file
	// changed (a new branch without commits of its own). When false, path filters are not
	// evaluated and do not block the run.
	PathsKnown bool
	// Draft is a draft pull request.
	Draft bool
}

// Result is the decision and a sentence saying why.
type Result struct {
	Triggered bool   `json:"triggered"`
	Reason    string `json:"reason"`
}

// Evaluate decides whether the pipeline runs for ev. Pushes are checked against trigger:,
// pull requests against pr: (target branch). A tag push runs when the branch filter (through
// refs/tags/ entries) or the tag filter includes it, and path filters are not evaluated for
// it. With a path filter, a push or pull request runs only when a changed file is included.
func (p *Pipeline) Evaluate(ev Event, opt EvalOptions) Result {
	ref := ev.Ref
	if !strings.HasPrefix(ref, "refs/") {
		ref = "refs/heads/" + ref
	}
	if ev.PullRequest {
		return p.evalPR(ref, ev)
	}
	return p.evalPush(ref, ev, opt)
}

func (p *Pipeline) evalPush(ref string, ev Event, opt EvalOptions) Result {
	t := p.Trigger
	implied := ""
	if t == nil {
		if opt.DisableImpliedCITrigger {
			return Result{Reason: "no trigger section and the implied CI trigger is disabled"}
		}
		t = &Trigger{BranchesImplied: true}
		t.Branches, _ = NewBranchFilter([]string{"*"}, nil)
		implied = " (no trigger section: implied CI trigger)"
	} else if t.BranchesImplied {
		implied = " (trigger lists no branches)"
	}
	if t.None {
		return Result{Reason: "trigger: none"}
	}
	tag, isTag := strings.CutPrefix(ref, "refs/tags/")

	var b refDecision
	if t.Branches != nil {
		b = t.Branches.decide(ref)
	}
	var why []string
	switch {
	case b.ok:
		why = append(why, b.reason+implied)
	case isTag && t.Tags != nil:
		td := t.Tags.decide(tag)
		if !td.ok {
			if b.excluded {
				return Result{Reason: b.reason + "; " + td.reason}
			}
			return Result{Reason: td.reason}
		}
		why = append(why, td.reason)
	case isTag:
		if b.excluded || (t.Branches != nil && t.Branches.includesTags()) {
			return Result{Reason: b.reason}
		}
		return Result{Reason: "tag push and no tag filter"}
	case t.Branches == nil:
		return Result{Reason: "branch push and the trigger lists only tags"}
	default:
		return Result{Reason: b.reason + implied}
	}

	if t.Paths != nil {
		if isTag {
			why = append(why, "path filter not evaluated for tag pushes")
		} else {
			ok, r := checkPaths(t.Paths, ev)
			if !ok {
				return Result{Reason: r}
			}
			why = append(why, r)
		}
	}
	return Result{Triggered: true, Reason: strings.Join(why, "; ")}
}

func (p *Pipeline) evalPR(ref string, ev Event) Result {
	t := p.PR
	implied := ""
	if t == nil {
		t = &PRTrigger{AutoCancel: true, Drafts: true, BranchesImplied: true}
		t.Branches, _ = NewBranchFilter([]string{"*"}, nil)
		implied = " (no pr section: pull requests to any branch trigger)"
	} else if t.BranchesImplied {
		implied = " (pr lists no branches)"
	}
	if t.None {
		return Result{Reason: "pr: none"}
	}
	if ev.Draft && !t.Drafts {
		return Result{Reason: "draft pull request and drafts: false"}
	}
	d := t.Branches.decide(ref)
	if !d.ok {
		return Result{Reason: "target " + d.reason}
	}
	why := []string{"target " + d.reason + implied}
	if t.Paths != nil {
		ok, r := checkPaths(t.Paths, ev)
		if !ok {
			return Result{Reason: r}
		}
		why = append(why, r)
	}
	return Result{Triggered: true, Reason: strings.Join(why, "; ")}
}

func checkPaths(f *PathFilter, ev Event) (bool, string) {
	if !ev.PathsKnown {
		return true, "changed paths unknown, so the path filter was not evaluated"
	}
	if len(ev.Paths) == 0 {
		return false, "no changed files and the trigger has a path filter"
	}
	ok, path, by := f.AnyIncluded(ev.Paths)
	if !ok {
		return false, "no changed path matches the path filter"
	}
	return true, path + " " + by
}
