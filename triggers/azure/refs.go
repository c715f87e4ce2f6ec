// Package azure implements Azure Pipelines trigger semantics: the branch and tag filters of
// trigger: and pr:, the folder-style path filters, and the parsing of those two sections of an
// azure-pipelines.yml.
//
// Branch and tag filters: an include list and an exclude list; a ref triggers when an include
// matches and no exclude does (exclude always wins). '*' matches any run of characters,
// including '/', and '?' exactly one character; everything else is literal, matching is
// anchored and case-sensitive.
//
// Path filters: an entry covers a file when it glob-matches the file or one of its parent
// folders; the most specific (longest) covering entry decides, an exclude winning a tie. Order
// does not matter. Within a path entry '*' and '?' stay inside one folder name and '**'
// crosses folders.
//
// Patterns compile to Go regular expressions (RE2), so matching is linear in the input.
package azure

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// RefFilter is an include/exclude pair for branches or tags.
type RefFilter struct {
	what     string // "branch" or "tag", for reasons
	include  []*refPattern
	exclude  []*refPattern
	implicit bool // include was empty and reads as '*'
}

type refPattern struct {
	raw  string // as written, for messages
	full string // what is matched: refs/heads/ prepended to bare branch entries
	lit  bool
	re   *regexp.Regexp
}

// NewBranchFilter builds a branch filter. Entries that do not start with refs/ are read as
// refs/heads/<entry>, and Match takes a full ref, so refs/tags/... entries match tag pushes.
// An exclude-only filter includes every branch ('*').
func NewBranchFilter(include, exclude []string) (*RefFilter, error) {
	return newRefFilter("branch", include, exclude, func(s string) string {
		if strings.HasPrefix(s, "refs/") {
			return s
		}
		return "refs/heads/" + s
	})
}

// NewTagFilter builds a tag filter, matched against the tag name without refs/tags/.
// An exclude-only filter includes every tag ('*').
func NewTagFilter(include, exclude []string) (*RefFilter, error) {
	return newRefFilter("tag", include, exclude, func(s string) string { return s })
}

func newRefFilter(what string, include, exclude []string, norm func(string) string) (*RefFilter, error) {
	inc, exc, err := compileLists(include, exclude, func(e string) (*refPattern, error) {
		p, err := compileRef(e, norm(e))
		if err != nil {
			return nil, fmt.Errorf("%s pattern %q: %w", what, e, err)
		}
		return p, nil
	})
	if err != nil {
		return nil, err
	}
	f := &RefFilter{what: what, include: inc, exclude: exc}
	if len(include) == 0 {
		f.implicit = true
		star, _ := compileRef("*", norm("*"))
		f.include = []*refPattern{star}
	}
	return f, nil
}

func compileRef(raw, full string) (*refPattern, error) {
	if strings.TrimSpace(raw) == "" {
		return nil, errors.New("empty pattern")
	}
	if !utf8.ValidString(raw) {
		return nil, errors.New("not valid UTF-8")
	}
	p := &refPattern{raw: raw, full: full}
	if !strings.ContainsAny(full, "*?") {
		p.lit = true
		return p, nil
	}
	var b strings.Builder
	b.WriteString(`(?s)^`)
	for _, r := range full {
		switch r {
		case '*':
			b.WriteString(`.*`)
		case '?':
			b.WriteString(`.`)
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString(`$`)
	re, err := regexp.Compile(b.String())
	if err != nil {
		return nil, fmt.Errorf("internal error: translated to invalid regexp: %w", err)
	}
	p.re = re
	return p, nil
}

func (p *refPattern) match(s string) bool {
	if p.lit {
		return s == p.full
	}
	return p.re.MatchString(s)
}

// Match reports whether s (a full ref for branch filters, a tag name for tag filters) is
// included and not excluded.
func (f *RefFilter) Match(s string) bool {
	ok, _ := f.Decide(s)
	return ok
}

// Decide is Match with the reason, e.g. `branch refs/heads/feature/x matches include
// "feature/*"`.
func (f *RefFilter) Decide(s string) (bool, string) {
	d := f.decide(s)
	return d.ok, d.reason
}

type refDecision struct {
	ok       bool
	excluded bool // an include matched and an exclude removed it
	reason   string
}

func (f *RefFilter) decide(s string) refDecision {
	what := f.what
	if what == "branch" && !strings.HasPrefix(s, "refs/heads/") {
		what = "ref"
	}
	var inc *refPattern
	for _, p := range f.include {
		if p.match(s) {
			inc = p
			break
		}
	}
	if inc == nil {
		return refDecision{reason: fmt.Sprintf("%s %s matches no include", what, s)}
	}
	for _, p := range f.exclude {
		if p.match(s) {
			return refDecision{excluded: true, reason: fmt.Sprintf("%s %s excluded by %q", what, s, p.raw)}
		}
	}
	if f.implicit {
		return refDecision{ok: true, reason: fmt.Sprintf("%s %s is not excluded (no include list, so every %s is included)", what, s, f.what)}
	}
	return refDecision{ok: true, reason: fmt.Sprintf("%s %s matches include %q", what, s, inc.raw)}
}

// includesTags reports whether an include entry names tags (refs/tags/...).
func (f *RefFilter) includesTags() bool {
	for _, p := range f.include {
		if strings.HasPrefix(p.full, "refs/tags/") {
			return true
		}
	}
	return false
}

// Includes lists the include entries as written (empty when the filter is exclude-only).
func (f *RefFilter) Includes() []string {
	if f.implicit {
		return nil
	}
	return raws(f.include)
}

// Excludes lists the exclude entries as written.
func (f *RefFilter) Excludes() []string { return raws(f.exclude) }

func raws(ps []*refPattern) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.raw
	}
	return out
}
