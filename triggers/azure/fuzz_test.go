package azure

import (
	"strings"
	"testing"
)

// refGlob is a slow reading of the branch/tag wildcard rules, sharing no code with
// compileRef: '*' any run of characters, '?' exactly one, the rest literal.
func refGlob(glob, s string) bool {
	g, in := []rune(glob), []rune(s)
	memo := map[[2]int]bool{}
	var m func(i, j int) bool
	m = func(i, j int) bool {
		if v, ok := memo[[2]int{i, j}]; ok {
			return v
		}
		var r bool
		switch {
		case i == len(g):
			r = j == len(in)
		case g[i] == '*':
			r = m(i+1, j) || (j < len(in) && m(i, j+1))
		case j == len(in):
			r = false
		case g[i] == '?':
			r = m(i+1, j+1)
		default:
			r = g[i] == in[j] && m(i+1, j+1)
		}
		memo[[2]int{i, j}] = r
		return r
	}
	return m(0, 0)
}

// pathGlob is a slow reading of the path wildcard rules: '*' and '?' within one name, "**"
// any run, a whole "**" folder followed by more folders possibly no folder at all.
func pathGlob(glob, s string) bool {
	g, in := []rune(glob), []rune(s)
	memo := map[[2]int]bool{}
	var m func(i, j int) bool
	m = func(i, j int) bool {
		if v, ok := memo[[2]int{i, j}]; ok {
			return v
		}
		var r bool
		switch {
		case i == len(g):
			r = j == len(in)
		case g[i] == '*' && i+1 < len(g) && g[i+1] == '*' && (i == 0 || g[i-1] == '/') && i+2 < len(g) && g[i+2] == '/':
			r = m(i+3, j)
			for k := j; !r && k < len(in); k++ {
				r = in[k] == '/' && m(i+3, k+1)
			}
		case g[i] == '*' && i+1 < len(g) && g[i+1] == '*':
			for k := j; !r && k <= len(in); k++ {
				r = m(i+2, k)
			}
		case g[i] == '*':
			for k := j; !r; k++ {
				r = m(i+1, k)
				if k == len(in) || in[k] == '/' {
					break
				}
			}
		case j == len(in):
			r = false
		case g[i] == '?':
			r = in[j] != '/' && m(i+1, j+1)
		default:
			r = g[i] == in[j] && m(i+1, j+1)
		}
		memo[[2]int{i, j}] = r
		return r
	}
	return m(0, 0)
}

// refCovers applies folder semantics by brute force: the entry matches the path or the path
// cut just before one of its '/'.
func refCovers(entry, path string) bool {
	norm := strings.Trim(entry, "/")
	if norm == "" {
		return true
	}
	if pathGlob(norm, path) {
		return true
	}
	for i := range len(path) {
		if path[i] == '/' && pathGlob(norm, path[:i]) {
			return true
		}
	}
	return false
}

func TestReferenceMatchersOnExamples(t *testing.T) {
	for _, c := range []struct {
		glob, s string
		want    bool
	}{
		{"refs/heads/feature/*", "refs/heads/feature/a/b", true}, {"v?", "v10", false}, {"*", "", true},
	} {
		if got := refGlob(c.glob, c.s); got != c.want {
			t.Errorf("refGlob(%q, %q) = %v", c.glob, c.s, got)
		}
	}
	for _, c := range []struct {
		entry, path string
		want        bool
	}{
		{"docs", "docs/a/b.md", true}, {"docs", "docs2/x", false}, {"docs/*", "docs/a/b", true},
		{"src/**/test", "src/test/x", true}, {"**/README.md", "README.md", true}, {"a?b", "a/b", false},
	} {
		if got := refCovers(c.entry, c.path); got != c.want {
			t.Errorf("refCovers(%q, %q) = %v", c.entry, c.path, got)
		}
	}
}

