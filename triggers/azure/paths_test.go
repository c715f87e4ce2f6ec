package azure

import (
	"fmt"
	"testing"
)

func TestCovers(t *testing.T) {
	cases := []struct {
		name  string
		entry string
		path  string
		want  bool
	}{
		{"folder_covers_file_below", "docs", "docs/a/b.md", true},
		{"folder_covers_direct_file", "docs", "docs/a.md", true},
		{"A-Z3_segment_boundary_not_docs2", "docs", "docs2/x", false},
		{"A-Z3_segment_boundary_not_docs.md", "docs", "docs.md", false},
		{"A-Z3_file_entry_not_prefix_of_name", "README.md", "README.md.bak", false},
		{"file_entry_exact", "README.md", "README.md", true},
		{"A-Z3_trailing_slash", "docs/", "docs/a.md", true},
		{"A-Z3_leading_slash", "/docs", "docs/a.md", true},
		{"A-Z3_both_slashes", "/docs/", "docs/a/b.md", true},
		{"root_slash_covers_all", "/", "any/file", true},
		{"nested_folder", "src/app", "src/app/main.go", true},
		{"nested_folder_not_parent", "src/app", "src/main.go", false},
		{"case_sensitive", "Docs", "docs/a.md", false},
		{"not_a_suffix_match", "app", "src/app/main.go", false},
		// Wildcards (A-Z1): '*' stays within one name, folder semantics still apply.
		{"A-Z1_docs/*.md_direct", "docs/*.md", "docs/a.md", true},
		{"A-Z1_docs/*.md_not_nested", "docs/*.md", "docs/sub/a.md", false},
		{"A-Z1_docs/*.md_not_txt", "docs/*.md", "docs/a.txt", false},
		{"A-Z1_docs/*_direct", "docs/*", "docs/a.md", true},
		{"A-Z1_docs/*_folder_semantics", "docs/*", "docs/a/b.md", true},
		{"A-Z1_docs/*_not_docs_itself", "docs/*", "docs", false},
		{"A-Z1_star_does_not_cross_slash", "src/*.go", "src/a/b.go", false},
		{"A-Z1_star_in_folder_name", "src/*/test", "src/app/test/x.go", true},
		{"A-Z1_star_in_folder_name_one_level", "src/*/test", "src/a/b/test/x.go", false},
		{"A-Z1_doublestar_crosses", "src/**/test", "src/a/b/test/x.go", true},
		{"A-Z1_doublestar_zero_folders", "src/**/test", "src/test/x.go", true},
		{"A-Z1_leading_doublestar", "**/README.md", "README.md", true},
		{"A-Z1_leading_doublestar_nested", "**/README.md", "a/b/README.md", true},
		{"A-Z1_leading_doublestar_not_suffix", "**/README.md", "a/NOTREADME.md", false},
		{"A-Z1_doublestar_in_name", "src/**.js", "src/a/b/c.js", true},
		{"A-Z1_sprint192_example", "src/app/**/myapp*", "src/app/x/y/myapp.exe", true},
		{"A-Z1_sprint192_example_direct", "src/app/**/myapp*", "src/app/myapp", true},
		{"A-Z1_sprint192_example_not", "src/app/**/myapp*", "src/app/x/notmyapp", false},
		{"question_one_char", "v?/x", "v1/x/y", true},
		{"question_not_slash", "a?b", "a/b", false},
		{"star_covers_everything", "*", "a/b/c", true},
		{"star_covers_root_file", "*", "README.md", true},
		{"dot_literal", "a.b", "axb", false},
		{"dotfile_folder", ".github", ".github/workflows/ci.yml", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := CompilePathPattern(c.entry)
			if err != nil {
				t.Fatal(err)
			}
			if got := p.Covers(c.path); got != c.want {
				t.Errorf("CompilePathPattern(%q).Covers(%q) = %v, want %v", c.entry, c.path, got, c.want)
			}
		})
	}
}

func TestCompilePathPatternErrors(t *testing.T) {
	cases := []struct {
		name, entry, want string
	}{
		{"empty", "", "empty path"},
		{"blank", "   ", "empty path"},
		{"double_slash", "a//b", `empty folder name ("//")`},
		{"dot", "./docs", `"." is not allowed: paths are relative to the repository root`},
		{"dotdot", "docs/../src", `".." is not allowed: paths are relative to the repository root`},
		{"backslash", `src\app`, `use '/' to separate folders, not '\'`},
		{"negation", "!docs", "'!' negation is not supported in Azure path filters; list the path under exclude"},
		{"control", "a\tb", `contains the control character '\t'`},
		{"newline", "a\nb", `contains the control character '\n'`},
		{"invalid_utf8", "a\xff", "not valid UTF-8"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := CompilePathPattern(c.entry)
			if want := fmt.Sprintf("path %q: %s", c.entry, c.want); err == nil || err.Error() != want {
				t.Errorf("CompilePathPattern(%q) error = %v, want %q", c.entry, err, c.want)
			}
		})
	}
}

