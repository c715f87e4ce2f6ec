package github

import (
	"slices"
	"testing"
)

type matchCase struct {
	name    string
	pattern string
	kind    Kind
	in      string
	want    bool
}

func runMatchCases(t *testing.T, cases []matchCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Compile(tc.pattern, tc.kind)
			if err != nil {
				t.Fatalf("Compile(%q): %v", tc.pattern, err)
			}
			if got := p.Match(tc.in); got != tc.want {
				t.Errorf("Compile(%q, %v).Match(%q) = %v, want %v", tc.pattern, tc.kind, tc.in, got, tc.want)
			}
		})
	}
}

// The rows of the filter pattern cheat sheet and the branch/tag/path examples of the docs.
func TestCheatSheet(t *testing.T) {
	runMatchCases(t, []matchCase{
		{"star/Octo*_matches_Octocat", "Octo*", RefPattern, "Octocat", true},
		{"star/does_not_cross_slash", "feature/*", RefPattern, "feature/a/b", false},
		{"star/matches_one_level", "feature/*", RefPattern, "feature/a", true},
		{"doublestar/crosses_slash", "feature/**", RefPattern, "feature/a/b", true},
		{"doublestar/matches_empty_rest", "feature/**", RefPattern, "feature/", true},
		{"doublestar/zero_or_more_any", "**", PathPattern, "a/b/c.txt", true},
		{"question/zero_of_preceding", "*.jsx?", PathPattern, "page.js", true},
		{"question/one_of_preceding", "*.jsx?", PathPattern, "page.jsx", true},
		{"question/not_two", "*.jsx?", PathPattern, "page.jsxx", false},
		{"plus/one_of_preceding", "v1+", RefPattern, "v1", true},
		{"plus/many_of_preceding", "v1+", RefPattern, "v111", true},
		{"plus/not_zero", "v1+", RefPattern, "v", false},
		{"set/[CB]at_matches_Cat", "[CB]at", RefPattern, "Cat", true},
		{"set/[CB]at_matches_Bat", "[CB]at", RefPattern, "Bat", true},
		{"set/[CB]at_not_Rat", "[CB]at", RefPattern, "Rat", false},
		{"set/[CB]at_not_CBat", "[CB]at", RefPattern, "CBat", false},
		{"set/[1-2]00_matches_100", "[1-2]00", RefPattern, "100", true},
		{"set/[1-2]00_matches_200", "[1-2]00", RefPattern, "200", true},
		{"set/[1-2]00_not_300", "[1-2]00", RefPattern, "300", false},
		{"set/[0-9a-z]_digit", "v[0-9a-z]", RefPattern, "v7", true},
		{"set/[0-9a-z]_lower", "v[0-9a-z]", RefPattern, "vq", true},
		{"set/[0-9a-z]_not_upper", "v[0-9a-z]", RefPattern, "vQ", false},
		{"set/with_plus", "v[0-9]+.x", RefPattern, "v123.x", true},
		{"bang/not_first_is_literal", "a!b", RefPattern, "a!b", true},
		{"escape/star_literal_in_path", `a\*b`, PathPattern, "a*b", true},
		{"escape/star_not_wildcard", `a\*b`, PathPattern, "axb", false},
		{"escape/plus_literal", `feature\+x`, RefPattern, "feature+x", true},
		{"escape/plus_not_quantifier", `feature\+x`, RefPattern, "featureex", false},
		{"escape/bang_literal", `\!x`, PathPattern, "!x", true},
		{"escape/backslash", `a\\b`, PathPattern, `a\b`, true},
		{"dot_is_literal", "v1.0", RefPattern, "v1x0", false},
		{"dot_literal_match", "v1.0", RefPattern, "v1.0", true},
		{"anchored_start", "main", RefPattern, "xmain", false},
		{"anchored_end", "main", RefPattern, "mainx", false},
		{"case_sensitive_A-G1", "main", RefPattern, "Main", false},
		{"case_sensitive_path_A-G1", "docs/**", PathPattern, "Docs/a.md", false},
		// Branch examples of the docs.
		{"branches/main", "main", RefPattern, "main", true},
		{"branches/mona/octocat", "mona/octocat", RefPattern, "mona/octocat", true},
		{"branches/releases/**-alpha", "releases/**-alpha", RefPattern, "releases/beta/3-alpha", true},
		{"branches/releases/**-alpha_not_beta", "releases/**-alpha", RefPattern, "releases/beta/3-beta", false},
		{"branches/releases/*_not_nested", "releases/*", RefPattern, "releases/10/x", false},
		{"tags/v2", "v2", RefPattern, "v2", true},
		{"tags/v1.*", "v1.*", RefPattern, "v1.9.1", true},
		{"tags/v1.*_not_v2", "v1.*", RefPattern, "v2.0", false},
		// Path examples of the cheat sheet.
		{"paths/*_root_file", "*", PathPattern, "README.md", true},
		{"paths/*_not_nested", "*", PathPattern, "docs/README.md", false},
		{"paths/*.jsx?_root", "*.jsx?", PathPattern, "app.jsx", true},
		{"paths/*.jsx?_not_nested", "*.jsx?", PathPattern, "src/app.js", false},
		{"paths/**_nested", "**", PathPattern, "all/the/files.md", true},
		{"paths/*.js_root_only", "*.js", PathPattern, "app.js", true},
		{"paths/*.js_not_nested", "*.js", PathPattern, "src/app.js", false},
		{"paths/**.js_nested", "**.js", PathPattern, "src/js/app.js", true},
		{"paths/**.js_root", "**.js", PathPattern, "index.js", true},
		{"paths/docs/*_direct", "docs/*", PathPattern, "docs/README.md", true},
		{"paths/docs/*_not_nested", "docs/*", PathPattern, "docs/file.txt/x", false},
		{"paths/docs/**_nested", "docs/**", PathPattern, "docs/mona/octocat.txt", true},
		{"paths/docs/**/*.md_direct", "docs/**/*.md", PathPattern, "docs/README.md", true},
		{"paths/docs/**/*.md_nested", "docs/**/*.md", PathPattern, "docs/mona/hello-world.md", true},
		{"paths/docs/**/*.md_deep", "docs/**/*.md", PathPattern, "docs/a/markdown/file.md", true},
		{"paths/docs/**/*.md_not_txt", "docs/**/*.md", PathPattern, "docs/a/file.txt", false},
		{"paths/**/docs/**_root", "**/docs/**", PathPattern, "docs/hello.md", true},
		{"paths/**/docs/**_nested", "**/docs/**", PathPattern, "dir/docs/my-file.txt", true},
		{"paths/**/docs/**_deep", "**/docs/**", PathPattern, "space/docs/plan/space.doc", true},
		{"paths/**/README.md_root", "**/README.md", PathPattern, "README.md", true},
		{"paths/**/README.md_nested", "**/README.md", PathPattern, "js/README.md", true},
		{"paths/**/README.md_not_suffix", "**/README.md", PathPattern, "js/NOTREADME.md", false},
		{"paths/**/*src/**", "**/*src/**", PathPattern, "a/src/app.js", true},
		{"paths/**/*src/**_suffix_dir", "**/*src/**", PathPattern, "my-src/code/js/app.js", true},
		{"paths/**/*-post.md", "**/*-post.md", PathPattern, "my-post.md", true},
		{"paths/**/*-post.md_nested", "**/*-post.md", PathPattern, "path/their-post.md", true},
		{"paths/**/migrate-*.sql", "**/migrate-*.sql", PathPattern, "migrate-10909.sql", true},
		{"paths/**/migrate-*.sql_nested", "**/migrate-*.sql", PathPattern, "db/migrate-v1.0.sql", true},
		{"paths/**/migrate-*.sql_deep", "**/migrate-*.sql", PathPattern, "db/sept/migrate-v1.sql", true},
		{"paths/*.md_root", "*.md", PathPattern, "README.md", true},
		{"paths/README*", "README*", PathPattern, "README.md", true},
		{"paths/README*_not_nested", "README*", PathPattern, "docs/README.md", false},
	})
}

