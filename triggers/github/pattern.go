// Package github implements GitHub Actions trigger filters: the glob language of
// on.<event>.branches/tags/paths (and their -ignore forms), the ordered '!' lists, the
// combination rules between ref and path filters, and the parsing of a workflow's on: section.
//
// Patterns are compiled to Go regular expressions (RE2), so matching is linear in the input
// and safe on untrusted patterns. Configuration mistakes that real tools reject are errors at
// compile time; mistakes that only make a pattern useless are warnings.
package github

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Kind says what a pattern is matched against; the two kinds validate differently.
type Kind int

const (
	// RefPattern is a branch or tag pattern, matched against the name without refs/heads/ or
	// refs/tags/.
	RefPattern Kind = iota + 1
	// PathPattern is a file path pattern, matched against a repository-relative path.
	PathPattern
)

func (k Kind) String() string {
	switch k {
	case RefPattern:
		return "ref"
	case PathPattern:
		return "path"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// escapable are the characters that may follow '\'. Escaping anything else is rejected,
// because the docs only define escapes for the special characters.
const escapable = `[?*+\!`

// Pattern is one compiled glob. A leading '!' is recorded as Negated and is not part of what
// Match tests; lists give it meaning.
type Pattern struct {
	raw      string
	kind     Kind
	negated  bool
	literal  string // set when the glob has no special characters: Match is string equality
	isLit    bool
	prefix   string // every match starts with prefix and ends with suffix: cheap rejections
	suffix   string
	re       *regexp.Regexp
	warnings []string
}

// Compile translates one pattern into an anchored regular expression: '*' matches within one
// path segment, '**' across segments ("**/" also matches no directory), '?' and '+' repeat the
// preceding character or [...] set zero-or-one and one-or-more times, '\' escapes one of
// [ ? * + \ !, and everything else, '.' included, is literal. Matching is case-sensitive.
// Errors name the pattern and the reason.
func Compile(pattern string, kind Kind) (*Pattern, error) {
	p, err := compile(pattern, kind, true)
	if err != nil {
		return nil, fmt.Errorf("%s pattern %q: %w", kind, pattern, err)
	}
	return p, nil
}

// compile does the work of Compile; validate=false skips the checks that reject patterns
// which are well-formed but can never match (so tests can show that they never match).
func compile(pattern string, kind Kind, validate bool) (*Pattern, error) {
	if kind != RefPattern && kind != PathPattern {
		return nil, fmt.Errorf("unknown pattern kind %d", int(kind))
	}
	if pattern == "" {
		return nil, errors.New("empty pattern")
	}
	if !utf8.ValidString(pattern) {
		return nil, errors.New("not valid UTF-8")
	}
	p := &Pattern{raw: pattern, kind: kind}
	body := pattern
	if body[0] == '!' {
		p.negated = true
		body = body[1:]
		if body == "" {
			return nil, errors.New("'!' must be followed by a pattern")
		}
	}
	if strings.ContainsAny(body, "\r\n") {
		return nil, errors.New("contains a line break")
	}
	if validate {
		w, err := checkShape(body, kind)
		if err != nil {
			return nil, err
		}
		p.warnings = w
	}
	t, err := translate(body, kind)
	if err != nil {
		return nil, err
	}
	if t.isLit {
		p.literal, p.isLit = t.lit, true
		return p, nil
	}
	p.prefix, p.suffix = t.prefix, t.suffix
	re, err := regexp.Compile(t.expr)
	if err != nil {
		// translate only emits valid syntax; reaching this is a bug, not a user error.
		return nil, fmt.Errorf("internal error: translated to invalid regexp %q: %w", t.expr, err)
	}
	p.re = re
	return p, nil
}

// checkShape applies the whole-pattern rules: where a pattern may start and end. GitHub
// accepts such patterns and they simply never match, so they are warnings, not errors: the
// evaluator must answer what GitHub would.
func checkShape(body string, kind Kind) (warnings []string, err error) {
	switch kind {
	case RefPattern:
		if strings.HasPrefix(body, "/") {
			warnings = append(warnings, "ref names cannot start with '/', so this pattern never matches")
		}
		if strings.HasSuffix(body, "/") || strings.HasSuffix(body, ".") {
			warnings = append(warnings, fmt.Sprintf("ref names cannot end with %q, so this pattern never matches", body[len(body)-1:]))
		}
		if strings.HasPrefix(body, "refs/") {
			warnings = append(warnings, "patterns are matched against the branch or tag name without refs/heads/ or refs/tags/, so this pattern only matches a name that itself starts with refs/")
		}
	case PathPattern:
		first, _ := utf8.DecodeRuneInString(body)
		last, _ := utf8.DecodeLastRuneInString(body)
		if unicode.IsSpace(first) || unicode.IsSpace(last) {
			warnings = append(warnings, "changed paths never start or end with white space here, so this pattern likely never matches")
		}
		if body == "." || body == ".." || strings.HasPrefix(body, "./") || strings.HasPrefix(body, "../") {
			warnings = append(warnings, "paths are matched from the repository root and never start with '.' or '..' segments, so this pattern never matches; remove the leading \"./\"")
		}
		if strings.HasPrefix(body, "/") {
			warnings = append(warnings, "changed paths never start with '/', so this pattern never matches; remove the leading '/'")
		}
	}
	return warnings, nil
}

type translation struct {
	expr           string
	lit            string // the unescaped text when the glob has no special character
	isLit          bool
	prefix, suffix string // literal text every match must start and end with
}

// translate turns the glob body into an anchored regexp. Tokens are read left to right:
// "**/" (zero or more directories), "**" (anything), "*" (anything but '/'), "?"/"+" (quantify
// the preceding character or set), "[...]", "\c" and literal characters.
func translate(body string, kind Kind) (translation, error) {
	var b, prefix, suffix strings.Builder
	b.WriteString(`(?s)^`)
	special := false
	// canRepeat is true right after a single character or a set, the only things '?' and '+'
	// may quantify; after a wildcard or another quantifier they would be ambiguous.
	canRepeat := false
	lastLit := 0 // byte length of the last literal character, removed from prefix if quantified
	literal := func(c rune) {
		canRepeat = true
		b.WriteString(regexp.QuoteMeta(string(c)))
		if !special {
			prefix.WriteRune(c)
		}
		suffix.WriteRune(c)
		lastLit = utf8.RuneLen(c)
	}
	wildcard := func(expr string) {
		if !special {
			special = true
		}
		suffix.Reset()
		b.WriteString(expr)
	}
	fail := func(format string, args ...any) (translation, error) {
		return translation{}, fmt.Errorf(format, args...)
	}
	rs := []rune(body)
	for i := 0; i < len(rs); {
		c := rs[i]
		switch c {
		case '*':
			canRepeat = false
			if i+1 < len(rs) && rs[i+1] == '*' {
				// "**/" means "zero or more directories" unless the '/' is itself quantified,
				// in which case the '/' is an ordinary character after "**".
				if i+2 < len(rs) && rs[i+2] == '/' && (i+3 >= len(rs) || (rs[i+3] != '?' && rs[i+3] != '+')) {
					wildcard(`(?:.+/)?`)
					i += 3
					continue
				}
				wildcard(`.*`)
				i += 2
				continue
			}
			wildcard(`[^/]*`)
			i++
		case '?', '+':
			if !canRepeat {
				if i == 0 {
					return fail("%q at the start has nothing to repeat", c)
				}
				return fail("%q at offset %d follows a special character; it can only repeat a plain character or a [...] set", c, i)
			}
			if !special {
				// The quantified character is optional or repeated: not a fixed prefix.
				s := prefix.String()
				prefix.Reset()
				prefix.WriteString(s[:len(s)-lastLit])
			}
			canRepeat = false
			wildcard(string(c))
			i++
		case '[':
			set, n, err := parseSet(rs[i:])
			if err != nil {
				return fail("[...] at offset %d: %w", i, err)
			}
			wildcard(set)
			lastLit = 0
			canRepeat = true
			i += n
		case '\\':
			if i+1 >= len(rs) {
				return fail("trailing '\\' escapes nothing")
			}
			e := rs[i+1]
			if !strings.ContainsRune(escapable, e) {
				return fail("'\\' at offset %d can only escape one of [ ? * + \\ !, not %q", i, e)
			}
			if kind == RefPattern && (e == '[' || e == '?' || e == '*') {
				return fail("ref names cannot contain %q, so escaping it never matches", e)
			}
			literal(e)
			i += 2
		default:
			if kind == RefPattern && (unicode.IsSpace(c) || c == '~' || c == '^' || c == ':') {
				return fail("ref names cannot contain %q", c)
			}
			literal(c)
			i++
		}
	}
	b.WriteString(`$`)
	if !special {
		return translation{lit: prefix.String(), isLit: true}, nil
	}
	return translation{expr: b.String(), prefix: prefix.String(), suffix: suffix.String()}, nil
}

// parseSet reads a "[...]" set at the start of rs and returns its regexp and length. Only
// ASCII letters and digits, and ranges within a-z, A-Z or 0-9, are allowed.
func parseSet(rs []rune) (string, int, error) {
	var b strings.Builder
	b.WriteByte('[')
	i := 1
	if i < len(rs) && rs[i] == ']' {
		return "", 0, errors.New("empty set")
	}
	for {
		if i >= len(rs) {
			return "", 0, errors.New("missing ']'")
		}
		c := rs[i]
		if c == ']' {
			break
		}
		if !isAlnum(c) {
			return "", 0, fmt.Errorf("%q is not allowed; a set holds only letters, digits and the ranges a-z, A-Z, 0-9", c)
		}
		if i+1 < len(rs) && rs[i+1] == '-' {
			if i+2 >= len(rs) || rs[i+2] == ']' {
				return "", 0, fmt.Errorf("range starting at %q has no end", c)
			}
			hi := rs[i+2]
			if !isAlnum(hi) || class(c) != class(hi) {
				return "", 0, fmt.Errorf("range %c-%c must stay within a-z, A-Z or 0-9", c, hi)
			}
			if c > hi {
				return "", 0, fmt.Errorf("range %c-%c is reversed", c, hi)
			}
			b.WriteRune(c)
			b.WriteByte('-')
			b.WriteRune(hi)
			i += 3
			continue
		}
		b.WriteRune(c)
		i++
	}
	b.WriteByte(']')
	return b.String(), i + 1, nil
}

func isAlnum(c rune) bool { return class(c) != 0 }

// class groups the characters a set range may span: 1 lower case, 2 upper case, 3 digits.
func class(c rune) int {
	switch {
	case c >= 'a' && c <= 'z':
		return 1
	case c >= 'A' && c <= 'Z':
		return 2
	case c >= '0' && c <= '9':
		return 3
	}
	return 0
}

// Match reports whether s matches the glob as a whole (ignoring a leading '!').
func (p *Pattern) Match(s string) bool {
	if p.isLit {
		return s == p.literal
	}
	if !strings.HasPrefix(s, p.prefix) || !strings.HasSuffix(s, p.suffix) {
		return false
	}
	return p.re.MatchString(s)
}

// Negated reports whether the pattern started with '!'.
func (p *Pattern) Negated() bool { return p.negated }

// Kind returns what the pattern is matched against.
func (p *Pattern) Kind() Kind { return p.kind }

// Warnings lists reasons the pattern is valid but probably not what was meant.
func (p *Pattern) Warnings() []string { return p.warnings }

// String returns the pattern as written, including a leading '!'.
func (p *Pattern) String() string { return p.raw }
