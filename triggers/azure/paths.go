package azure

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// PathPattern is one path filter entry with folder semantics: it covers a file when it
// glob-matches the file's path or the path of one of its parent folders, always at '/'
// boundaries ("docs" covers docs/a/b.md but not docs2/x or docs.md).
type PathPattern struct {
	raw    string // as written, for messages
	norm   string // without leading and trailing '/'; "" is the repository root
	litDir string
	lit    bool   // no wildcard: covering is a prefix test
	must   string // literal text every covered path contains: a cheap rejection
	re     *regexp.Regexp
}

// CompilePathPattern compiles a path filter entry. Leading and trailing '/' are removed, so
// "/docs/", "docs/" and "docs" are the same entry, and "/" alone is the repository root.
// Within the entry '*' matches any part of one folder or file name, '?' one character other
// than '/', and '**' any run of characters including '/' ("a/**/b" also matches a/b).
func CompilePathPattern(entry string) (*PathPattern, error) {
	p, err := compilePath(entry)
	if err != nil {
		return nil, fmt.Errorf("path %q: %w", entry, err)
	}
	return p, nil
}

func compilePath(entry string) (*PathPattern, error) {
	if strings.TrimSpace(entry) == "" {
		return nil, errors.New("empty path")
	}
	if !utf8.ValidString(entry) {
		return nil, errors.New("not valid UTF-8")
	}
	for _, r := range entry {
		if unicode.IsControl(r) {
			return nil, fmt.Errorf("contains the control character %q", r)
		}
	}
	if strings.Contains(entry, `\`) {
		return nil, errors.New(`use '/' to separate folders, not '\'`)
	}
	if strings.HasPrefix(entry, "!") {
		return nil, errors.New("'!' negation is not supported in Azure path filters; list the path under exclude")
	}
	norm := strings.Trim(entry, "/")
	p := &PathPattern{raw: entry, norm: norm}
	if norm == "" {
		p.lit = true
		return p, nil
	}
	var dir []string
	wild := false
	for seg := range strings.SplitSeq(norm, "/") {
		switch seg {
		case "":
			return nil, errors.New("empty folder name (\"//\")")
		case ".", "..":
			return nil, fmt.Errorf("%q is not allowed: paths are relative to the repository root", seg)
		}
		if strings.ContainsAny(seg, "*?") {
			wild = true
		}
		if !wild {
			dir = append(dir, seg)
		}
	}
	p.litDir = strings.Join(dir, "/")
	if !wild {
		p.lit = true
		return p, nil
	}
	re, err := regexp.Compile(pathRegexp(norm))
	if err != nil {
		return nil, fmt.Errorf("internal error: translated to invalid regexp: %w", err)
	}
	p.re = re
	p.must = longestLiteral(norm)
	return p, nil
}

// longestLiteral returns the longest run of norm without wildcards, less a leading '/' (the
// '/' after a "**" folder may stand for nothing, as in "**/x" matching "x").
func longestLiteral(norm string) string {
	best := ""
	for run := range strings.FieldsFuncSeq(norm, func(r rune) bool { return r == '*' || r == '?' }) {
		if run = strings.TrimLeft(run, "/"); len(run) > len(best) {
			best = run
		}
	}
	return best
}

// pathRegexp translates a normalised entry. The trailing "(?:/.*)?" applies folder semantics:
// the glob must match the whole path or a prefix of it that ends just before a '/'.
func pathRegexp(norm string) string {
	var b strings.Builder
	b.WriteString(`(?s)^`)
	rs := []rune(norm)
	for i := 0; i < len(rs); {
		switch {
		case rs[i] == '*' && i+1 < len(rs) && rs[i+1] == '*':
			// A "**" segment followed by more segments may stand for no folder at all.
			if (i == 0 || rs[i-1] == '/') && i+2 < len(rs) && rs[i+2] == '/' {
				b.WriteString(`(?:.*/)?`)
				i += 3
				continue
			}
			b.WriteString(`.*`)
			i += 2
		case rs[i] == '*':
			b.WriteString(`[^/]*`)
			i++
		case rs[i] == '?':
			b.WriteString(`[^/]`)
			i++
		default:
			b.WriteString(regexp.QuoteMeta(string(rs[i])))
			i++
		}
	}
	b.WriteString(`(?:/.*)?$`)
	return b.String()
}

