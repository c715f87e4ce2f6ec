package github

import (
	"fmt"
	"slices"
	"strings"
)

// Event is what happened, reduced to what the filters look at.
type Event struct {
	// Name is push, pull_request or pull_request_target.
	Name string
	// Ref is the pushed ref for a push and the base branch for a pull request. A bare name
	// is read as a branch (refs/heads/<name>).
	Ref string
	// Paths are the changed files, repository-relative with '/' separators. Every file counts:
	// the platform's 300-file and 1,000-commit limits are not emulated.
	Paths []string
	// Action is the pull request activity (opened, synchronize, ...). Empty skips the
	// activity type check.
	Action string
}

// Result is the decision and a sentence saying why.
type Result struct {
	Triggered bool   `json:"triggered"`
	Reason    string `json:"reason"`
}

// defaultTypes are the pull request activities a workflow runs for when it lists no types.
func defaultTypes() []string { return []string{"opened", "synchronize", "reopened"} }

// Evaluate decides whether the workflow runs for ev, following GitHub's rules: a push of a
// tag is checked against tag filters only and never against paths; a workflow that filters
// only one kind of ref never runs for the other kind; ref and path filters must both pass;
// with a path filter and no changed files it does not run.
func (w *Workflow) Evaluate(ev Event) Result {
	switch ev.Name {
	case "push", "pull_request", "pull_request_target":
	default:
		return Result{Reason: fmt.Sprintf("unsupported event %q; want push, pull_request or pull_request_target", ev.Name)}
	}
	f, ok := w.filters[ev.Name]
	if !ok {
		return Result{Reason: fmt.Sprintf("the workflow is not triggered by %s", ev.Name)}
	}
	if ev.Name != "push" && ev.Action != "" {
		types := f.Types
		if len(types) == 0 {
			types = defaultTypes()
		}
		if !slices.Contains(types, ev.Action) {
			return Result{Reason: fmt.Sprintf("activity type %q is not one of types [%s]", ev.Action, strings.Join(types, ", "))}
		}
	}

	ref := ev.Ref
	if !strings.HasPrefix(ref, "refs/") {
		ref = "refs/heads/" + ref
	}
	name, isTag := strings.CutPrefix(ref, "refs/tags/")
	if !isTag {
		name = strings.TrimPrefix(ref, "refs/heads/")
	}
	hasB := f.Branches != nil || f.BranchesIgnore != nil
	hasT := f.Tags != nil || f.TagsIgnore != nil
	var why []string

	if ev.Name == "push" && isTag {
		if hasB && !hasT {
			return Result{Reason: fmt.Sprintf("tag push (%s) and the workflow filters only branches", name)}
		}
		if ok, r := checkRef("tag", name, f.Tags, f.TagsIgnore); !ok {
			return Result{Reason: r}
		} else if r != "" {
			why = append(why, r)
		}
		if !hasT {
			why = append(why, fmt.Sprintf("tag push (%s) and no branch or tag filters", name))
		}
		if f.Paths != nil || f.PathsIgnore != nil {
			why = append(why, "path filters are not evaluated for tag pushes")
		}
		return Result{Triggered: true, Reason: strings.Join(why, "; ")}
	}
	if ev.Name == "push" && hasT && !hasB {
		return Result{Reason: fmt.Sprintf("branch push (%s) and the workflow filters only tags", name)}
	}
	if ok, r := checkRef("branch", name, f.Branches, f.BranchesIgnore); !ok {
		return Result{Reason: r}
	} else if r != "" {
		why = append(why, r)
	}

	if f.Paths != nil || f.PathsIgnore != nil {
		ok, r := checkPaths(ev.Paths, f.Paths, f.PathsIgnore)
		if !ok {
			return Result{Reason: r}
		}
		why = append(why, r)
	}
	if len(why) == 0 {
		why = append(why, fmt.Sprintf("%s has no filters", ev.Name))
	}
	return Result{Triggered: true, Reason: strings.Join(why, "; ")}
}

// checkRef applies a positive list or an ignore list (at most one is set) to a branch or tag
// name. The reason is empty when neither is set.
func checkRef(what, name string, inc *Filter, ign *Ignore) (bool, string) {
	if inc != nil {
		ok, by := inc.Decide(name)
		switch {
		case ok:
			return true, fmt.Sprintf("%s %s matches %q", what, name, by.raw)
		case by != nil:
			return false, fmt.Sprintf("%s %s excluded by %q", what, name, by.raw)
		default:
			return false, fmt.Sprintf("%s %s matches no pattern in %s", what, name, listKey(what))
		}
	}
	if ign != nil {
		if by, ok := ign.IgnoredBy(name); ok {
			return false, fmt.Sprintf("%s %s ignored by %q", what, name, by.raw)
		}
		return true, fmt.Sprintf("%s %s matches no pattern in %s-ignore", what, name, listKey(what))
	}
	return true, ""
}

// checkPaths applies the any-file rules: with paths, one included file is enough; with
// paths-ignore, one file that is not ignored is enough; no changed files never triggers.
func checkPaths(paths []string, inc *Filter, ign *Ignore) (bool, string) {
	if len(paths) == 0 {
		return false, "no changed files and the workflow has a path filter"
	}
	if inc != nil {
		for _, p := range paths {
			if ok, by := inc.Decide(p); ok {
				return true, fmt.Sprintf("%s matches %q", p, by.raw)
			}
		}
		return false, "no changed path matches the paths filter"
	}
	for _, p := range paths {
		if !ign.Ignored(p) {
			return true, fmt.Sprintf("%s is not ignored by paths-ignore", p)
		}
	}
	return false, "every changed path matches paths-ignore"
}

// listKey names the workflow key that filters what ("branch" or "tag").
func listKey(what string) string {
	if what == "branch" {
		return "branches"
	}
	return what + "s"
}
