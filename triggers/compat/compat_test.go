package compat

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
)

func load(t *testing.T, dialect, name string) Request {
	t.Helper()
	file := filepath.Join("testdata", dialect, name)
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return Request{Dialect: dialect, File: filepath.ToSlash(file), Data: data}
}

func TestEvaluateFiles(t *testing.T) {
	cases := []struct {
		name          string
		dialect, file string
		event, ref    string
		paths         []string
		disable       bool
		want          bool
		reason        string // checked when not empty
	}{
		// Azure: payments.yml.
		{"azure/payments/main_service_change", "azure", "payments.yml", "push", "main", []string{"services/payments/api.go"}, false, true, `branch refs/heads/main matches include "main"; services/payments/api.go included by "services/payments"`},
		{"azure/payments/release_branch_lib_change", "azure", "payments.yml", "push", "refs/heads/releases/2.1", []string{"libs/common/x.go"}, false, true, ""},
		{"azure/payments/old_release_excluded", "azure", "payments.yml", "push", "releases/old-1", []string{"libs/common/x.go"}, false, false, `branch refs/heads/releases/old-1 excluded by "releases/old*"`},
		{"azure/payments/docs_only_change", "azure", "payments.yml", "push", "main", []string{"services/payments/docs/a.md"}, false, false, "no changed path matches the path filter"},
		// Most specific means longest: "services/payments" (17) beats "**/README.md" (12).
		{"azure/payments/longer_include_beats_shorter_wildcard_exclude", "azure", "payments.yml", "push", "main", []string{"services/payments/README.md"}, false, true, `branch refs/heads/main matches include "main"; services/payments/README.md included by "services/payments"`},
		{"azure/payments/wildcard_exclude_beats_shorter_include", "azure", "payments.yml", "push", "main", []string{"libs/common/README.md"}, false, false, ""},
		{"azure/payments/other_service", "azure", "payments.yml", "push", "main", []string{"services/orders/a.go"}, false, false, ""},
		{"azure/payments/new_branch_no_changes", "azure", "payments.yml", "push", "main", nil, false, false, "no changed files and the trigger has a path filter"},
		{"azure/payments/tag_push_ignores_paths", "azure", "payments.yml", "push", "refs/tags/v1.4.0", []string{"README.md"}, false, true, `tag v1.4.0 matches include "v*"; path filter not evaluated for tag pushes`},
		{"azure/payments/rc_tag_excluded", "azure", "payments.yml", "push", "refs/tags/v1.4.0-rc1", nil, false, false, `tag v1.4.0-rc1 excluded by "v*-rc*"`},
		{"azure/payments/pr_to_main", "azure", "payments.yml", "pr", "main", []string{"libs/other/a.go"}, false, true, `target branch refs/heads/main matches include "main"; libs/other/a.go included by "libs"`},
		{"azure/payments/pr_to_feature", "azure", "payments.yml", "pr", "feature/x", []string{"libs/a.go"}, false, false, "target branch refs/heads/feature/x matches no include"},
		{"azure/payments/pull_request_alias", "azure", "payments.yml", "pull_request", "main", []string{"libs/a.go"}, false, true, ""},
		// Azure: defaults.
		{"azure/implied/any_branch", "azure", "implied.yml", "push", "users/a/fix", nil, false, true, `branch refs/heads/users/a/fix matches include "*" (no trigger section: implied CI trigger)`},
		{"azure/implied/disabled", "azure", "implied.yml", "push", "main", nil, true, false, "no trigger section and the implied CI trigger is disabled"},
		{"azure/implied/tags_do_not_trigger", "azure", "implied.yml", "push", "refs/tags/v1", nil, false, false, "tag push and no tag filter"},
		{"azure/implied/any_pr", "azure", "implied.yml", "pr", "dev", nil, false, true, ""},
		{"azure/pr-only/push", "azure", "pr-only.yml", "push", "main", nil, false, false, "trigger: none"},
		{"azure/pr-only/pr", "azure", "pr-only.yml", "pr", "feature/a/b", nil, false, true, ""},
		{"azure/release-tags/tag", "azure", "release-tags.yml", "push", "refs/tags/release-3", []string{"src/x"}, false, true, ""},
		{"azure/release-tags/branch", "azure", "release-tags.yml", "push", "main", []string{"charts/x"}, false, false, ""},
		{"azure/paths-only/any_branch_md", "azure", "paths-only.yml", "push", "feature/docs", []string{"docs/intro.md"}, false, true, ""},
		{"azure/paths-only/drafts_excluded", "azure", "paths-only.yml", "push", "main", []string{"docs/drafts/x.md"}, false, false, ""},
		{"azure/paths-only/nested_md_folder_semantics", "azure", "paths-only.yml", "push", "main", []string{"docs/guide.md/image.png"}, false, true, ""},
		{"azure/paths-only/nested_not_md", "azure", "paths-only.yml", "push", "main", []string{"docs/guide/a.md"}, false, false, ""},
		{"azure/normalised_paths", "azure", "payments.yml", "push", "main", []string{"./services/payments/a.go"}, false, true, ""},
		// GitHub: ci.yml.
		{"github/ci/push_main_service", "github", "ci.yml", "push", "refs/heads/main", []string{"services/api/main.go"}, false, true, `branch main matches "main"; services/api/main.go matches "services/api/**"`},
		{"github/ci/push_main_md_only", "github", "ci.yml", "push", "main", []string{"services/api/README.md"}, false, false, "no changed path matches the paths filter"},
		{"github/ci/push_go_mod", "github", "ci.yml", "push", "main", []string{"go.mod"}, false, true, ""},
		{"github/ci/push_release", "github", "ci.yml", "push", "releases/v2/rc", []string{"go.sum"}, false, true, ""},
		{"github/ci/push_alpha_release", "github", "ci.yml", "push", "releases/v2-alpha", []string{"go.sum"}, false, false, `branch releases/v2-alpha excluded by "!releases/**-alpha"`},
		{"github/ci/push_tag", "github", "ci.yml", "push", "refs/tags/v1", nil, false, false, "tag push (v1) and the workflow filters only branches"},
		{"github/ci/push_no_changes", "github", "ci.yml", "push", "main", nil, false, false, "no changed files and the workflow has a path filter"},
		{"github/ci/pr_code", "github", "ci.yml", "pr", "main", []string{"docs/a.md", "src/x.go"}, false, true, "branch main matches \"main\"; src/x.go is not ignored by paths-ignore"},
		{"github/ci/pr_docs_only", "github", "ci.yml", "pull_request", "main", []string{"docs/a.png", "x/README.md"}, false, false, "every changed path matches paths-ignore"},
		{"github/ci/pr_other_base", "github", "ci.yml", "pr", "dev", []string{"src/x.go"}, false, false, ""},
		{"github/ci/pr_target_not_listed", "github", "ci.yml", "pull_request_target", "main", nil, false, false, "the workflow is not triggered by pull_request_target"},
		{"github/release/semver_tag", "github", "release.yml", "push", "refs/tags/v1.22.3", nil, false, true, `tag v1.22.3 matches "v[0-9]+.[0-9]+.[0-9]+"; path filters are not evaluated for tag pushes`},
		{"github/release/not_semver", "github", "release.yml", "push", "refs/tags/v1.x", nil, false, false, ""},
		{"github/release/branch_push", "github", "release.yml", "push", "main", []string{"charts/a"}, false, false, "branch push (main) and the workflow filters only tags"},
		{"github/labeler/pr_target", "github", "labeler.yml", "pull_request_target", "main", nil, false, true, "branch main matches no pattern in branches-ignore"},
		{"github/labeler/pr_target_ignored", "github", "labeler.yml", "pull_request_target", "dependabot/go/x", nil, false, false, `branch dependabot/go/x ignored by "dependabot/**"`},
		{"github/labeler/pr_is_not_target", "github", "labeler.yml", "pr", "main", nil, false, false, "the workflow is not triggered by pull_request"},
		{"github/nightly/push", "github", "nightly.yml", "push", "main", nil, false, false, "the workflow is not triggered by push"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := load(t, tc.dialect, tc.file)
			req.Event, req.Ref, req.Paths, req.DisableImpliedCITrigger = tc.event, tc.ref, tc.paths, tc.disable
			got, err := Evaluate(req)
			if err != nil {
				t.Fatal(err)
			}
			if got.Triggered != tc.want {
				t.Errorf("Evaluate = %+v, want triggered=%v", got, tc.want)
			}
			if tc.reason != "" && got.Reason != tc.reason {
				t.Errorf("reason:\n got  %q\n want %q", got.Reason, tc.reason)
			}
		})
	}
}