// FuzzRefPattern checks branch and tag filters against refGlob.
func FuzzRefPattern(f *testing.F) {
	for _, s := range [][2]string{
		{"feature/*", "refs/heads/feature/a/b"}, {"refs/tags/v*", "refs/tags/v1"}, {"v?.*", "v1.2"},
		{"*-releases", "refs/heads/x-releases"}, {"a**b", "refs/heads/ab"}, {"?", "refs/heads/\xff"},
		{"é*", "refs/heads/éa"}, {"x", "refs/heads/x\n"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, s string) {
		if len(pattern) > 64 || len(s) > 128 {
			return
		}
		b, err := NewBranchFilter([]string{pattern}, nil)
		if err == nil {
			full := pattern
			if !strings.HasPrefix(full, "refs/") {
				full = "refs/heads/" + full
			}
			if got, want := b.Match(s), refGlob(full, s); got != want {
				t.Fatalf("branch %q Match(%q) = %v, reference says %v", pattern, s, got, want)
			}
		}
		tf, err := NewTagFilter(nil, []string{pattern})
		if err == nil {
			if got, want := tf.Match(s), !refGlob(pattern, s); got != want {
				t.Fatalf("tag exclude %q Match(%q) = %v, reference says %v", pattern, s, got, want)
			}
		}
	})
}

// FuzzPathPattern checks Covers against the brute-force folder semantics and checks the
// LiteralDir promise the caller's prefix index relies on.
func FuzzPathPattern(f *testing.F) {
	for _, s := range [][2]string{
		{"docs", "docs/a/b.md"}, {"docs", "docs2/x"}, {"/docs/", "docs.md"}, {"docs/*.md", "docs/a.md"},
		{"docs/*", "docs/a/b"}, {"src/**/test", "src/test/x"}, {"**/README.md", "a/README.md"},
		{"src/**.js", "src/a/b.js"}, {"a?b", "a/b"}, {"src/a/*.go", "src/a/b.go"}, {"/", "x"},
		{"a/**/**/b", "a/b"}, {"***", "x/y"}, {"x**/y", "x/y"}, {"é?", "éé/x"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, entry, path string) {
		if len(entry) > 48 || len(path) > 96 {
			return
		}
		p, err := CompilePathPattern(entry)
		if err != nil {
			return
		}
		got := p.Covers(path)
		if want := refCovers(entry, path); got != want {
			t.Fatalf("CompilePathPattern(%q).Covers(%q) = %v, reference says %v", entry, path, got, want)
		}
		if dir := p.LiteralDir(); got && dir != "" && path != dir && !strings.HasPrefix(path, dir+"/") {
			t.Fatalf("%q covers %q outside its LiteralDir %q", entry, path, dir)
		}
		if p.Specificity() != len(strings.Trim(entry, "/")) {
			t.Fatalf("Specificity(%q) = %d", entry, p.Specificity())
		}
	})
}

// FuzzParsePipeline feeds arbitrary bytes to the parser and evaluates whatever parses.
func FuzzParsePipeline(f *testing.F) {
	for _, s := range []string{
		"trigger: none\n",
		"trigger:\n- main\npr: [main]\n",
		"trigger:\n  batch: true\n  branches:\n    include: [main]\n    exclude: [wip/*]\n  tags:\n    include: ['v*']\n  paths:\n    include: [src]\n    exclude: [src/docs]\n",
		"pr:\n  autoCancel: false\n  drafts: false\n  branches:\n    exclude: [x]\n  paths:\n    include: ['**/x']\n",
		"v: &a [main]\ntrigger:\n  branches:\n    include: *a\n",
		"trigger: {paths: {include: [1, ~, {a: b}]}}\n",
		"- x\n",
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParsePipeline("fuzz.yml", data)
		if err != nil || p == nil {
			return
		}
		for _, ev := range []Event{
			{Ref: "refs/heads/main", Paths: []string{"src/a.go", "README.md"}, PathsKnown: true},
			{Ref: "refs/tags/v1", PathsKnown: true},
			{Ref: "dev"},
			{PullRequest: true, Ref: "main", Draft: true, Paths: []string{"x"}, PathsKnown: true},
		} {
			for _, opt := range []EvalOptions{{}, {DisableImpliedCITrigger: true}} {
				if r := p.Evaluate(ev, opt); r.Reason == "" {
					t.Fatalf("empty reason for %+v", ev)
				}
			}
		}
	})
}