// The "consequences to test" of the regex translation.
func TestConsequences(t *testing.T) {
	runMatchCases(t, []matchCase{
		{"star_does_not_match_releases/v1", "*", RefPattern, "releases/v1", false},
		{"feature/**_does_not_match_feature", "feature/**", RefPattern, "feature", false},
		{"feature+x_does_not_match_literal_plus", "feature+x", RefPattern, "feature+x", false},
		{"feature+x_matches_featureeex", "feature+x", RefPattern, "featureeex", true},
		{"feature+x_matches_featurex", "feature+x", RefPattern, "featurex", true},
		{"Octoc?t_does_not_match_Octocat", "Octoc?t", RefPattern, "Octocat", false},
		{"Octoc?t_matches_Octot", "Octoc?t", RefPattern, "Octot", true},
		{"Octoc?t_matches_Octoct", "Octoc?t", RefPattern, "Octoct", true},
		{"star_matches_dotfile", "*", PathPattern, ".gitignore", true},
		{"doublestar_matches_dotfile", "**", PathPattern, ".github/workflows/ci.yml", true},
		{"doublestar_slash_zero_dirs", "**/README.md", PathPattern, "README.md", true},
		{"docs/**/*.md_zero_dirs", "docs/**/*.md", PathPattern, "docs/README.md", true},
		{"A-G6_docs/**_not_file_docs", "docs/**", PathPattern, "docs", false},
		{"doublestar_slash_quantified_slash", "**/?x", PathPattern, "ax", true},
	})
}