func TestEvaluateErrors(t *testing.T) {
	cases := []struct {
		name          string
		dialect, file string
		event, ref    string
		want          string
	}{
		{"azure_invalid_file", "azure", "broken.yml", "push", "main", `invalid Azure Pipelines file: testdata/azure/broken.yml:4:3: trigger: unknown key "path"; expected one of "batch", "branches", "paths", "tags"`},
		{"github_invalid_file", "github", "broken.yml", "push", "main", "invalid GitHub Actions workflow: testdata/github/broken.yml:4:5: on.push: \"branches-ignore\" cannot be used together with \"branches\" (line 3) for the same event"},
		{"azure_pull_request_target", "azure", "payments.yml", "pull_request_target", "main", `event "pull_request_target" does not exist in Azure Pipelines (want push or pr)`},
		{"azure_unknown_event", "azure", "payments.yml", "tag", "main", `unknown event "tag" (want push or pr)`},
		{"github_unknown_event", "github", "ci.yml", "merge_group", "main", `unknown event "merge_group" (want push, pr, pull_request or pull_request_target)`},
		{"missing_ref", "github", "ci.yml", "push", "", "a ref is required (the pushed ref, or the target branch of a pull request)"},
		{"unknown_dialect", "gitlab", "", "push", "main", `unknown dialect "gitlab" (want azure or github)`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := Request{Dialect: tc.dialect}
			if tc.file != "" {
				req = load(t, tc.dialect, tc.file)
			}
			req.Event, req.Ref = tc.event, tc.ref
			_, err := Evaluate(req)
			if err == nil || err.Error() != tc.want {
				t.Errorf("error:\n got  %v\n want %s", err, tc.want)
			}
		})
	}
}

