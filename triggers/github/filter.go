package github

import (
	"errors"
	"fmt"
)

// Filter is a positive list (branches, tags, paths): patterns are tried in order and the last
// one that matches decides, so a '!' entry removes what earlier entries added and a later
// positive entry adds it back.
type Filter struct {
	patterns []*Pattern
}

// NewFilter compiles an ordered list. A list of only '!' patterns is an error.
func NewFilter(patterns []string, kind Kind) (*Filter, error) {
	ps, err := compileAll(patterns, kind)
	if err != nil {
		return nil, err
	}
	return newFilter(ps)
}

func newFilter(ps []*Pattern) (*Filter, error) {
	positive := false
	for _, p := range ps {
		if !p.negated {
			positive = true
		}
	}
	// Nothing could ever be included, which the docs forbid.
	if len(ps) > 0 && !positive {
		return nil, errors.New("every pattern starts with '!', so nothing can be included; add a positive pattern or use the -ignore form")
	}
	return &Filter{patterns: ps}, nil
}

// Included reports whether s is in the list.
func (f *Filter) Included(s string) bool {
	ok, _ := f.Decide(s)
	return ok
}

// Decide reports whether s is in the list and the pattern that decided it (nil when no
// pattern matched, which means not included).
func (f *Filter) Decide(s string) (bool, *Pattern) {
	// The last match decides, so scanning from the end can stop at the first match.
	for i := len(f.patterns) - 1; i >= 0; i-- {
		if p := f.patterns[i]; p.Match(s) {
			return !p.negated, p
		}
	}
	return false, nil
}

// Patterns returns the compiled list in order.
func (f *Filter) Patterns() []*Pattern { return f.patterns }

// Ignore is an ignore list (branches-ignore, tags-ignore, paths-ignore): a name is ignored
// when any pattern matches it.
type Ignore struct {
	patterns []*Pattern
}

// NewIgnore compiles an ignore list. '!' entries are rejected: the docs give them no meaning
// in an ignore list, and the readings real tools chose disagree.
func NewIgnore(patterns []string, kind Kind) (*Ignore, error) {
	ps, err := compileAll(patterns, kind)
	if err != nil {
		return nil, err
	}
	return newIgnore(ps)
}

func newIgnore(ps []*Pattern) (*Ignore, error) {
	for _, p := range ps {
		if p.negated {
			return nil, negatedInIgnoreError(p.raw)
		}
	}
	return &Ignore{patterns: ps}, nil
}

func negatedInIgnoreError(raw string) error {
	return fmt.Errorf("pattern %q: '!' is not allowed in an ignore list; use the positive list with '!' entries instead, or escape it as \\! for a literal '!'", raw)
}

// Ignored reports whether any pattern matches s.
func (f *Ignore) Ignored(s string) bool {
	_, ok := f.IgnoredBy(s)
	return ok
}

// IgnoredBy returns the first pattern that matches s.
func (f *Ignore) IgnoredBy(s string) (*Pattern, bool) {
	for _, p := range f.patterns {
		if p.Match(s) {
			return p, true
		}
	}
	return nil, false
}

// Patterns returns the compiled list in order.
func (f *Ignore) Patterns() []*Pattern { return f.patterns }

func compileAll(patterns []string, kind Kind) ([]*Pattern, error) {
	ps := make([]*Pattern, 0, len(patterns))
	var errs []error
	for _, s := range patterns {
		p, err := Compile(s, kind)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		ps = append(ps, p)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return ps, nil
}
