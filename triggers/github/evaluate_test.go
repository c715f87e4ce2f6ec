package github

import (
	"fmt"
	"testing"
)

func mustParse(t testing.TB, src string) *Workflow {
	t.Helper()
	w, err := ParseWorkflow("wf.yml", []byte(src))
	if err != nil {
		t.Fatalf("ParseWorkflow:\n%s\nerror: %v", src, err)
	}
	return w
}

type evalCase struct {
	name   string
	yaml   string
	ev     Event
	want   bool
	reason string // checked when not empty
}

func runEvalCases(t *testing.T, cases []evalCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := mustParse(t, tc.yaml)
			got := w.Evaluate(tc.ev)
			if got.Triggered != tc.want {
				t.Errorf("Evaluate(%+v) = %+v, want triggered=%v", tc.ev, got, tc.want)
			}
			if tc.reason != "" && got.Reason != tc.reason {
				t.Errorf("reason:\n got  %q\n want %q", got.Reason, tc.reason)
			}
			if got.Reason == "" {
				t.Error("empty reason")
			}
		})
	}
}

const (
	onlyBranches = "on:\n  push:\n    branches: [main]\n"
	onlyTags     = "on:\n  push:\n    tags: ['v*']\n"
	branchesTags = "on:\n  push:\n    branches: [main]\n    tags: ['v*']\n"
	noFilters    = "on: push\n"
)

func push(ref string, paths ...string) Event {
	return Event{Name: "push", Ref: ref, Paths: paths}
}

func pr(base string, paths ...string) Event {
	return Event{Name: "pull_request", Ref: base, Paths: paths}
}

// §1.5 rule 1: which ref types run depends on which filters are defined.
func TestRule1RefTypePresence(t *testing.T) {
	runEvalCases(t, []evalCase{
		{"only_branches/tag_push_does_not_run", onlyBranches, push("refs/tags/v1"), false, "tag push (v1) and the workflow filters only branches"},
		{"only_branches/branch_push_runs", onlyBranches, push("refs/heads/main"), true, `branch main matches "main"`},
		{"only_branches_ignore/tag_push_does_not_run", "on:\n  push:\n    branches-ignore: [dev]\n", push("refs/tags/v1"), false, ""},
		{"only_tags/branch_push_does_not_run", onlyTags, push("refs/heads/main"), false, "branch push (main) and the workflow filters only tags"},
		{"only_tags/tag_push_runs", onlyTags, push("refs/tags/v1.2"), true, `tag v1.2 matches "v*"`},
		{"only_tags_ignore/branch_push_does_not_run", "on:\n  push:\n    tags-ignore: ['v*']\n", push("refs/heads/main"), false, ""},
		{"only_tags_ignore/other_tag_runs", "on:\n  push:\n    tags-ignore: ['v*']\n", push("refs/tags/x1"), true, "tag x1 matches no pattern in tags-ignore"},
		{"only_tags_ignore/ignored_tag", "on:\n  push:\n    tags-ignore: ['v*']\n", push("refs/tags/v1"), false, `tag v1 ignored by "v*"`},
		{"neither/branch_push_runs", noFilters, push("refs/heads/anything"), true, "push has no filters"},
		{"neither/tag_push_runs", noFilters, push("refs/tags/v9"), true, "tag push (v9) and no branch or tag filters"},
		{"both/branch_checked_against_branches", branchesTags, push("refs/heads/main"), true, ""},
		{"both/other_branch_not_run", branchesTags, push("refs/heads/dev"), false, "branch dev matches no pattern in branches"},
		{"both/tag_checked_against_tags", branchesTags, push("refs/tags/v2"), true, `tag v2 matches "v*"`},
		{"both/other_tag_not_run", branchesTags, push("refs/tags/x2"), false, "tag x2 matches no pattern in tags"},
		{"branch_patterns_not_tested_against_tags", "on:\n  push:\n    branches: ['**']\n    tags: [v1]\n", push("refs/tags/v2"), false, ""},
		{"tag_patterns_not_tested_against_branches", "on:\n  push:\n    branches: [main]\n    tags: ['**']\n", push("refs/heads/dev"), false, ""},
		{"bare_ref_is_a_branch", onlyBranches, push("main"), true, ""},
		{"branch_excluded_by_negation", "on:\n  push:\n    branches: ['releases/**', '!releases/**-alpha']\n", push("refs/heads/releases/2-alpha"), false, `branch releases/2-alpha excluded by "!releases/**-alpha"`},
		{"branch_ignored", "on:\n  push:\n    branches-ignore: ['mona/octocat']\n", push("refs/heads/mona/octocat"), false, `branch mona/octocat ignored by "mona/octocat"`},
		{"A-G3_full_ref_pattern_never_matches", "on:\n  push:\n    branches: [refs/heads/main]\n", push("refs/heads/main"), false, ""},
	})
}