// Covers reports whether the entry glob-matches path or one of its parent folders.
func (p *PathPattern) Covers(path string) bool {
	if p.norm == "" {
		return true
	}
	if p.lit {
		return path == p.norm || (strings.HasPrefix(path, p.norm) && path[len(p.norm)] == '/')
	}
	if p.litDir != "" && !(strings.HasPrefix(path, p.litDir) && len(path) > len(p.litDir) && path[len(p.litDir)] == '/') {
		return false
	}
	if !strings.Contains(path, p.must) {
		return false
	}
	return p.re.MatchString(path)
}

// Specificity orders entries for "most specific wins": the length in bytes of the entry
// without leading and trailing '/', wildcards counted as written. The root ("/") is 0.
func (p *PathPattern) Specificity() int { return len(p.norm) }

// LiteralDir returns the leading folder names that contain no wildcard: "src/a" for
// "src/a/*.go", "" for "**/x", and the whole entry when it has no wildcard. Covers(path)
// implies path == LiteralDir, or path starts with LiteralDir + "/", or LiteralDir == "".
func (p *PathPattern) LiteralDir() string { return p.litDir }

// String returns the entry as written.
func (p *PathPattern) String() string { return p.raw }

// PathFilter is the paths: section of a trigger.
type PathFilter struct {
	include  []*PathPattern
	exclude  []*PathPattern
	implicit bool // no include entries: the whole repository is included
}

// NewPathFilter compiles include and exclude entries. Without include entries the whole
// repository is included, so exclude entries alone carve folders out of it.
func NewPathFilter(include, exclude []string) (*PathFilter, error) {
	inc, exc, err := compileLists(include, exclude, CompilePathPattern)
	if err != nil {
		return nil, err
	}
	return &PathFilter{include: inc, exclude: exc, implicit: len(include) == 0}, nil
}

// compileLists compiles every include and exclude entry, collecting each failure as
// "include[2]: ..." rather than stopping at the first; err joins them.
func compileLists[P any](include, exclude []string, compile func(entry string) (P, error)) (inc, exc []P, err error) {
	var errs []error
	compileList := func(list string, entries []string) []P {
		ps := make([]P, 0, len(entries))
		for i, e := range entries {
			p, err := compile(e)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s[%d]: %w", list, i, err))
				continue
			}
			ps = append(ps, p)
		}
		return ps
	}
	inc = compileList("include", include)
	exc = compileList("exclude", exclude)
	return inc, exc, errors.Join(errs...)
}

// Included decides one changed file: the most specific covering entry wins and an exclude
// wins a tie. decidedBy says why, e.g. `included by "src"` or `excluded by "docs/README.md"`.
func (f *PathFilter) Included(path string) (ok bool, decidedBy string) {
	ok, by, excluded := f.decide(path)
	return ok, describe(by, excluded, f.implicit)
}

// decide is Included without building the message, which matters when most of a large
// change set is not included.
func (f *PathFilter) decide(path string) (ok bool, by *PathPattern, excluded bool) {
	bestSpec := -1
	for _, p := range f.include {
		if s := p.Specificity(); s > bestSpec && p.Covers(path) {
			by, bestSpec = p, s
		}
	}
	for _, p := range f.exclude {
		if s := p.Specificity(); s >= bestSpec && p.Covers(path) {
			by, bestSpec, excluded = p, s, true
		}
	}
	if by == nil {
		return f.implicit, nil, false
	}
	return !excluded, by, excluded
}

func describe(by *PathPattern, excluded, implicit bool) string {
	switch {
	case by != nil && excluded:
		return fmt.Sprintf("excluded by %q", by.raw)
	case by != nil:
		return fmt.Sprintf("included by %q", by.raw)
	case implicit:
		return "included (no include paths, so the whole repository is included)"
	}
	return "not covered by any include path"
}

// AnyIncluded reports the first path that is included, and why.
func (f *PathFilter) AnyIncluded(paths []string) (ok bool, path string, decidedBy string) {
	for _, p := range paths {
		if ok, by, excluded := f.decide(p); ok {
			return true, p, describe(by, excluded, f.implicit)
		}
	}
	return false, "", ""
}

// Includes returns the include entries.
func (f *PathFilter) Includes() []*PathPattern { return f.include }

// Excludes returns the exclude entries.
func (f *PathFilter) Excludes() []*PathPattern { return f.exclude }
