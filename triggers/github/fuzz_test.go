package github

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// refMatch is a slow reading of the glob language written straight from the cheat sheet,
// sharing no code with translate: a memoised backtracking matcher over runes. It assumes the
// glob is valid (callers only use it when Compile accepted the pattern).
func refMatch(glob, s string) bool {
	g, in := []rune(glob), []rune(s)
	memo := map[[2]int]bool{}
	var m func(i, j int) bool
	m = func(i, j int) bool {
		key := [2]int{i, j}
		if v, ok := memo[key]; ok {
			return v
		}
		r := match(g, in, i, j, m)
		memo[key] = r
		return r
	}
	return m(0, 0)
}

func match(g, in []rune, i, j int, m func(i, j int) bool) bool {
	if i == len(g) {
		return j == len(in)
	}
	at := func(k int, c rune) bool { return k < len(g) && g[k] == c }
	switch {
	case at(i, '*') && at(i+1, '*') && at(i+2, '/') && !at(i+3, '?') && !at(i+3, '+'):
		// Zero directories, or at least one character followed by '/'.
		if m(i+3, j) {
			return true
		}
		for k := j + 1; k < len(in); k++ {
			if in[k] == '/' && m(i+3, k+1) {
				return true
			}
		}
		return false
	case at(i, '*') && at(i+1, '*'):
		for k := j; k <= len(in); k++ {
			if m(i+2, k) {
				return true
			}
		}
		return false
	case at(i, '*'):
		for k := j; ; k++ {
			if m(i+1, k) {
				return true
			}
			if k == len(in) || in[k] == '/' {
				return false
			}
		}
	}
	// A single-character atom, maybe followed by '?' or '+'.
	var one func(rune) bool
	next := i + 1
	switch g[i] {
	case '\\':
		c := g[i+1]
		one = func(r rune) bool { return r == c }
		next = i + 2
	case '[':
		k := i + 1
		var lo, hi []rune
		for g[k] != ']' {
			if at(k+1, '-') {
				lo, hi = append(lo, g[k]), append(hi, g[k+2])
				k += 3
				continue
			}
			lo, hi = append(lo, g[k]), append(hi, g[k])
			k++
		}
		one = func(r rune) bool {
			for x := range lo {
				if lo[x] <= r && r <= hi[x] {
					return true
				}
			}
			return false
		}
		next = k + 1
	default:
		c := g[i]
		one = func(r rune) bool { return r == c }
	}
	switch {
	case at(next, '?'):
		return m(next+1, j) || (j < len(in) && one(in[j]) && m(next+1, j+1))
	case at(next, '+'):
		for k := j; k < len(in) && one(in[k]); k++ {
			if m(next+1, k+1) {
				return true
			}
		}
		return false
	}
	return j < len(in) && one(in[j]) && m(next, j+1)
}

func TestRefMatchAgreesOnExamples(t *testing.T) {
	// The reference matcher must itself get the documented examples right, or agreeing with
	// it would prove nothing.
	for _, tc := range []struct {
		glob, s string
		want    bool
	}{
		{"Octoc?t", "Octot", true}, {"Octoc?t", "Octocat", false}, {"feature+x", "featureeex", true},
		{"**/README.md", "README.md", true}, {"docs/**/*.md", "docs/README.md", true},
		{"**.js", "src/js/app.js", true}, {"*", "a/b", false}, {"[CB]at", "Cat", true},
		{"[1-2]00", "300", false}, {`a\*`, "a*", true}, {"feature/**", "feature", false},
	} {
		if got := refMatch(tc.glob, tc.s); got != tc.want {
			t.Errorf("refMatch(%q, %q) = %v, want %v", tc.glob, tc.s, got, tc.want)
		}
	}
}

func seedPatterns(f *testing.F) {
	for _, s := range [][2]string{
		{"feature/*", "feature/a"}, {"**/README.md", "README.md"}, {"docs/**/*.md", "docs/a/b.md"},
		{"**.js", "src/js/app.js"}, {"Octoc?t", "Octot"}, {"feature+x", "featureeex"},
		{"[CB]at", "Cat"}, {"[1-2]00", "200"}, {"*.md", "README.md"}, {"!README.md", "README.md"},
		{`a\*b`, "a*b"}, {"**/?x", "ax"}, {"***/a", "b/a"}, {"[a-c]+?", "abc"}, {"v[0-9]+.*", "v12.x"},
		{"a**b/**/c", "axb/c"}, {"é+/*", "éé/x"}, {"x", "\xff"}, {"**", "a\nb"},
	} {
		f.Add(s[0], s[1])
	}
}

// FuzzCompile checks that compiling never panics and that every accepted pattern matches
// exactly what the reference matcher says it should.
func FuzzCompile(f *testing.F) {
	seedPatterns(f)
	f.Fuzz(func(t *testing.T, pattern, s string) {
		if len(pattern) > 64 || len(s) > 128 {
			return
		}
		for _, kind := range []Kind{RefPattern, PathPattern} {
			for _, validate := range []bool{true, false} {
				p, err := compile(pattern, kind, validate)
				if err != nil {
					continue
				}
				glob := strings.TrimPrefix(pattern, "!")
				if got, want := p.Match(s), refMatch(glob, s); got != want {
					t.Fatalf("compile(%q, %v).Match(%q) = %v, reference says %v", pattern, kind, s, got, want)
				}
			}
		}
		if p, err := Compile(pattern, PathPattern); err == nil && !utf8.ValidString(p.String()) {
			t.Fatalf("accepted invalid UTF-8 pattern %q", pattern)
		}
	})
}

// FuzzParseWorkflow feeds arbitrary bytes to the parser and evaluates whatever parses.
func FuzzParseWorkflow(f *testing.F) {
	for _, s := range []string{
		"on: push\n",
		"on: [push, pull_request]\n",
		"on:\n  push:\n    branches: [main, '!x']\n    tags: ['v*']\n    paths: ['src/**']\n",
		"on:\n  pull_request:\n    branches-ignore: [a]\n    paths-ignore: ['**.md']\n    types: [opened]\n",
		"a: &x [main]\non:\n  push:\n    branches: *x\n",
		"on:\n  push:\n    branches: [a]\n    branches-ignore: [b]\n",
		"on:\n  push:\n    branches:\n",
		"- x\n",
		"on: {push: {paths: [1, ~, {a: b}]}}\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		w, err := ParseWorkflow("fuzz.yml", data)
		if err != nil || w == nil {
			return
		}
		for _, ev := range []Event{
			{Name: "push", Ref: "refs/heads/main", Paths: []string{"src/a.go", "README.md"}},
			{Name: "push", Ref: "refs/tags/v1"},
			{Name: "pull_request", Ref: "main", Action: "opened"},
			{Name: "pull_request_target", Ref: "dev", Paths: []string{"x"}},
		} {
			if r := w.Evaluate(ev); r.Reason == "" {
				t.Fatalf("empty reason for %+v", ev)
			}
		}
	})
}
