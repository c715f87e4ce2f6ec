package azure

import (
	"slices"
	"testing"
)

func TestBranchFilter(t *testing.T) {
	type tc struct {
		name             string
		include, exclude []string
		ref              string
		want             bool
		reason           string
	}
	features := []string{"features/*"}
	experimental := []string{"features/experimental/*"}
	cases := []tc{
		// The schema example: include features/*, exclude features/experimental/*.
		{"docs_example/features/x_included", features, experimental, "refs/heads/features/x", true, `branch refs/heads/features/x matches include "features/*"`},
		{"docs_example/star_crosses_slash", features, experimental, "refs/heads/features/a/b", true, ""},
		{"docs_example/experimental_excluded", features, experimental, "refs/heads/features/experimental/y", false, `branch refs/heads/features/experimental/y excluded by "features/experimental/*"`},
		{"docs_example/main_not_included", features, experimental, "refs/heads/main", false, "branch refs/heads/main matches no include"},
		{"feature/*_vs_feature/experimental/*", []string{"feature/*"}, []string{"feature/experimental/*"}, "refs/heads/feature/experimental/y", false, `branch refs/heads/feature/experimental/y excluded by "feature/experimental/*"`},
		{"exclude_wins_over_more_specific_include", []string{"releases/v1/hotfix"}, []string{"releases/*"}, "refs/heads/releases/v1/hotfix", false, ""},
		{"star_matches_nested_user_branch", []string{"*"}, nil, "refs/heads/users/alice/fix", true, ""},
		{"no_wildcard_is_exact_not_prefix", []string{"releases/old"}, nil, "refs/heads/releases/old2", false, ""},
		{"no_wildcard_exact", []string{"main"}, nil, "refs/heads/main", true, `branch refs/heads/main matches include "main"`},
		{"releases/old*_starts_with", []string{"releases/old*"}, nil, "refs/heads/releases/old-2019", true, ""},
		{"wildcard_anywhere", []string{"*-releases"}, nil, "refs/heads/team/q1-releases", true, ""},
		{"wildcard_middle", []string{"rel*/v?"}, nil, "refs/heads/release/x/v2", true, ""},
		{"question_exactly_one", []string{"v?"}, nil, "refs/heads/v10", false, ""},
		{"question_one", []string{"v?"}, nil, "refs/heads/v1", true, ""},
		{"question_not_zero", []string{"v?"}, nil, "refs/heads/v", false, ""},
		{"A-Z9_question_matches_slash", []string{"a?b"}, nil, "refs/heads/a/b", true, ""},
		{"dot_literal", []string{"v1.0"}, nil, "refs/heads/v1x0", false, ""},
		{"plus_literal", []string{"feature+x"}, nil, "refs/heads/feature+x", true, ""},
		{"brackets_literal", []string{"[CB]at"}, nil, "refs/heads/Cat", false, ""},
		{"brackets_literal_match", []string{"[CB]at"}, nil, "refs/heads/[CB]at", true, ""},
		{"A-Z4_case_sensitive", []string{"main"}, nil, "refs/heads/Main", false, ""},
		{"anchored", []string{"main"}, nil, "refs/heads/xmain", false, ""},
		{"full_ref_entry", []string{"refs/heads/main"}, nil, "refs/heads/main", true, `branch refs/heads/main matches include "refs/heads/main"`},
		{"tag_entry_matches_tag", []string{"refs/tags/v*"}, nil, "refs/tags/v1.2", true, `ref refs/tags/v1.2 matches include "refs/tags/v*"`},
		{"A-Z2_bare_star_does_not_match_tag", []string{"*"}, nil, "refs/tags/v1", false, "ref refs/tags/v1 matches no include"},
		{"A-Z2_bare_entry_does_not_match_tag", []string{"releases/*"}, nil, "refs/tags/releases/1", false, ""},
		{"exclude_only_includes_star", nil, []string{"wip/*"}, "refs/heads/main", true, "branch refs/heads/main is not excluded (no include list, so every branch is included)"},
		{"exclude_only_excludes", nil, []string{"wip/*"}, "refs/heads/wip/x", false, `branch refs/heads/wip/x excluded by "wip/*"`},
		{"exclude_only_not_tags", nil, []string{"wip/*"}, "refs/tags/v1", false, ""},
		{"exclude_tag_entry", []string{"*", "refs/tags/*"}, []string{"refs/tags/old-*"}, "refs/tags/old-1", false, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, err := NewBranchFilter(c.include, c.exclude)
			if err != nil {
				t.Fatal(err)
			}
			ok, reason := f.Decide(c.ref)
			if ok != c.want || f.Match(c.ref) != c.want {
				t.Errorf("Decide(%q) = %v (%s), want %v", c.ref, ok, reason, c.want)
			}
			if c.reason != "" && reason != c.reason {
				t.Errorf("reason:\n got  %q\n want %q", reason, c.reason)
			}
		})
	}
}

