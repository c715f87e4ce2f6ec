package changes_test

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ferry-ci/ferry/triggers/changes"
)

const zeros = "0000000000000000000000000000000000000000"

// missing is a well-formed SHA that no fixture contains: a before commit that is gone.
const missing = "deadbeefdeadbeefdeadbeefdeadbeefdeadbeef"

type scenario struct {
	name    string
	history func(h *history)
	// prepare turns the built repository into the one under test (a clone, a worktree) and
	// returns the folder to open; nil opens the built repository.
	prepare func(t *testing.T, dir string, shas map[string]string) string
	diffs   []diffCase
	events  []eventCase
}

// diffCase is a Diff between two commits, by fixture name.
type diffCase struct {
	from, to string
	want     []string
}

// eventCase is a Changed call. In Before, After and Base "@name" stands for a commit's SHA.
type eventCase struct {
	name string
	req  changes.Request
	want wantResult
}

type wantResult struct {
	paths    []string
	from, to string // fixture names; from is "" when all
	all      bool
	reason   string // a substring of Result.Reason
	err      error  // errors.Is; the rest is not checked when set
	errText  string // a substring of the error
	anyError bool
}

var scenarios = []scenario{
	{
		name: "push one commit",
		history: func(h *history) {
			base(h)
			h.chain("c", "c1", nil, set("src/a/main.go", "package main // v2\n"))
			h.branch("main", "c2")
		},
		diffs: []diffCase{{"c1", "c2", []string{"src/a/main.go"}}, {"c2", "c1", []string{"src/a/main.go"}}, {"c2", "c2", []string{}}},
		events: []eventCase{
			{"push", changes.Request{Before: "@c1", After: "@c2", Trunk: "main"},
				wantResult{paths: []string{"src/a/main.go"}, from: "c1", to: "c2", reason: "(push)"}},
			{"same commit", changes.Request{Before: "@c2", After: "@c2", Trunk: "main"},
				wantResult{paths: []string{}, from: "c2", to: "c2", reason: "(push)"}},
			{"short shas and names", changes.Request{Before: "@c1:7", After: "main", Trunk: "main"},
				wantResult{paths: []string{"src/a/main.go"}, from: "c1", to: "c2"}},
		},
	},
	{
		name: "push many commits",
		history: func(h *history) {
			base(h)
			h.chain("c", "c1", nil,
				set("src/a/main.go", "package main // v2\n"),
				set("src/b/new.go", "package main // new\n"),
				set("README.md", "changed and changed back\n"),
				set("README.md", "hello\n"),
				del("src/a/lib/util.go"),
			)
			h.branch("main", "c6")
		},
		diffs: []diffCase{
			{"c1", "c6", []string{"src/a/lib/util.go", "src/a/main.go", "src/b/new.go"}},
			{"c3", "c4", []string{"README.md"}},
		},
		events: []eventCase{
			{"range", changes.Request{Before: "@c1", After: "@c6", Trunk: "main"},
				wantResult{paths: []string{"src/a/lib/util.go", "src/a/main.go", "src/b/new.go"}, from: "c1", to: "c6"}},
		},
	},
	{
		name: "renames deletes modes and nesting",
		history: func(h *history) {
			base(h)
			h.commit("rename", []string{"c1"}, move("src/a/lib/util.go", "src/a/lib/helpers.go"))
			h.commit("delete-dir", []string{"c1"}, del("deep"))
			h.commit("chmod", []string{"c1"}, put("src/b/main.go", exe("package main // b\n")))
			h.commit("unchmod", []string{"c1"}, put("tools/run.sh", reg("#!/bin/sh\n")))
			h.commit("to-symlink", []string{"c1"}, put("README.md", link("docs/my file.md")))
			h.commit("relink", []string{"c1"}, put("src/a/current", link("lib")))
			h.commit("dir-to-file", []string{"c1"}, del("src/a/lib"), set("src/a/lib", "now a file\n"))
			h.commit("nested", []string{"c1"}, set("deep/x/y/z/file.txt", "deeper\n"), set("deep/x/y/new.txt", "new\n"))
			h.commit("empty", []string{"c1"}, del("README.md"), del("src"), del("deep"), del("tools"), del("docs"), del(".gitmodules"), del("vendor"))
			h.branch("main", "c1")
		},
		diffs: []diffCase{
			{"c1", "rename", []string{"src/a/lib/helpers.go", "src/a/lib/util.go"}},
			{"c1", "delete-dir", []string{"deep/x/sibling.txt", "deep/x/y/z/file.txt"}},
			{"c1", "chmod", []string{"src/b/main.go"}},
			{"c1", "unchmod", []string{"tools/run.sh"}},
			{"c1", "to-symlink", []string{"README.md"}},
			{"c1", "relink", []string{"src/a/current"}},
			{"c1", "dir-to-file", []string{"src/a/lib", "src/a/lib/util.go"}},
			{"dir-to-file", "c1", []string{"src/a/lib", "src/a/lib/util.go"}},
			{"c1", "nested", []string{"deep/x/y/new.txt", "deep/x/y/z/file.txt"}},
			{"rename", "chmod", []string{"src/a/lib/helpers.go", "src/a/lib/util.go", "src/b/main.go"}},
			{"c1", "empty", []string{".gitmodules", "README.md", "deep/x/sibling.txt", "deep/x/y/z/file.txt", "docs/my file.md",
				"src/a/current", "src/a/lib/util.go", "src/a/main.go", "src/b/main.go", "src/ünï/ファイル.txt", "tools/run.sh", "vendor/mod"}},
		},
	},
	{
		name: "paths with spaces unicode and control characters",
		history: func(h *history) {
			base(h)
			h.commit("c2", []string{"c1"},
				set("docs/my file.md", "more spaces\n"),
				set("src/ünï/ファイル.txt", "more unicode\n"),
				set("weird/quote\"and\\back", "q\n"),
				set("weird/new\nline", "n\n"),
				set("weird/tab\tname", "t\n"),
				set("weird/ends with space ", "s\n"),
				set("weird/-dash", "d\n"),
			)
			h.branch("main", "c2")
		},
		diffs: []diffCase{{"c1", "c2", []string{"docs/my file.md", "src/ünï/ファイル.txt",
			"weird/-dash", "weird/ends with space ", "weird/new\nline", "weird/quote\"and\\back", "weird/tab\tname"}}},
	},
	{
		name: "submodule pointer",
		history: func(h *history) {
			base(h)
			h.commit("bump", []string{"c1"}, put("vendor/mod", gitlink("2222222222222222222222222222222222222222")))
			h.commit("remove", []string{"bump"}, del("vendor"), del(".gitmodules"))
			h.commit("replace", []string{"bump"}, del("vendor/mod"), set("vendor/mod/vendored.go", "package mod\n"))
			h.branch("main", "remove")
		},
		diffs: []diffCase{
			{"c1", "bump", []string{"vendor/mod"}},
			{"bump", "remove", []string{".gitmodules", "vendor/mod"}},
			{"bump", "replace", []string{"vendor/mod", "vendor/mod/vendored.go"}},
		},
	},
	{
		name: "merges",
		history: func(h *history) {
			base(h)
			h.commit("c2", []string{"c1"}, set("src/a/main.go", "package main // main\n"))
			h.commit("f1", []string{"c1"}, set("src/b/main.go", "package main // feature\n"))
			// The merge also resolves a "conflict" in README.md.
			h.commit("m", []string{"c2", "f1"}, set("src/b/main.go", "package main // feature\n"), set("README.md", "merged\n"))
			h.commit("c3", []string{"m"}, set("tools/run.sh", "#!/bin/sh\nexit 0\n"))
			// A feature branch that merged main back in, then changed again.
			h.commit("g1", []string{"c1"}, set("docs/my file.md", "feature docs\n"))
			h.commit("gm", []string{"g1", "c2"}, set("src/a/main.go", "package main // main\n"))
			h.commit("g2", []string{"gm"}, set("deep/x/sibling.txt", "feature\n"))
			h.branch("main", "c3")
			h.branch("feature", "f1")
			h.branch("docs", "g2")
		},
		diffs: []diffCase{{"c2", "m", []string{"README.md", "src/b/main.go"}}},
		events: []eventCase{
			{"push of a merge", changes.Request{Before: "@c2", After: "@m", Trunk: "main"},
				wantResult{paths: []string{"README.md", "src/b/main.go"}, from: "c2", to: "m"}},
			{"push with a merge inside", changes.Request{Before: "@c1", After: "@c3", Trunk: "main"},
				wantResult{paths: []string{"README.md", "src/a/main.go", "src/b/main.go", "tools/run.sh"}, from: "c1", to: "c3"}},
			{"pull request that merged the base", changes.Request{PullRequest: true, After: "@g2", Base: "@c2"},
				wantResult{paths: []string{"deep/x/sibling.txt", "docs/my file.md"}, from: "c2", to: "g2", reason: "pull request"}},
		},
	},
	{
		name: "pull requests",
		history: func(h *history) {
			base(h)
			h.chain("c", "c1", nil, set("src/a/main.go", "package main // main 2\n"), set("README.md", "main 3\n"))
			h.chain("f", "c1", set("src/b/main.go", "package main // feature\n"), set("tools/run.sh", "#!/bin/sh\n# feature\n"))
			h.branch("main", "c3")
			h.branch("feature", "f2")
			// A stale local branch next to a fresher remote-tracking one, and a branch that
			// exists only on the remote.
			h.refs["refs/heads/stale"] = "c1"
			h.refs["refs/remotes/origin/stale"] = "c3"
			h.refs["refs/remotes/origin/release"] = "c2"
		},
		events: []eventCase{
			{"base by name", changes.Request{PullRequest: true, After: "@f2", Base: "main"},
				wantResult{paths: []string{"src/b/main.go", "tools/run.sh"}, from: "c1", to: "f2", reason: "pull request into main"}},
			{"base by full ref", changes.Request{PullRequest: true, After: "@f2", Base: "refs/heads/main"},
				wantResult{paths: []string{"src/b/main.go", "tools/run.sh"}, from: "c1", to: "f2"}},
			{"base by sha", changes.Request{PullRequest: true, After: "@f2", Base: "@c3"},
				wantResult{paths: []string{"src/b/main.go", "tools/run.sh"}, from: "c1", to: "f2"}},
			{"base only on the remote", changes.Request{PullRequest: true, After: "@f2", Base: "release"},
				wantResult{paths: []string{"src/b/main.go", "tools/run.sh"}, from: "c1", to: "f2"}},
			{"remote-tracking base wins over a stale local branch", changes.Request{PullRequest: true, After: "@c3", Base: "stale"},
				wantResult{paths: []string{}, from: "c3", to: "c3"}},
			{"base is an ancestor", changes.Request{PullRequest: true, After: "@c3", Base: "@c1"},
				wantResult{paths: []string{"README.md", "src/a/main.go"}, from: "c1", to: "c3"}},
			{"base not found", changes.Request{PullRequest: true, After: "@f2", Base: "develop"},
				wantResult{all: true, to: "f2", reason: "branch develop not found in the clone"}},
			{"head not found", changes.Request{PullRequest: true, After: missing, Base: "main"},
				wantResult{err: changes.ErrNotFound}},
			{"no base", changes.Request{PullRequest: true, After: "@f2"},
				wantResult{anyError: true, errText: "base branch is required"}},
		},
	},
	{
		name: "new branches",
		history: func(h *history) {
			base(h)
			h.chain("c", "c1", nil, set("src/a/main.go", "package main // main 2\n"), set("README.md", "main 3\n"))
			h.chain("f", "c2", set("src/b/main.go", "package main // feature\n"))
			// g branches off the feature branch, which itself is not merged yet.
			h.chain("g", "f1", set("tools/run.sh", "#!/bin/sh\n# g\n"))
			h.branch("main", "c3")
			h.refs["refs/remotes/origin/trunk-only-remote"] = "c3"
		},
		events: []eventCase{
			{"from trunk", changes.Request{Before: zeros, After: "@f1", Trunk: "main"},
				wantResult{paths: []string{"src/b/main.go"}, from: "c2", to: "f1", reason: "new branch: diff against merge-base"}},
			{"empty before", changes.Request{Before: "", After: "@f1", Trunk: "refs/heads/main"},
				wantResult{paths: []string{"src/b/main.go"}, from: "c2", to: "f1", reason: "new branch"}},
			{"from another branch", changes.Request{Before: zeros, After: "@g1", Trunk: "main"},
				wantResult{paths: []string{"src/b/main.go", "tools/run.sh"}, from: "c2", to: "g1"}},
			{"at a trunk commit", changes.Request{Before: zeros, After: "@c2", Trunk: "main"},
				wantResult{paths: []string{}, from: "c2", to: "c2"}},
			{"trunk only on the remote", changes.Request{Before: zeros, After: "@f1", Trunk: "trunk-only-remote"},
				wantResult{paths: []string{"src/b/main.go"}, from: "c2", to: "f1"}},
			{"trunk missing", changes.Request{Before: zeros, After: "@f1", Trunk: "develop"},
				wantResult{all: true, to: "f1", reason: "new branch and trunk develop: branch develop not found"}},
			{"no trunk", changes.Request{Before: zeros, After: "@f1"},
				wantResult{all: true, to: "f1", reason: "no trunk branch configured"}},
			{"after missing", changes.Request{Before: zeros, After: missing, Trunk: "main"},
				wantResult{err: changes.ErrNotFound}},
			{"no after", changes.Request{Before: zeros, Trunk: "main"},
				wantResult{anyError: true, errText: "after commit is required"}},
		},
	},
	{
		name: "force pushes",
		history: func(h *history) {
			base(h)
			h.chain("c", "c1", nil, set("src/a/main.go", "package main // 2\n"), set("src/b/main.go", "package main // 3\n"))
			// The branch was rewritten: r2 replaces c2 and c3.
			h.commit("r2", []string{"c1"}, set("docs/my file.md", "rewritten\n"))
			h.branch("main", "c3")
			h.branch("feature", "r2")
		},
		events: []eventCase{
			{"before still present", changes.Request{Before: "@c3", After: "@r2", Trunk: "main"},
				wantResult{paths: []string{"docs/my file.md", "src/a/main.go", "src/b/main.go"}, from: "c3", to: "r2", reason: "(push)"}},
			// Without fetching (see fetch_test.go for the fetch), a push whose before commit
			// is missing may hold any commits: every service is affected.
			{"before missing", changes.Request{Before: missing, After: "@r2", Trunk: "main"},
				wantResult{all: true, to: "r2", reason: "before commit deadbee: not found in the clone; fetching it: fetching is turned off (--no-fetch)"}},
		},
	},
	{
		name: "unrelated histories",
		history: func(h *history) {
			base(h)
			h.commit("o1", nil, set("other/readme", "orphan\n"))
			h.branch("orphan", "o1")
		},
		diffs: []diffCase{{"c1", "o1", []string{".gitmodules", "README.md", "deep/x/sibling.txt", "deep/x/y/z/file.txt", "docs/my file.md",
			"other/readme", "src/a/current", "src/a/lib/util.go", "src/a/main.go", "src/b/main.go", "src/ünï/ファイル.txt", "tools/run.sh", "vendor/mod"}}},
		events: []eventCase{
			{"pull request", changes.Request{PullRequest: true, After: "@o1", Base: "main"},
				wantResult{all: true, to: "o1", reason: "no merge-base between main and the pull request: every service is affected"}},
			{"new branch", changes.Request{Before: zeros, After: "@o1", Trunk: "main"},
				wantResult{all: true, to: "o1", reason: "new branch and no merge-base with main: every service is affected"}},
			{"push across histories", changes.Request{Before: "@c1", After: "@o1", Trunk: "main"},
				wantResult{paths: []string{".gitmodules", "README.md", "deep/x/sibling.txt", "deep/x/y/z/file.txt", "docs/my file.md",
					"other/readme", "src/a/current", "src/a/lib/util.go", "src/a/main.go", "src/b/main.go", "src/ünï/ファイル.txt", "tools/run.sh", "vendor/mod"},
					from: "c1", to: "o1"}},
		},
	},
	{
		name:    "shallow clone of one branch",
		history: shallowHistory,
		prepare: func(t *testing.T, dir string, _ map[string]string) string {
			return clone(t, dir, "--depth", "1", "--branch", "feature")
		},
		events: []eventCase{
			{"before not fetched and no trunk", changes.Request{Before: "@f2", After: "@f3", Trunk: "main"},
				wantResult{all: true, to: "f3", reason: "before commit"}},
		},
	},
	{
		name:    "shallow clone of all branches",
		history: shallowHistory,
		prepare: func(t *testing.T, dir string, _ map[string]string) string {
			return clone(t, dir, "--depth", "1", "--no-single-branch")
		},
		events: []eventCase{
			{"before not fetched", changes.Request{Before: "@f2", After: "@f3", Trunk: "main"},
				wantResult{all: true, to: "f3", reason: "before commit"}},
			{"pull request", changes.Request{PullRequest: true, After: "@f3", Base: "main"},
				wantResult{all: true, to: "f3", reason: "no merge-base"}},
		},
	},
	{
		name:    "shallow clone deep enough",
		history: shallowHistory,
		prepare: func(t *testing.T, dir string, _ map[string]string) string {
			return clone(t, dir, "--depth", "4", "--no-single-branch")
		},
		diffs: []diffCase{{"f2", "f3", []string{"src/b/main.go"}}},
		events: []eventCase{
			{"push", changes.Request{Before: "@f2", After: "@f3", Trunk: "main"},
				wantResult{paths: []string{"src/b/main.go"}, from: "f2", to: "f3"}},
			{"new branch", changes.Request{Before: zeros, After: "@f3", Trunk: "main"},
				wantResult{paths: []string{"src/b/main.go", "tools/run.sh"}, from: "c2", to: "f3"}},
			{"pull request", changes.Request{PullRequest: true, After: "@f3", Base: "main"},
				wantResult{paths: []string{"src/b/main.go", "tools/run.sh"}, from: "c2", to: "f3"}},
		},
	},
	{
		// The trunk's tip stays a shallow boundary even after a later fetch brought its
		// parents: git hides them, and so must go-git, or the two would disagree.
		name:    "shallow trunk with a fully fetched branch",
		history: shallowHistory,
		prepare: func(t *testing.T, dir string, _ map[string]string) string {
			dst := clone(t, dir, "--depth", "1", "--branch", "main")
			gitRun(t, dst, "fetch", "-q", "origin", "feature:refs/remotes/origin/feature")
			return dst
		},
		diffs: []diffCase{{"c2", "f3", []string{"src/b/main.go", "tools/run.sh"}}},
		events: []eventCase{
			{"new branch", changes.Request{Before: zeros, After: "@f3", Trunk: "main"},
				wantResult{all: true, to: "f3", reason: "no merge-base with main"}},
		},
	},
	{
		// Objects borrowed from another repository through objects/info/alternates, which
		// git writes as an absolute path.
		name:    "clone sharing objects",
		history: shallowHistory,
		prepare: func(t *testing.T, dir string, _ map[string]string) string {
			// A plain path: over file:// git ignores --shared and copies the objects.
			dst := filepath.Join(t.TempDir(), "clone")
			gitRun(t, "", "clone", "-q", "--shared", "--no-single-branch", dir, dst)
			if _, err := os.Stat(filepath.Join(dst, ".git", "objects", "info", "alternates")); err != nil {
				t.Fatalf("the clone borrows no objects: %v", err)
			}
			return dst
		},
		diffs: []diffCase{{"c2", "f3", []string{"src/b/main.go", "tools/run.sh"}}},
		events: []eventCase{
			{"new branch", changes.Request{Before: zeros, After: "@f3", Trunk: "main"},
				wantResult{paths: []string{"src/b/main.go", "tools/run.sh"}, from: "c2", to: "f3"}},
			{"before missing", changes.Request{Before: missing, After: "@f3", Trunk: "main"},
				wantResult{all: true, to: "f3", reason: "before commit deadbee"}},
		},
	},
	{
		// A blobless clone has every commit and tree: diffs need no blob.
		name:    "partial clone",
		history: shallowHistory,
		prepare: func(t *testing.T, dir string, _ map[string]string) string {
			gitRun(t, dir, "config", "uploadpack.allowFilter", "true")
			return clone(t, dir, "--filter=blob:none", "--no-single-branch")
		},
		diffs: []diffCase{{"c1", "f3", []string{"src/a/main.go", "src/b/main.go", "tools/run.sh"}}},
		events: []eventCase{
			{"new branch", changes.Request{Before: zeros, After: "@f3", Trunk: "main"},
				wantResult{paths: []string{"src/b/main.go", "tools/run.sh"}, from: "c2", to: "f3"}},
			{"pull request", changes.Request{PullRequest: true, After: "@f3", Base: "main"},
				wantResult{paths: []string{"src/b/main.go", "tools/run.sh"}, from: "c2", to: "f3"}},
		},
	},
	{
		name:    "linked worktree",
		history: shallowHistory,
		prepare: func(t *testing.T, dir string, _ map[string]string) string {
			wt := filepath.Join(t.TempDir(), "wt")
			gitRun(t, dir, "worktree", "add", "-q", wt, "feature")
			return filepath.Join(wt, "src", "b") // a folder inside the worktree
		},
		events: []eventCase{
			{"new branch", changes.Request{Before: zeros, After: "HEAD", Trunk: "main"},
				wantResult{paths: []string{"src/b/main.go", "tools/run.sh"}, from: "c2", to: "f3"}},
			{"push", changes.Request{Before: "@f1", After: "feature", Trunk: "main"},
				wantResult{paths: []string{"src/b/main.go"}, from: "f1", to: "f3"}},
		},
	},
}