func TestDotSlashNeverMatches(t *testing.T) {
	// GitHub accepts the pattern (with a warning from us) and it never matches, since
	// changed paths have no leading "./" (§1.3).
	p, err := Compile("./docs/**", PathPattern)
	if err != nil {
		t.Fatal(err)
	}
	if p.Match("docs/a.md") {
		t.Error(`"./docs/**" matched "docs/a.md"`)
	}
}

// The validation rules real linters apply (§1.7), with the exact messages.
func TestCompileErrors(t *testing.T) {
	cases := []struct {
		name    string
		pattern string
		kind    Kind
		want    string
	}{
		{"empty", "", RefPattern, `ref pattern "": empty pattern`},
		{"empty_path", "", PathPattern, `path pattern "": empty pattern`},
		{"bang_alone", "!", RefPattern, `ref pattern "!": '!' must be followed by a pattern`},
		{"question_at_start", "?abc", RefPattern, `ref pattern "?abc": '?' at the start has nothing to repeat`},
		{"plus_at_start", "+abc", PathPattern, `path pattern "+abc": '+' at the start has nothing to repeat`},
		{"plus_after_bang", "!+a", PathPattern, `path pattern "!+a": '+' at the start has nothing to repeat`},
		{"plus_after_star", "v*+", RefPattern, `ref pattern "v*+": '+' at offset 2 follows a special character; it can only repeat a plain character or a [...] set`},
		{"question_after_plus", "v1+?", RefPattern, `ref pattern "v1+?": '?' at offset 3 follows a special character; it can only repeat a plain character or a [...] set`},
		{"question_after_doublestar", "a**?", PathPattern, `path pattern "a**?": '?' at offset 3 follows a special character; it can only repeat a plain character or a [...] set`},
		{"missing_bracket", "[0-9", RefPattern, `ref pattern "[0-9": [...] at offset 0: missing ']'`},
		{"empty_set", "a[]", RefPattern, `ref pattern "a[]": [...] at offset 1: empty set`},
		{"reversed_range", "[9-1]", RefPattern, `ref pattern "[9-1]": [...] at offset 0: range 9-1 is reversed`},
		{"range_no_end", "[0-]", RefPattern, `ref pattern "[0-]": [...] at offset 0: range starting at '0' has no end`},
		{"range_across_classes", "[A-z]", PathPattern, `path pattern "[A-z]": [...] at offset 0: range A-z must stay within a-z, A-Z or 0-9`},
		{"set_non_alnum", "[a_]", PathPattern, `path pattern "[a_]": [...] at offset 0: '_' is not allowed; a set holds only letters, digits and the ranges a-z, A-Z, 0-9`},
		{"set_negation_unsupported", "[^a]", PathPattern, `path pattern "[^a]": [...] at offset 0: '^' is not allowed; a set holds only letters, digits and the ranges a-z, A-Z, 0-9`},
		{"ref_space", "my branch", RefPattern, `ref pattern "my branch": ref names cannot contain ' '`},
		{"ref_tilde", "a~1", RefPattern, `ref pattern "a~1": ref names cannot contain '~'`},
		{"ref_caret", "a^", RefPattern, `ref pattern "a^": ref names cannot contain '^'`},
		{"ref_colon", "a:b", RefPattern, `ref pattern "a:b": ref names cannot contain ':'`},
		{"ref_unknown_escape", `v\d+`, RefPattern, `ref pattern "v\\d+": '\' at offset 1 can only escape one of [ ? * + \ !, not 'd'`},
		{"path_unknown_escape", `a\b`, PathPattern, `path pattern "a\\b": '\' at offset 1 can only escape one of [ ? * + \ !, not 'b'`},
		{"ref_escaped_star", `a\*`, RefPattern, `ref pattern "a\\*": ref names cannot contain '*', so escaping it never matches`},
		{"trailing_backslash", `a\`, PathPattern, `path pattern "a\\": trailing '\' escapes nothing`},
		{"newline", "a\nb", PathPattern, `path pattern "a\nb": contains a line break`},
		{"invalid_utf8", "a\xffb", PathPattern, `path pattern "a\xffb": not valid UTF-8`},
		{"unknown_kind", "a", Kind(9), `Kind(9) pattern "a": unknown pattern kind 9`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Compile(tc.pattern, tc.kind)
			if err == nil {
				t.Fatalf("Compile(%q) succeeded, want error %q", tc.pattern, tc.want)
			}
			if err.Error() != tc.want {
				t.Errorf("Compile(%q) error:\n got  %s\n want %s", tc.pattern, err, tc.want)
			}
		})
	}
}

