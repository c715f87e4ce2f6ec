package cigen

import (
	"strings"

	"github.com/ferry-ci/ferry/pipeline/config"
)

// The CI files' trigger sections only mirror ferry.yaml's branch and tag filters, so that the
// CI system does not start for an event that would plan nothing; Ferry decides what runs.
// A mirror may start more often than ferry.yaml would, never less: where a vendor cannot say
// exactly what Ferry means, the wider filter wins. Path filters are not mirrored: a CI
// system's single path filter cannot hold each trigger's own, and Ferry's plan filters paths
// anyway.

// events are the config's branch and tag filters per event kind, in file order.
type events struct {
	push, pr []*config.Trigger
}

func triggerEvents(cfg *config.Config) events {
	var e events
	for _, t := range cfg.Triggers {
		if t.Event == "pr" {
			e.pr = append(e.pr, t)
		} else {
			e.push = append(e.push, t)
		}
	}
	return e
}

// refEntry is one branch or tag pattern of a trigger, split by what it matches: branch
// entries written as refs/tags/... match tags, as in Azure Pipelines.
type refEntry struct {
	pattern string
	tag     bool
}

// refEntries sorts a trigger's filter entries into branch and tag patterns, without their
// refs/heads/ or refs/tags/ prefix. Other refs/ entries (refs/pull/...) are never pushed
// branches or tags and are left out.
func refEntries(f config.RefFilter, tags bool) (include, exclude []refEntry) {
	conv := func(list []string) []refEntry {
		var out []refEntry
		for _, p := range list {
			switch {
			case tags:
				out = append(out, refEntry{strings.TrimPrefix(p, "refs/tags/"), true})
			case strings.HasPrefix(p, "refs/heads/"):
				out = append(out, refEntry{strings.TrimPrefix(p, "refs/heads/"), false})
			case strings.HasPrefix(p, "refs/tags/"):
				out = append(out, refEntry{strings.TrimPrefix(p, "refs/tags/"), true})
			case strings.HasPrefix(p, "refs/"):
			default:
				out = append(out, refEntry{p, false})
			}
		}
		return out
	}
	include, exclude = conv(f.Include), conv(f.Exclude)
	if len(include) == 0 && len(exclude) > 0 {
		// Azure: an exclude-only filter includes everything.
		include = []refEntry{{"*", tags}}
	}
	return include, exclude
}

// githubPattern translates an Azure branch or tag pattern to GitHub's filter syntax: Azure's
// '*' matches across '/', GitHub's '**' does; Azure's '?' is one character of any kind, which
// GitHub cannot say, so it becomes '**' (wider); GitHub's other special characters are
// literals in Azure and are escaped. exact reports whether the translation matches exactly
// what the Azure pattern does.
func githubPattern(p string) (pattern string, exact bool) {
	var b strings.Builder
	exact = true
	for i, r := range p {
		switch r {
		case '*':
			if i > 0 && p[i-1] == '*' {
				continue // ** in Azure is * twice
			}
			b.WriteString("**")
		case '?':
			b.WriteString("**")
			exact = false
		case '+', '[', ']', '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case '!':
			if i == 0 {
				b.WriteByte('\\')
			}
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String(), exact
}

// literalPrefix is a pattern's part before its first wildcard.
func literalPrefix(p string) string {
	if i := strings.IndexAny(p, "*?"); i >= 0 {
		return p[:i]
	}
	return p
}

// mayOverlap is a cheap, conservative test of whether two patterns can match the same name:
// unless one literal prefix extends the other, they cannot.
func mayOverlap(a, b string) bool {
	pa, pb := literalPrefix(a), literalPrefix(b)
	return strings.HasPrefix(pa, pb) || strings.HasPrefix(pb, pa)
}

// githubRefs is the union of the triggers' filters for one kind (branches or tags) as one
// ordered GitHub list. Each trigger's includes come with its excludes after them; an exclude
// that may overlap another trigger's include is dropped, because in GitHub's ordered list it
// would take away refs that trigger wants (a wider filter is fine, a narrower one is not),
// and so is one that could not be translated exactly.
func githubRefs(triggers []*config.Trigger, tag bool) []string {
	type part struct{ include, exclude []refEntry }
	parts := make([]part, len(triggers))
	for i, t := range triggers {
		bi, be := refEntries(t.Branches, false)
		ti, te := refEntries(t.Tags, true)
		for _, e := range append(bi, ti...) {
			if e.tag == tag {
				parts[i].include = append(parts[i].include, e)
			}
		}
		for _, e := range append(be, te...) {
			if e.tag == tag {
				parts[i].exclude = append(parts[i].exclude, e)
			}
		}
	}
	includePatterns := func(j int) []string {
		var out []string
		for _, e := range parts[j].include {
			out = append(out, e.pattern)
		}
		return out
	}
	var out []string
	seen := map[string]bool{}
	emit := func(p string) {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	for i, p := range parts {
		for _, e := range p.include {
			gp, _ := githubPattern(e.pattern)
			emit(gp)
		}
		if len(p.include) == 0 {
			continue
		}
		for _, e := range p.exclude {
			gp, exact := githubPattern(e.pattern)
			if !exact || overlapsOthers(e.pattern, i, includePatterns, len(parts)) {
				continue
			}
			emit("!" + gp)
		}
	}
	return out
}

// azureRefs is the union of the triggers' filters for one kind as an Azure include/exclude
// pair. Azure's filter is one include and one exclude list, an exclude winning over every
// include, so an exclude is kept only when no other trigger's include may overlap it.
func azureRefs(triggers []*config.Trigger, tag bool) (include, exclude []string) {
	seenInc, seenExc := map[string]bool{}, map[string]bool{}
	type part struct{ include, exclude []string }
	parts := make([]part, len(triggers))
	for i, t := range triggers {
		f := t.Branches
		if tag {
			f = t.Tags
		}
		parts[i] = part{f.Include, f.Exclude}
		if len(f.Include) == 0 && len(f.Exclude) > 0 {
			parts[i].include = []string{"*"}
		}
	}
	for _, p := range parts {
		for _, inc := range p.include {
			if !seenInc[inc] {
				seenInc[inc] = true
				include = append(include, inc)
			}
		}
	}
	for i, p := range parts {
		for _, exc := range p.exclude {
			if overlapsOthers(branchName(exc), i, func(j int) []string { return mapStrings(parts[j].include, branchName) }, len(parts)) || seenExc[exc] {
				continue
			}
			seenExc[exc] = true
			exclude = append(exclude, exc)
		}
	}
	return include, exclude
}

// overlapsOthers reports whether a pattern of part i may overlap an include of another part.
func overlapsOthers(pattern string, i int, includes func(j int) []string, n int) bool {
	for j := range n {
		if j == i {
			continue
		}
		for _, inc := range includes(j) {
			if mayOverlap(pattern, inc) {
				return true
			}
		}
	}
	return false
}

// branchName drops refs/heads/, so that main and refs/heads/main compare as one branch.
func branchName(p string) string { return strings.TrimPrefix(p, "refs/heads/") }

func mapStrings(in []string, f func(string) string) []string {
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = f(s)
	}
	return out
}