// §1.5 rules 2-4 and the any-file semantics of §1.4.
func TestPathRules(t *testing.T) {
	const branchesPaths = "on:\n  push:\n    branches: [main]\n    paths: ['src/**']\n"
	const tagsPaths = "on:\n  push:\n    tags: ['v*']\n    paths: ['src/**']\n"
	const pathsOnly = "on:\n  push:\n    paths: ['src/**']\n"
	const ignoreDocs = "on:\n  push:\n    paths-ignore: ['docs/**']\n"
	runEvalCases(t, []evalCase{
		{"rule2_both_satisfied", branchesPaths, push("refs/heads/main", "src/a.go"), true, `branch main matches "main"; src/a.go matches "src/**"`},
		{"rule2_branch_fails", branchesPaths, push("refs/heads/dev", "src/a.go"), false, "branch dev matches no pattern in branches"},
		{"rule2_paths_fail", branchesPaths, push("refs/heads/main", "docs/a.md"), false, "no changed path matches the paths filter"},
		{"rule2_pr_both_satisfied", "on:\n  pull_request:\n    branches: [main]\n    paths: ['src/**']\n", pr("main", "src/x"), true, ""},
		{"rule2_pr_paths_fail", "on:\n  pull_request:\n    branches: [main]\n    paths: ['src/**']\n", pr("main", "x"), false, ""},
		{"rule3_tag_push_skips_paths", tagsPaths, push("refs/tags/v1", "docs/a.md"), true, `tag v1 matches "v*"; path filters are not evaluated for tag pushes`},
		{"rule3_tag_push_skips_paths_no_files", tagsPaths, push("refs/tags/v1"), true, ""},
		{"rule3_tag_push_paths_only_workflow", pathsOnly, push("refs/tags/v1"), true, ""},
		{"rule3_tag_push_skips_paths_ignore", "on:\n  push:\n    paths-ignore: ['**']\n", push("refs/tags/v1", "a"), true, ""},
		{"rule4_no_changed_files_paths", pathsOnly, push("refs/heads/main"), false, "no changed files and the workflow has a path filter"},
		{"rule4_no_changed_files_paths_ignore", ignoreDocs, push("refs/heads/main"), false, "no changed files and the workflow has a path filter"},
		{"rule4_no_changed_files_no_path_filter", noFilters, push("refs/heads/main"), true, ""},
		{"paths_any_file_matches", pathsOnly, push("refs/heads/x", "README.md", "src/a.go"), true, `src/a.go matches "src/**"`},
		{"paths_no_file_matches", pathsOnly, push("refs/heads/x", "README.md", "docs/x"), false, ""},
		{"paths_ignore_all_ignored", ignoreDocs, push("refs/heads/x", "docs/a.md", "docs/b/c.md"), false, "every changed path matches paths-ignore"},
		{"paths_ignore_one_not_ignored", ignoreDocs, push("refs/heads/x", "docs/a.md", "src/a.go"), true, "src/a.go is not ignored by paths-ignore"},
		{"paths_ordered_list_md", "on:\n  push:\n    paths: ['*.md', '!README.md', 'README*']\n", push("refs/heads/x", "README.md"), true, `README.md matches "README*"`},
		{"paths_ordered_list_excluded", "on:\n  push:\n    paths: ['*.md', '!README.md']\n", push("refs/heads/x", "README.md"), false, ""},
		{"paths_sub-project_docs_excluded", "on:\n  push:\n    paths: ['sub-project/**', '!sub-project/docs/**']\n", push("refs/heads/x", "sub-project/docs/a.md"), false, ""},
		{"paths_**/README.md", "on:\n  push:\n    paths: ['**/README.md']\n", push("refs/heads/x", "README.md"), true, ""},
		{"A-G4_leading_slash_never_matches", "on:\n  push:\n    paths: ['/docs/**']\n", push("refs/heads/x", "docs/a.md"), false, ""},
		{"rule7_submodule_path", "on:\n  push:\n    paths: ['vendor/lib']\n", push("refs/heads/x", "vendor/lib"), true, ""},
	})
}