func TestResultJSON(t *testing.T) {
	b, err := json.Marshal(Result{Triggered: true, Reason: "r", Warnings: []string{"w"}})
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"triggered":true,"reason":"r"}` {
		t.Errorf("JSON = %s", b)
	}
}

func TestEvaluateWarnings(t *testing.T) {
	req := Request{Dialect: "github", File: "wf.yml", Data: []byte("on:\n  push:\n    branches: [refs/heads/main]\n"), Event: "push", Ref: "main"}
	got, err := Evaluate(req)
	if err != nil {
		t.Fatal(err)
	}
	if got.Triggered || len(got.Warnings) != 1 || !strings.HasPrefix(got.Warnings[0], "wf.yml:3:16: on.push.branches[0]:") {
		t.Errorf("got %+v", got)
	}
	req = Request{Dialect: "azure", File: "p.yml", Data: []byte("trigger:\n  paths:\n    include: [src]\n"), Event: "push", Ref: "main", Paths: []string{"src/a"}}
	got, err = Evaluate(req)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Triggered || len(got.Warnings) != 1 || !strings.HasPrefix(got.Warnings[0], "p.yml:2:3: trigger.paths without trigger.branches") {
		t.Errorf("got %+v", got)
	}
}

func TestReadPaths(t *testing.T) {
	cases := []struct {
		name, in string
		want     []string
	}{
		{"lines", "a.go\nsrc/b.go\n", []string{"a.go", "src/b.go"}},
		{"crlf_and_blanks", "a.go\r\n\r\n  src/b.go  \n\n", []string{"a.go", "src/b.go"}},
		{"dot_slash_and_slash", "./a.go\n/src/b.go\n././c\n", []string{"a.go", "src/b.go", "c"}},
		{"duplicates", "a\nb\na\n", []string{"a", "b"}},
		{"git_quoted", "\"caf\\303\\251.txt\"\n\"tab\\there\"\n", []string{"café.txt", "tab\there"}},
		{"nul_separated", "a b\x00\"q\".txt\x00src/c\x00", []string{"a b", `"q".txt`, "src/c"}},
		{"backslash_kept", `dir\file` + "\n", []string{`dir\file`}},
		{"no_trailing_newline", "x", []string{"x"}},
		{"empty", "", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReadPaths(strings.NewReader(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("ReadPaths(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestReadPathsErrors(t *testing.T) {
	_, err := ReadPaths(strings.NewReader("ok\n\"bad\\q\"\n"))
	if err == nil || err.Error() != `changed paths line 2: bad quoted path "bad\q": invalid syntax` {
		t.Errorf("error = %v", err)
	}
	boom := errors.New("boom")
	_, err = ReadPaths(iotest.ErrReader(boom))
	if !errors.Is(err, boom) || err.Error() != "reading changed paths: boom" {
		t.Errorf("error = %v", err)
	}
}
