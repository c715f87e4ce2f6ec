package azure

import "testing"

type evalCase struct {
	name   string
	yaml   string
	ev     Event
	opt    EvalOptions
	want   bool
	reason string // checked when not empty
}

func runEvalCases(t *testing.T, cases []evalCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := mustParse(t, tc.yaml)
			got := p.Evaluate(tc.ev, tc.opt)
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

func push(ref string, paths ...string) Event {
	return Event{Ref: ref, Paths: paths, PathsKnown: true}
}

func pr(target string, paths ...string) Event {
	return Event{PullRequest: true, Ref: target, Paths: paths, PathsKnown: true}
}

const steps = "steps:\n  - script: echo hi\n"

func TestDefaultsAndNone(t *testing.T) {
	runEvalCases(t, []evalCase{
		{"implied_ci_trigger_any_branch", steps, push("refs/heads/users/alice/fix"), EvalOptions{}, true, `branch refs/heads/users/alice/fix matches include "*" (no trigger section: implied CI trigger)`},
		{"implied_ci_trigger_bare_ref", steps, push("main"), EvalOptions{}, true, ""},
		{"implied_ci_trigger_disabled", steps, push("refs/heads/main"), EvalOptions{DisableImpliedCITrigger: true}, false, "no trigger section and the implied CI trigger is disabled"},
		{"disable_setting_ignored_with_trigger_section", "trigger: [main]\n", push("refs/heads/main"), EvalOptions{DisableImpliedCITrigger: true}, true, ""},
		{"implied_ci_trigger_tags_do_not_trigger", steps, push("refs/tags/v1"), EvalOptions{}, false, "tag push and no tag filter"},
		{"trigger_none", "trigger: none\n", push("refs/heads/main"), EvalOptions{}, false, "trigger: none"},
		{"trigger_none_tag", "trigger: none\n", push("refs/tags/v1"), EvalOptions{}, false, "trigger: none"},
		{"trigger_none_does_not_stop_pr", "trigger: none\n", pr("refs/heads/main"), EvalOptions{}, true, ""},
		{"explicit_trigger_replaces_default", "trigger: [main]\n", push("refs/heads/dev"), EvalOptions{}, false, "branch refs/heads/dev matches no include"},
		{"explicit_trigger_list", "trigger:\n- main\n- releases/*\n", push("refs/heads/releases/1.0"), EvalOptions{}, true, `branch refs/heads/releases/1.0 matches include "releases/*"`},
		{"empty_trigger_list_includes_nothing", "trigger: []\n", push("refs/heads/main"), EvalOptions{}, false, ""},
		{"batch_does_not_affect_matching", "trigger:\n  batch: true\n  branches:\n    include: [main]\n", push("refs/heads/main"), EvalOptions{}, true, ""},
		{"batch_only_mapping_all_branches", "trigger:\n  batch: true\n", push("refs/heads/x"), EvalOptions{}, true, ""},
	})
}

func TestBranchRules(t *testing.T) {
	const features = "trigger:\n  branches:\n    include: ['feature/*']\n    exclude: ['feature/experimental/*']\n"
	runEvalCases(t, []evalCase{
		{"feature/*_matches", features, push("refs/heads/feature/x"), EvalOptions{}, true, `branch refs/heads/feature/x matches include "feature/*"`},
		{"feature/*_crosses_slash", features, push("refs/heads/feature/a/b"), EvalOptions{}, true, ""},
		{"feature/experimental/*_excluded", features, push("refs/heads/feature/experimental/y"), EvalOptions{}, false, `branch refs/heads/feature/experimental/y excluded by "feature/experimental/*"`},
		{"exclude_only_branches", "trigger:\n  branches:\n    exclude: [wip/*]\n", push("refs/heads/main"), EvalOptions{}, true, ""},
		{"exclude_only_branches_excluded", "trigger:\n  branches:\n    exclude: [wip/*]\n", push("refs/heads/wip/a"), EvalOptions{}, false, ""},
		{"A-Z4_case_sensitive", "trigger: [main]\n", push("refs/heads/MAIN"), EvalOptions{}, false, ""},
	})
}

func TestTagRules(t *testing.T) {
	const tagsOnly = "trigger:\n  tags:\n    include: ['v2.*']\n    exclude: ['v2.0']\n"
	const branchesAndTags = "trigger:\n  branches:\n    include: [main, refs/tags/v2.0]\n  tags:\n    include: ['v2.*']\n    exclude: ['v2.0']\n"
	runEvalCases(t, []evalCase{
		{"tags_include", tagsOnly, push("refs/tags/v2.1"), EvalOptions{}, true, `tag v2.1 matches include "v2.*"`},
		{"tags_exclude", tagsOnly, push("refs/tags/v2.0"), EvalOptions{}, false, `tag v2.0 excluded by "v2.0"`},
		{"tags_not_included", tagsOnly, push("refs/tags/v3"), EvalOptions{}, false, "tag v3 matches no include"},
		{"tags_only_no_branch", tagsOnly, push("refs/heads/main"), EvalOptions{}, false, "branch push and the trigger lists only tags"},
		{"tags_exclude_only", "trigger:\n  tags:\n    exclude: [nightly]\n", push("refs/tags/v9"), EvalOptions{}, true, ""},
		{"tags_exclude_only_excluded", "trigger:\n  tags:\n    exclude: [nightly]\n", push("refs/tags/nightly"), EvalOptions{}, false, ""},
		{"branch_list_without_tags_no_tag", "trigger: [main]\n", push("refs/tags/v1"), EvalOptions{}, false, "tag push and no tag filter"},
		{"A-Z2_star_branch_does_not_match_tags", "trigger: ['*']\n", push("refs/tags/v1"), EvalOptions{}, false, "tag push and no tag filter"},
		{"refs/tags_entry_in_branches", "trigger:\n  branches:\n    include: [main, 'refs/tags/v*']\n", push("refs/tags/v1"), EvalOptions{}, true, `ref refs/tags/v1 matches include "refs/tags/v*"`},
		{"refs/tags_entry_not_matching", "trigger:\n  branches:\n    include: ['refs/tags/v*']\n", push("refs/tags/x1"), EvalOptions{}, false, "ref refs/tags/x1 matches no include"},
		{"refs/tags_entry_excluded", "trigger:\n  branches:\n    include: ['*']\n    exclude: ['refs/tags/old']\n", push("refs/tags/old"), EvalOptions{}, false, ""},
		{"either_filter_branch_satisfied_despite_tag_exclude", branchesAndTags, push("refs/tags/v2.0"), EvalOptions{}, true, `ref refs/tags/v2.0 matches include "refs/tags/v2.0"`},
		{"either_filter_tag_satisfied", branchesAndTags, push("refs/tags/v2.5"), EvalOptions{}, true, `tag v2.5 matches include "v2.*"`},
		{"either_filter_branch_push", branchesAndTags, push("refs/heads/main"), EvalOptions{}, true, ""},
		{"either_filter_neither", branchesAndTags, push("refs/tags/v1"), EvalOptions{}, false, "tag v1 matches no include"},
		{"branch_exclusion_and_tag_failure", "trigger:\n  branches:\n    include: ['refs/tags/*']\n    exclude: ['refs/tags/v1']\n  tags:\n    include: [x]\n", push("refs/tags/v1"), EvalOptions{}, false, `ref refs/tags/v1 excluded by "refs/tags/v1"; tag v1 matches no include`},
	})
}

func TestPathRules(t *testing.T) {
	const docs = "trigger:\n  branches:\n    include: [main]\n  paths:\n    include: [docs]\n    exclude: [docs/README.md]\n"
	const tools = "trigger:\n  branches:\n    include: ['*']\n  paths:\n    include: [tools/trigger-runs-on-these]\n    exclude: [tools]\n"
	const tagsPaths = "trigger:\n  tags:\n    include: ['v*']\n  paths:\n    include: [src]\n"
	const pathsOnly = "trigger:\n  paths:\n    include: [src]\n"
	runEvalCases(t, []evalCase{
		{"include_docs", docs, push("refs/heads/main", "docs/guide.md"), EvalOptions{}, true, `branch refs/heads/main matches include "main"; docs/guide.md included by "docs"`},
		{"exclude_docs/README.md", docs, push("refs/heads/main", "docs/README.md"), EvalOptions{}, false, "no changed path matches the path filter"},
		{"any_file_included", docs, push("refs/heads/main", "docs/README.md", "docs/a.md"), EvalOptions{}, true, `branch refs/heads/main matches include "main"; docs/a.md included by "docs"`},
		{"branch_and_paths_both_needed", docs, push("refs/heads/dev", "docs/a.md"), EvalOptions{}, false, "branch refs/heads/dev matches no include"},
		{"tools_deeper_include", tools, push("refs/heads/x", "tools/trigger-runs-on-these/run.sh"), EvalOptions{}, true, ""},
		{"tools_excluded", tools, push("refs/heads/x", "tools/other.sh"), EvalOptions{}, false, ""},
		{"A-Z3_segment_boundary", docs, push("refs/heads/main", "docs2/a.md", "docs.md"), EvalOptions{}, false, ""},
		{"new_branch_no_changes_with_path_filter", docs, push("refs/heads/main"), EvalOptions{}, false, "no changed files and the trigger has a path filter"},
		{"new_branch_no_changes_without_path_filter", "trigger: [main]\n", push("refs/heads/main"), EvalOptions{}, true, ""},
		{"paths_unknown_not_evaluated", docs, Event{Ref: "refs/heads/main"}, EvalOptions{}, true, `branch refs/heads/main matches include "main"; changed paths unknown, so the path filter was not evaluated`},
		{"A-Z6_tag_push_skips_paths", tagsPaths, push("refs/tags/v1", "README.md"), EvalOptions{}, true, `tag v1 matches include "v*"; path filter not evaluated for tag pushes`},
		{"A-Z6_tag_push_no_files", tagsPaths, push("refs/tags/v1"), EvalOptions{}, true, ""},
		{"A-Z6_refs/tags_entry_skips_paths", "trigger:\n  branches:\n    include: ['refs/tags/*']\n  paths:\n    include: [src]\n", push("refs/tags/v1", "docs/x"), EvalOptions{}, true, ""},
		{"A-Z5_paths_without_branches_any_branch", pathsOnly, push("refs/heads/feature/x", "src/a.go"), EvalOptions{}, true, `branch refs/heads/feature/x matches include "*" (trigger lists no branches); src/a.go included by "src"`},
		{"A-Z5_paths_without_branches_path_fails", pathsOnly, push("refs/heads/x", "docs/a.md"), EvalOptions{}, false, ""},
		{"A-Z5_paths_without_branches_no_tags", pathsOnly, push("refs/tags/v1", "src/a.go"), EvalOptions{}, false, "tag push and no tag filter"},
		{"paths_exclude_only", "trigger:\n  branches:\n    include: [main]\n  paths:\n    exclude: [docs]\n", push("refs/heads/main", "src/a.go"), EvalOptions{}, true, ""},
		{"paths_exclude_only_all_excluded", "trigger:\n  branches:\n    include: [main]\n  paths:\n    exclude: [docs]\n", push("refs/heads/main", "docs/a.go"), EvalOptions{}, false, ""},
		{"paths_wildcard_docs_example", "trigger:\n  branches:\n    include: [main]\n  paths:\n    include: ['docs/*.md']\n", push("refs/heads/main", "docs/a.md"), EvalOptions{}, true, ""},
		{"paths_case_sensitive", "trigger:\n  branches:\n    include: [main]\n  paths:\n    include: [Docs]\n", push("refs/heads/main", "docs/a.md"), EvalOptions{}, false, ""},
		{"paths_empty_include_includes_nothing", "trigger:\n  branches:\n    include: [main]\n  paths:\n    include: []\n", push("refs/heads/main", "a"), EvalOptions{}, false, ""},
	})
}

func TestPullRequestRules(t *testing.T) {
	const prMain = "pr:\n- main\n- releases/*\n"
	runEvalCases(t, []evalCase{
		{"no_pr_section_any_target", steps, pr("refs/heads/anything"), EvalOptions{}, true, `target branch refs/heads/anything matches include "*" (no pr section: pull requests to any branch trigger)`},
		{"pr_none", "pr: none\n", pr("refs/heads/main"), EvalOptions{}, false, "pr: none"},
		{"pr_list_target_matches", prMain, pr("refs/heads/releases/2"), EvalOptions{}, true, `target branch refs/heads/releases/2 matches include "releases/*"`},
		{"pr_list_bare_target", prMain, pr("main"), EvalOptions{}, true, ""},
		{"pr_list_target_not_matching", prMain, pr("refs/heads/dev"), EvalOptions{}, false, "target branch refs/heads/dev matches no include"},
		{"pr_does_not_use_trigger", "trigger: none\npr: [main]\n", pr("main"), EvalOptions{}, true, ""},
		{"pr_not_affected_by_disable_implied_ci", steps, pr("main"), EvalOptions{DisableImpliedCITrigger: true}, true, ""},
		{"pr_branches_exclude", "pr:\n  branches:\n    include: ['*']\n    exclude: [legacy/*]\n", pr("legacy/1"), EvalOptions{}, false, `target branch refs/heads/legacy/1 excluded by "legacy/*"`},
		{"pr_mapping_without_branches_any_target", "pr:\n  autoCancel: false\n", pr("x"), EvalOptions{}, true, `target branch refs/heads/x matches include "*" (pr lists no branches)`},
		{"pr_paths", "pr:\n  branches:\n    include: [main]\n  paths:\n    include: [src]\n", pr("main", "src/a"), EvalOptions{}, true, `target branch refs/heads/main matches include "main"; src/a included by "src"`},
		{"pr_paths_not_matching", "pr:\n  branches:\n    include: [main]\n  paths:\n    include: [src]\n", pr("main", "docs/a"), EvalOptions{}, false, "no changed path matches the path filter"},
		{"pr_paths_no_files", "pr:\n  paths:\n    exclude: [docs]\n", pr("main"), EvalOptions{}, false, "no changed files and the trigger has a path filter"},
		{"drafts_default_true", "pr: [main]\n", Event{PullRequest: true, Ref: "main", Draft: true}, EvalOptions{}, true, ""},
		{"drafts_false", "pr:\n  drafts: false\n", Event{PullRequest: true, Ref: "main", Draft: true}, EvalOptions{}, false, "draft pull request and drafts: false"},
		{"drafts_false_ready_pr", "pr:\n  drafts: false\n", Event{PullRequest: true, Ref: "main"}, EvalOptions{}, true, ""},
	})
}