// shallowHistory has a trunk and a feature branch long enough to cut a shallow clone in it.
func shallowHistory(h *history) {
	base(h)
	h.chain("c", "c1", nil, set("src/a/main.go", "package main // 2\n"), set("README.md", "3\n"))
	h.chain("f", "c2", set("tools/run.sh", "#!/bin/sh\n# f1\n"), set("src/b/main.go", "package main // f2\n"), set("src/b/main.go", "package main // f3\n"))
	h.branch("main", "c3")
	h.branch("feature", "f3")
}

// clone makes a clone of dir with the given options over file://, as a CI checkout does.
func clone(t *testing.T, dir string, args ...string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "clone")
	gitRun(t, "", append(append([]string{"clone", "-q"}, args...), "file://"+dir, dst)...)
	return dst
}

// TestChanged builds every scenario with both builders, checks that they wrote the same
// commits, and runs its diffs and events on both backends against git diff-tree.
func TestChanged(t *testing.T) {
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			h := newHistory()
			sc.history(h)
			var built []map[string]string
			for _, bl := range builders {
				t.Run("built with "+bl.name, func(t *testing.T) {
					dir := filepath.Join(t.TempDir(), "repo")
					shas := bl.build(t, dir, h)
					built = append(built, shas)
					if sc.prepare != nil {
						dir = sc.prepare(t, dir, shas)
					}
					ref := map[[2]string][]string{}
					diffTree := func(from, to string) []string {
						k := [2]string{from, to}
						if _, ok := ref[k]; !ok {
							ref[k] = gitDiffTree(t, dir, from, to)
						}
						return ref[k]
					}
					for _, b := range backends {
						t.Run(string(b), func(t *testing.T) {
							r := open(t, dir, b)
							for _, d := range sc.diffs {
								got, err := r.Diff(t.Context(), shas[d.from], shas[d.to])
								if err != nil {
									t.Fatalf("Diff(%s, %s): %v", d.from, d.to, err)
								}
								if diff := cmp.Diff(d.want, got); diff != "" {
									t.Errorf("Diff(%s, %s) (-want +got):\n%s", d.from, d.to, diff)
								}
								if diff := cmp.Diff(diffTree(shas[d.from], shas[d.to]), got); diff != "" {
									t.Errorf("Diff(%s, %s) differs from git diff-tree (-diff-tree +got):\n%s", d.from, d.to, diff)
								}
							}
							for _, ev := range sc.events {
								t.Run(ev.name, func(t *testing.T) { checkEvent(t, r, diffTree, shas, ev) })
							}
						})
					}
				})
			}
			if len(built) == 2 {
				if diff := cmp.Diff(built[0], built[1]); diff != "" {
					t.Errorf("the builders wrote different commits (-go-git +git):\n%s", diff)
				}
				if len(built[0]) != len(h.commits) {
					t.Errorf("%d commits built, want %d", len(built[0]), len(h.commits))
				}
			}
		})
	}
}

