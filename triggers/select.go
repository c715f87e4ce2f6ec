package triggers

import (
	"fmt"
	"strings"
	"time"

	"github.com/ferry-ci/ferry/triggers/azure"
)

// Changes are the paths an event changed, as far as they could be found.
type Changes struct {
	Paths []string `json:"paths"`
	// All is set when no diff base exists: every service is affected.
	All bool `json:"all,omitempty"`
	// From and To are the commits diffed, when a diff was made.
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`
	// Reason says how the paths were found (or given).
	Reason string `json:"reason"`
	// Fetches are the git fetches that finding them took, for a shallow checkout.
	Fetches []Fetch `json:"fetches,omitempty"`
}

// Fetch is one git fetch made to find the changed paths.
type Fetch struct {
	Command string        `json:"command"`
	Took    time.Duration `json:"took"`
	Error   string        `json:"error,omitempty"`
}

// Rule is one trigger as far as deciding whether it matches goes: which event, which
// branches or tags, which changed paths.
type Rule struct {
	Name  string
	Event EventKind
	// Release makes the rule select the one service named by a release branch or tag (of the
	// shapes in ReleaseRefs: release/<service>/<semver> by default), whatever changed.
	Release     bool
	ReleaseRefs ReleaseRefs
	Branches    Filter
	Tags        Filter
	Paths       Filter
}

// Selection is what an event triggers: the matching trigger and the services it runs for.
type Selection struct {
	// Trigger is nil when no trigger matches the event.
	Trigger *Rule
	// Reason says why the trigger matched, or why none did.
	Reason   string
	Release  *Release
	Services []Affected
	// Unaffected are the other services, in config order, with the rule that left each out.
	Unaffected []Unaffected
}

// Select finds the first rule (in the order given, the file's) that matches the event and the
// services it runs for. Release rules select the service named by the release branch whatever
// changed; the others select the services of the index that the changes affect.
func Select(rules []Rule, ix *Index, ev Event, ch Changes) (Selection, error) {
	var misses []string
	for i := range rules {
		t := &rules[i]
		ok, why, err := triggerMatches(t, ev, ch)
		if err != nil {
			return Selection{}, fmt.Errorf("trigger %s: %w", t.Name, err)
		}
		if !ok {
			misses = append(misses, fmt.Sprintf("%s: %s", t.Name, why))
			continue
		}
		sel := Selection{Trigger: t, Reason: why}
		if t.Release {
			rel, err := t.ReleaseRefs.Parse(ev.Ref)
			if err != nil {
				return Selection{}, err
			}
			what, name := "release branch", rel.Branch
			if rel.Tag != "" {
				what, name = "release tag", rel.Tag
			}
			if !ix.has(rel.Service) {
				return Selection{}, fmt.Errorf("%s %q: unknown service %q (services: %v)", what, name, rel.Service, ix.names())
			}
			sel.Release = &rel
			sel.Services = []Affected{{Name: rel.Service, Reasons: []string{
				fmt.Sprintf("%s %s: version %s", what, name, rel.Version)}}}
			sel.Unaffected = ix.except(rel.Service, fmt.Sprintf("%s %s releases %s only", what, name, rel.Service))
			return sel, nil
		}
		if ch.All {
			sel.Services = ix.all(ch.Reason)
		} else {
			sel.Services, sel.Unaffected = ix.Decide(ch.Paths)
		}
		return sel, nil
	}
	noMatch := fmt.Sprintf("no trigger matches %s %s", ev.Kind, ev.FilterRef())
	sel := Selection{Reason: noMatch, Unaffected: ix.except("", noMatch)}
	if len(misses) > 0 {
		sel.Reason += " (" + strings.Join(misses, "; ") + ")"
	}
	return sel, nil
}

// triggerMatches evaluates one trigger with Azure Pipelines semantics: the event kind, then the
// branch filter (tag pushes: the tag filter, or branch entries written as refs/tags/...), then
// the trigger's path filter on the changed paths.
func triggerMatches(t *Rule, ev Event, ch Changes) (bool, string, error) {
	if ev.Kind != t.Event {
		return false, fmt.Sprintf("runs on %s events", t.Event), nil
	}
	ref := ev.FilterRef()
	if ref == "" {
		return false, "the event has no ref", nil
	}
	refOK := false
	why := ""
	if len(t.Branches.Include) > 0 || len(t.Branches.Exclude) > 0 {
		bf, err := azure.NewBranchFilter(t.Branches.Include, t.Branches.Exclude)
		if err != nil {
			return false, "", err
		}
		if bf.Match(ref) {
			refOK, why = true, fmt.Sprintf("%s matches branches", ref)
		} else {
			why = fmt.Sprintf("%s not in branches", ref)
		}
	}
	if !refOK && ev.IsTag() && (len(t.Tags.Include) > 0 || len(t.Tags.Exclude) > 0) {
		tf, err := azure.NewTagFilter(t.Tags.Include, t.Tags.Exclude)
		if err != nil {
			return false, "", err
		}
		if tf.Match(ShortRef(ev.Ref)) {
			refOK, why = true, fmt.Sprintf("tag %s matches tags", ShortRef(ev.Ref))
		} else {
			why = fmt.Sprintf("tag %s not in tags", ShortRef(ev.Ref))
		}
	}
	if !refOK {
		if why == "" {
			why = fmt.Sprintf("%s not in branches", ref)
		}
		return false, why, nil
	}
	if t.Release || t.Paths.Empty() || ev.IsTag() || ch.All {
		return true, why, nil
	}
	pf, err := azure.NewPathFilter(t.Paths.Include, t.Paths.Exclude)
	if err != nil {
		return false, "", err
	}
	if ok, p, by := pf.AnyIncluded(ch.Paths); ok {
		return true, fmt.Sprintf("%s, %s %s", why, p, by), nil
	}
	return false, fmt.Sprintf("%s, but no changed path matches its paths", why), nil
}