func TestPathPatternAccessors(t *testing.T) {
	cases := []struct {
		entry, literalDir string
		specificity       int
	}{
		{"src/a/*.go", "src/a", 10},
		{"**/x", "", 4},
		{"docs", "docs", 4},
		{"/docs/", "docs", 4},
		{"docs/README.md", "docs/README.md", 14},
		{"src/**", "src", 6},
		{"a?/b", "", 4},
		{"/", "", 0},
	}
	for _, c := range cases {
		t.Run(c.entry, func(t *testing.T) {
			p, err := CompilePathPattern(c.entry)
			if err != nil {
				t.Fatal(err)
			}
			if p.LiteralDir() != c.literalDir || p.Specificity() != c.specificity || p.String() != c.entry {
				t.Errorf("LiteralDir=%q Specificity=%d String=%q; want %q %d %q", p.LiteralDir(), p.Specificity(), p.String(), c.literalDir, c.specificity, c.entry)
			}
		})
	}
}

func TestPathFilter(t *testing.T) {
	type tc struct {
		name             string
		include, exclude []string
		path             string
		want             bool
		by               string
	}
	cases := []tc{
		// Docs: exclude /tools, include the deeper /tools/trigger-runs-on-these.
		{"tools/deeper_include_wins", []string{"tools/trigger-runs-on-these"}, []string{"tools"}, "tools/trigger-runs-on-these/a.sh", true, `included by "tools/trigger-runs-on-these"`},
		{"tools/other_excluded", []string{"tools/trigger-runs-on-these"}, []string{"tools"}, "tools/other/a.sh", false, `excluded by "tools"`},
		{"tools/outside_not_included", []string{"tools/trigger-runs-on-these"}, []string{"tools"}, "src/a.go", false, "not covered by any include path"},
		{"tools/with_root_include", []string{"/", "tools/trigger-runs-on-these"}, []string{"/tools"}, "src/a.go", true, `included by "/"`},
		// Docs: include docs, exclude docs/README.md.
		{"docs/file_included", []string{"docs"}, []string{"docs/README.md"}, "docs/guide.md", true, `included by "docs"`},
		{"docs/README_excluded", []string{"docs"}, []string{"docs/README.md"}, "docs/README.md", false, `excluded by "docs/README.md"`},
		// Most specific wins, whichever list it is in.
		{"deeper_exclude_wins", []string{"src"}, []string{"src/gen"}, "src/gen/x.go", false, `excluded by "src/gen"`},
		{"deeper_include_wins", []string{"src/gen/keep"}, []string{"src/gen"}, "src/gen/keep/x.go", true, ""},
		{"A-Z7_tie_exclude_wins", []string{"src"}, []string{"src"}, "src/a.go", false, `excluded by "src"`},
		{"A-Z7_tie_after_normalising", []string{"/src/"}, []string{"src"}, "src/a.go", false, ""},
		{"implicit_include_whole_repo", nil, nil, "any/file", true, "included (no include paths, so the whole repository is included)"},
		{"exclude_only", nil, []string{"docs"}, "src/a.go", true, ""},
		{"exclude_only_excluded", nil, []string{"docs"}, "docs/a.md", false, `excluded by "docs"`},
		{"docs_wildcard_example", []string{"docs/*.md"}, nil, "docs/intro.md", true, `included by "docs/*.md"`},
		{"case_sensitive", []string{"Src"}, nil, "src/a.go", false, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, order := range []string{"as_written", "reversed"} {
				inc, exc := c.include, c.exclude
				if order == "reversed" { // order of entries must not matter
					inc, exc = reversed(inc), reversed(exc)
				}
				f, err := NewPathFilter(inc, exc)
				if err != nil {
					t.Fatal(err)
				}
				ok, by := f.Included(c.path)
				if ok != c.want {
					t.Errorf("%s: Included(%q) = %v (%s), want %v", order, c.path, ok, by, c.want)
				}
				if c.by != "" && by != c.by {
					t.Errorf("%s: decidedBy = %q, want %q", order, by, c.by)
				}
			}
		})
	}
}

func reversed(s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[len(s)-1-i] = v
	}
	return out
}

func TestPathFilterAnyIncluded(t *testing.T) {
	f, err := NewPathFilter([]string{"src"}, []string{"src/gen"})
	if err != nil {
		t.Fatal(err)
	}
	ok, path, by := f.AnyIncluded([]string{"README.md", "src/gen/a.go", "src/b.go", "src/c.go"})
	if !ok || path != "src/b.go" || by != `included by "src"` {
		t.Errorf("AnyIncluded = %v %q %q", ok, path, by)
	}
	ok, path, by = f.AnyIncluded([]string{"README.md", "src/gen/a.go"})
	if ok || path != "" || by != "" {
		t.Errorf("AnyIncluded = %v %q %q, want false", ok, path, by)
	}
	if ok, _, _ := f.AnyIncluded(nil); ok {
		t.Error("AnyIncluded(nil) = true")
	}
	if len(f.Includes()) != 1 || len(f.Excludes()) != 1 {
		t.Error("Includes/Excludes")
	}
}

func TestNewPathFilterErrors(t *testing.T) {
	_, err := NewPathFilter([]string{"ok", "a//b"}, []string{"../x"})
	want := "include[1]: path \"a//b\": empty folder name (\"//\")\nexclude[0]: path \"../x\": \"..\" is not allowed: paths are relative to the repository root"
	if err == nil || err.Error() != want {
		t.Errorf("error = %v, want %q", err, want)
	}
}