func TestTagFilter(t *testing.T) {
	cases := []struct {
		name             string
		include, exclude []string
		tag              string
		want             bool
		reason           string
	}{
		{"docs_example/v2.1_included", []string{"v2.*"}, []string{"v2.0"}, "v2.1", true, `tag v2.1 matches include "v2.*"`},
		{"docs_example/v2.0_excluded", []string{"v2.*"}, []string{"v2.0"}, "v2.0", false, `tag v2.0 excluded by "v2.0"`},
		{"docs_example/v3.0_not_included", []string{"v2.*"}, []string{"v2.0"}, "v3.0", false, "tag v3.0 matches no include"},
		{"star_crosses_slash", []string{"release/*"}, nil, "release/a/b", true, ""},
		{"matched_against_name_not_ref", []string{"v1"}, nil, "refs/tags/v1", false, ""},
		{"exclude_only", nil, []string{"nightly-*"}, "v1", true, "tag v1 is not excluded (no include list, so every tag is included)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, err := NewTagFilter(c.include, c.exclude)
			if err != nil {
				t.Fatal(err)
			}
			ok, reason := f.Decide(c.tag)
			if ok != c.want {
				t.Errorf("Decide(%q) = %v (%s), want %v", c.tag, ok, reason, c.want)
			}
			if c.reason != "" && reason != c.reason {
				t.Errorf("reason:\n got  %q\n want %q", reason, c.reason)
			}
		})
	}
}

func TestRefFilterErrors(t *testing.T) {
	cases := []struct {
		name             string
		tags             bool
		include, exclude []string
		want             string
	}{
		{"empty_include", false, []string{"main", ""}, nil, `include[1]: branch pattern "": empty pattern`},
		{"blank_exclude", false, nil, []string{"  "}, `exclude[0]: branch pattern "  ": empty pattern`},
		{"empty_tag", true, []string{""}, nil, `include[0]: tag pattern "": empty pattern`},
		{"invalid_utf8", false, []string{"a\xff"}, nil, `include[0]: branch pattern "a\xff": not valid UTF-8`},
		{"all_reported", false, []string{""}, []string{""}, "include[0]: branch pattern \"\": empty pattern\nexclude[0]: branch pattern \"\": empty pattern"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			build := NewBranchFilter
			if c.tags {
				build = NewTagFilter
			}
			_, err := build(c.include, c.exclude)
			if err == nil || err.Error() != c.want {
				t.Errorf("error = %v, want %q", err, c.want)
			}
		})
	}
}

func TestRefFilterLists(t *testing.T) {
	f, err := NewBranchFilter(nil, []string{"a"})
	if err != nil {
		t.Fatal(err)
	}
	if f.Includes() != nil || !slices.Equal(f.Excludes(), []string{"a"}) {
		t.Errorf("Includes=%q Excludes=%q", f.Includes(), f.Excludes())
	}
	f, _ = NewBranchFilter([]string{"main", "rel/*"}, nil)
	if !slices.Equal(f.Includes(), []string{"main", "rel/*"}) {
		t.Errorf("Includes=%q", f.Includes())
	}
}