func TestPullRequestEvents(t *testing.T) {
	const prMain = "on:\n  pull_request:\n    branches: [main]\n"
	runEvalCases(t, []evalCase{
		{"base_branch_matches", prMain, pr("refs/heads/main"), true, `branch main matches "main"`},
		{"base_branch_bare_name", prMain, pr("main"), true, ""},
		{"other_base_not_run", prMain, pr("refs/heads/dev"), false, ""},
		{"push_not_in_on", prMain, push("refs/heads/main"), false, "the workflow is not triggered by push"},
		{"pr_not_in_on", onlyBranches, pr("main"), false, "the workflow is not triggered by pull_request"},
		{"target_not_in_on", prMain, Event{Name: "pull_request_target", Ref: "main"}, false, "the workflow is not triggered by pull_request_target"},
		{"target_filters", "on:\n  pull_request_target:\n    branches-ignore: [main]\n", Event{Name: "pull_request_target", Ref: "dev"}, true, ""},
		{"target_filters_ignored", "on:\n  pull_request_target:\n    branches-ignore: [main]\n", Event{Name: "pull_request_target", Ref: "main"}, false, ""},
		{"list_form", "on: [push, pull_request]\n", pr("any"), true, "pull_request has no filters"},
		{"null_value", "on:\n  pull_request:\n  push:\n", pr("any"), true, ""},
		{"unsupported_event", noFilters, Event{Name: "schedule"}, false, `unsupported event "schedule"; want push, pull_request or pull_request_target`},
		{"rule8_default_types_opened", "on: pull_request\n", Event{Name: "pull_request", Ref: "main", Action: "opened"}, true, ""},
		{"rule8_default_types_synchronize", "on: pull_request\n", Event{Name: "pull_request", Ref: "main", Action: "synchronize"}, true, ""},
		{"rule8_default_types_reopened", "on: pull_request\n", Event{Name: "pull_request", Ref: "main", Action: "reopened"}, true, ""},
		{"rule8_default_types_not_closed", "on: pull_request\n", Event{Name: "pull_request", Ref: "main", Action: "closed"}, false, `activity type "closed" is not one of types [opened, synchronize, reopened]`},
		{"explicit_types", "on:\n  pull_request:\n    types: [closed]\n", Event{Name: "pull_request", Ref: "main", Action: "closed"}, true, ""},
		{"explicit_types_exclude_default", "on:\n  pull_request:\n    types: [closed]\n", Event{Name: "pull_request", Ref: "main", Action: "opened"}, false, ""},
	})
}

// A-G9: the 300-file limit is not emulated, so a match beyond the 300th file still counts.
func TestNoPlatformLimits_A_G9(t *testing.T) {
	paths := make([]string, 0, 301)
	for i := range 300 {
		paths = append(paths, fmt.Sprintf("other/%d.txt", i))
	}
	paths = append(paths, "src/late.go")
	w := mustParse(t, "on:\n  push:\n    paths: ['src/**']\n")
	if got := w.Evaluate(push("refs/heads/main", paths...)); !got.Triggered {
		t.Errorf("301st file matching: %+v, want triggered", got)
	}
}