func TestCompileAccepts(t *testing.T) {
	for _, tc := range []struct {
		pattern string
		kind    Kind
	}{
		{"[x]", RefPattern}, // only "useless", not an error
		{".github/**", PathPattern},
		{".gitignore", PathPattern},
		{`a\+b`, RefPattern},
		{`a\!b`, RefPattern},
		{`a\\b`, RefPattern},
		{"a/b.c", RefPattern},
		{"a b/c", PathPattern}, // spaces inside a path are fine
		{"[a-zA-Z0-9]", RefPattern},
		{"é+", PathPattern},
	} {
		t.Run(tc.pattern, func(t *testing.T) {
			if _, err := Compile(tc.pattern, tc.kind); err != nil {
				t.Errorf("Compile(%q): %v", tc.pattern, err)
			}
		})
	}
}

func TestCompileWarnings(t *testing.T) {
	cases := []struct {
		name    string
		pattern string
		kind    Kind
		want    []string
	}{
		{"A-G3_full_ref", "refs/heads/main", RefPattern, []string{"patterns are matched against the branch or tag name without refs/heads/ or refs/tags/, so this pattern only matches a name that itself starts with refs/"}},
		{"A-G4_leading_slash", "/docs/**", PathPattern, []string{"changed paths never start with '/', so this pattern never matches; remove the leading '/'"}},
		{"A-G4_negated_leading_slash", "!/docs/**", PathPattern, []string{"changed paths never start with '/', so this pattern never matches; remove the leading '/'"}},
		{"ref_leading_slash", "/main", RefPattern, []string{"ref names cannot start with '/', so this pattern never matches"}},
		{"ref_trailing_slash", "feature/", RefPattern, []string{`ref names cannot end with "/", so this pattern never matches`}},
		{"ref_trailing_dot", "v1.", RefPattern, []string{`ref names cannot end with ".", so this pattern never matches`}},
		{"path_leading_space", " docs/**", PathPattern, []string{"changed paths never start or end with white space here, so this pattern likely never matches"}},
		{"path_dot_slash", "./docs/**", PathPattern, []string{"paths are matched from the repository root and never start with '.' or '..' segments, so this pattern never matches; remove the leading \"./\""}},
		{"path_dotdot", "..", PathPattern, []string{"paths are matched from the repository root and never start with '.' or '..' segments, so this pattern never matches; remove the leading \"./\""}},
		{"negated_dot_slash", "!./x", PathPattern, []string{"paths are matched from the repository root and never start with '.' or '..' segments, so this pattern never matches; remove the leading \"./\""}},
		{"clean", "docs/**", PathPattern, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Compile(tc.pattern, tc.kind)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(p.Warnings(), tc.want) {
				t.Errorf("Warnings() = %q, want %q", p.Warnings(), tc.want)
			}
		})
	}
	// A-G3 and A-G4: the warned patterns still compile and behave per the regex model.
	p, _ := Compile("refs/heads/main", RefPattern)
	if p.Match("main") {
		t.Error(`"refs/heads/main" matched branch name "main"`)
	}
	p, _ = Compile("/docs/**", PathPattern)
	if p.Match("docs/a.md") {
		t.Error(`"/docs/**" matched "docs/a.md"`)
	}
}

func TestPatternAccessors(t *testing.T) {
	p, err := Compile("!docs/**", PathPattern)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Negated() || p.String() != "!docs/**" || p.Kind() != PathPattern {
		t.Errorf("got Negated=%v String=%q Kind=%v", p.Negated(), p.String(), p.Kind())
	}
	if !p.Match("docs/a.md") {
		t.Error("Match must ignore the negation")
	}
	if RefPattern.String() != "ref" || PathPattern.String() != "path" {
		t.Error("Kind.String")
	}
}
