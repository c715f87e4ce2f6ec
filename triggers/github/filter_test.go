package github

import "testing"

func TestFilterOrderedLastMatchWins(t *testing.T) {
	cases := []struct {
		name     string
		patterns []string
		kind     Kind
		in       string
		want     bool
	}{
		// Cheat sheet: '*.md', '!README.md', 'README*'.
		{"md_list/hello.md_included", []string{"*.md", "!README.md", "README*"}, PathPattern, "hello.md", true},
		{"md_list/README.md_reincluded", []string{"*.md", "!README.md", "README*"}, PathPattern, "README.md", true},
		{"md_list/README.doc_included", []string{"*.md", "!README.md", "README*"}, PathPattern, "README.doc", true},
		{"md_list/docs/hello.md_not_root", []string{"*.md", "!README.md", "README*"}, PathPattern, "docs/hello.md", false},
		{"md_list_without_reinclude/README.md_excluded", []string{"*.md", "!README.md"}, PathPattern, "README.md", false},
		// Branch example: releases/**, but not releases/**-alpha.
		{"releases/10_included", []string{"releases/**", "!releases/**-alpha"}, RefPattern, "releases/10", true},
		{"releases/beta/mona_included", []string{"releases/**", "!releases/**-alpha"}, RefPattern, "releases/beta/mona", true},
		{"releases/10-alpha_excluded", []string{"releases/**", "!releases/**-alpha"}, RefPattern, "releases/10-alpha", false},
		{"releases/beta/3-alpha_excluded", []string{"releases/**", "!releases/**-alpha"}, RefPattern, "releases/beta/3-alpha", false},
		{"main_not_listed", []string{"releases/**", "!releases/**-alpha"}, RefPattern, "main", false},
		// Path example: sub-project/**, except sub-project/docs/**.
		{"sub-project/src_included", []string{"sub-project/**", "!sub-project/docs/**"}, PathPattern, "sub-project/src/a.go", true},
		{"sub-project/docs_excluded", []string{"sub-project/**", "!sub-project/docs/**"}, PathPattern, "sub-project/docs/a.md", false},
		// Negation before the positive entry has nothing to undo.
		{"negation_first_then_positive_wins", []string{"!a*", "a*"}, RefPattern, "ab", true},
		{"positive_negative_positive", []string{"a*", "!ab", "ab"}, RefPattern, "ab", true},
		{"empty_list_includes_nothing", nil, RefPattern, "main", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, err := NewFilter(tc.patterns, tc.kind)
			if err != nil {
				t.Fatal(err)
			}
			if got := f.Included(tc.in); got != tc.want {
				t.Errorf("Included(%q) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}

func TestFilterDecideReportsPattern(t *testing.T) {
	f, err := NewFilter([]string{"*.md", "!README.md"}, PathPattern)
	if err != nil {
		t.Fatal(err)
	}
	ok, by := f.Decide("README.md")
	if ok || by == nil || by.String() != "!README.md" {
		t.Errorf("Decide(README.md) = %v, %v; want false, !README.md", ok, by)
	}
	ok, by = f.Decide("x.go")
	if ok || by != nil {
		t.Errorf("Decide(x.go) = %v, %v; want false, nil", ok, by)
	}
	if len(f.Patterns()) != 2 {
		t.Errorf("Patterns() has %d entries", len(f.Patterns()))
	}
}

func TestFilterOnlyNegated_A_G7(t *testing.T) {
	_, err := NewFilter([]string{"!main", "!dev"}, RefPattern)
	want := "every pattern starts with '!', so nothing can be included; add a positive pattern or use the -ignore form"
	if err == nil || err.Error() != want {
		t.Fatalf("NewFilter(only '!') error = %v, want %q", err, want)
	}
}

func TestFilterCompileErrorsJoined(t *testing.T) {
	_, err := NewFilter([]string{"", "ok", "v*+"}, RefPattern)
	want := "ref pattern \"\": empty pattern\nref pattern \"v*+\": '+' at offset 2 follows a special character; it can only repeat a plain character or a [...] set"
	if err == nil || err.Error() != want {
		t.Fatalf("error = %v, want %q", err, want)
	}
}

func TestIgnoreAnyMatch(t *testing.T) {
	cases := []struct {
		name     string
		patterns []string
		kind     Kind
		in       string
		want     bool
	}{
		{"docs_ignored", []string{"docs/**", "*.md"}, PathPattern, "docs/a.txt", true},
		{"root_md_ignored", []string{"docs/**", "*.md"}, PathPattern, "README.md", true},
		{"src_not_ignored", []string{"docs/**", "*.md"}, PathPattern, "src/a.go", false},
		{"branch_mona/octocat_ignored", []string{"mona/octocat", "releases/**-alpha"}, RefPattern, "mona/octocat", true},
		{"branch_releases/beta/3-alpha_ignored", []string{"mona/octocat", "releases/**-alpha"}, RefPattern, "releases/beta/3-alpha", true},
		{"branch_main_not_ignored", []string{"mona/octocat", "releases/**-alpha"}, RefPattern, "main", false},
		{"escaped_bang_is_literal", []string{`\!x`}, PathPattern, "!x", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, err := NewIgnore(tc.patterns, tc.kind)
			if err != nil {
				t.Fatal(err)
			}
			if got := f.Ignored(tc.in); got != tc.want {
				t.Errorf("Ignored(%q) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}

func TestIgnoreRejectsNegation_A_G2(t *testing.T) {
	_, err := NewIgnore([]string{"*.md", "!README.md"}, PathPattern)
	want := `pattern "!README.md": '!' is not allowed in an ignore list; use the positive list with '!' entries instead, or escape it as \! for a literal '!'`
	if err == nil || err.Error() != want {
		t.Fatalf("error = %v, want %q", err, want)
	}
}