func checkEvent(t *testing.T, r *changes.Repo, diffTree func(from, to string) []string, shas map[string]string, ev eventCase) {
	t.Helper()
	req := ev.req
	req.Before, req.After, req.Base = sub(shas, req.Before), sub(shas, req.After), sub(shas, req.Base)
	got, err := changes.Changed(t.Context(), r, req)
	w := ev.want
	if w.err != nil || w.anyError {
		if err == nil || (w.err != nil && !errors.Is(err, w.err)) || !strings.Contains(err.Error(), w.errText) {
			t.Fatalf("Changed(%+v) = %+v, %v; want error %v %q", req, got, err, w.err, w.errText)
		}
		return
	}
	if err != nil {
		t.Fatalf("Changed(%+v): %v", req, err)
	}
	want := changes.Result{Paths: w.paths, From: shas[w.from], To: shas[w.to], All: w.all, Reason: got.Reason}
	if w.all {
		want.Paths = []string{}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Changed(%+v) (-want +got):\n%s", req, diff)
	}
	if got.Reason == "" || !strings.Contains(got.Reason, w.reason) {
		t.Errorf("Reason = %q, want it to contain %q", got.Reason, w.reason)
	}
	if !got.All {
		if diff := cmp.Diff(diffTree(got.From, got.To), got.Paths); diff != "" {
			t.Errorf("paths differ from git diff-tree %s %s (-diff-tree +got):\n%s", got.From, got.To, diff)
		}
	}
}

// sub replaces "@name" by the commit's SHA and "@name:7" by its first 7 digits.
func sub(shas map[string]string, s string) string {
	name, ok := strings.CutPrefix(s, "@")
	if !ok {
		return s
	}
	if n, abbrev, ok := strings.Cut(name, ":"); ok {
		k, err := strconv.Atoi(abbrev)
		if err != nil {
			panic(err)
		}
		return shas[n][:k]
	}
	sha, ok := shas[name]
	if !ok {
		panic("no commit " + name)
	}
	return sha
}
