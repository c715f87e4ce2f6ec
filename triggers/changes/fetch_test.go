package changes_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ferry-ci/ferry/internal/gitserver"
	"github.com/ferry-ci/ferry/triggers/changes"
)

// The fetch tests run Changed on depth-1 clones of a real remote, as GitHub Actions and
// Azure Pipelines check out, served over file:// and over git's smart HTTP (git http-backend
// behind a loopback server that demands the credentials the checkout configured).

type fetchCase struct {
	name    string
	history func(h *history)
	// strict makes the remote refuse wants of commits that no ref reaches.
	strict bool
	clone  []string
	req    func(sha map[string]string) changes.Request
	want   fetchWant
}

type fetchWant struct {
	paths    []string
	from     string // a commit name; "" with all
	all      bool
	reason   string // a part of the reason
	fetches  int    // how many fetches ran
	fetchErr bool   // the last fetch failed
}

// manyEdits returns n edits of one file, each a new commit.
func manyEdits(path string, n int) []edit {
	edits := make([]edit, n)
	for i := range edits {
		edits[i] = set(path, fmt.Sprintf("package main // %d\n", i+1))
	}
	return edits
}

var fetchCases = []fetchCase{
	{
		name: "push of two commits",
		history: func(h *history) {
			base(h)
			h.chain("c", "c1", nil, set("src/a/main.go", "package main // 2\n"), set("src/b/main.go", "package main // 3\n"))
			h.branch("main", "c3")
		},
		clone: []string{"--depth", "1", "--branch", "main"},
		req: func(sha map[string]string) changes.Request {
			return changes.Request{Before: sha["c1"], After: sha["c3"], Trunk: "main", Fetch: true}
		},
		want: fetchWant{paths: []string{"src/a/main.go", "src/b/main.go"}, from: "c1", reason: "(push) (fetched from the remote 1 time(s)", fetches: 1},
	},
	{
		name: "force push",
		history: func(h *history) {
			base(h)
			h.chain("c", "c1", nil, set("src/a/main.go", "package main // 2\n"))
			h.commit("r2", []string{"c1"}, set("docs/my file.md", "rewritten\n"))
			h.branch("main", "r2") // c2 is gone from every branch, as after git push --force
		},
		clone: []string{"--depth", "1", "--branch", "main"},
		req: func(sha map[string]string) changes.Request {
			return changes.Request{Before: sha["c2"], After: sha["r2"], Trunk: "main", Fetch: true}
		},
		want: fetchWant{paths: []string{"docs/my file.md", "src/a/main.go"}, from: "c2", fetches: 1},
	},
	{
		name: "pull request whose merge base is 300 commits back",
		history: func(h *history) {
			base(h)
			h.chain("m", "c1", manyEdits("src/a/main.go", 5)...)
			h.chain("f", "c1", manyEdits("src/b/main.go", 300)...)
			h.branch("main", "m5")
			h.branch("feature", "f300")
		},
		clone: []string{"--depth", "1", "--branch", "feature"},
		req: func(sha map[string]string) changes.Request {
			return changes.Request{PullRequest: true, After: sha["f300"], Base: "main", BaseSHA: sha["m5"], Fetch: true}
		},
		// the base commit, then --deepen 50, 200 and 1000
		want: fetchWant{paths: []string{"src/b/main.go"}, from: "c1", reason: "pull request into main", fetches: 4},
	},
	{
		name: "new branch",
		history: func(h *history) {
			base(h)
			h.chain("c", "c1", nil, set("src/a/main.go", "package main // 2\n"))
			h.chain("f", "c2", set("tools/run.sh", "#!/bin/sh\n# f1\n"), set("src/b/main.go", "package main // f2\n"))
			h.branch("main", "c2")
			h.branch("feature/x", "f2")
		},
		clone: []string{"--depth", "1", "--branch", "feature/x"},
		req: func(sha map[string]string) changes.Request {
			return changes.Request{Before: strings.Repeat("0", 40), After: sha["f2"], Trunk: "main", Fetch: true}
		},
		// the trunk's tip, then --deepen 50
		want: fetchWant{paths: []string{"src/b/main.go", "tools/run.sh"}, from: "c2", reason: "new branch: diff against merge-base", fetches: 2},
	},
	{
		name: "merge commit without a before commit",
		history: func(h *history) {
			base(h)
			h.chain("c", "c1", nil, set("src/a/main.go", "package main // 2\n"))
			h.chain("f", "c1", set("src/b/main.go", "package main // f1\n"))
			h.commit("m", []string{"c2", "f1"}, set("src/b/main.go", "package main // f1\n"))
			h.branch("main", "m")
		},
		clone: []string{"--depth", "1", "--branch", "main"},
		req: func(sha map[string]string) changes.Request {
			return changes.Request{NoBefore: true, After: sha["m"], Trunk: "main", Fetch: true}
		},
		want: fetchWant{paths: []string{"src/b/main.go"}, from: "c2", reason: "merge commit, diff with its first parent", fetches: 1},
	},
	{
		// git serves commits that a ref reaches whatever its config; a force push leaves
		// the old commit reachable from none.
		name: "server that refuses commit wants",
		history: func(h *history) {
			base(h)
			h.chain("c", "c1", nil, set("src/a/main.go", "package main // 2\n"))
			h.commit("r2", []string{"c1"}, set("docs/my file.md", "rewritten\n"))
			h.branch("main", "r2")
		},
		strict: true,
		clone:  []string{"--depth", "1", "--branch", "main"},
		req: func(sha map[string]string) changes.Request {
			return changes.Request{Before: sha["c2"], After: sha["r2"], Trunk: "main", Fetch: true}
		},
		want: fetchWant{all: true, reason: "fetching it: git fetch --no-tags --depth=1 origin", fetches: 1, fetchErr: true},
	},
	{
		name: "fetching turned off",
		history: func(h *history) {
			base(h)
			h.chain("c", "c1", nil, set("src/a/main.go", "package main // 2\n"))
			h.branch("main", "c2")
		},
		clone: []string{"--depth", "1", "--branch", "main"},
		req: func(sha map[string]string) changes.Request {
			return changes.Request{Before: sha["c1"], After: sha["c2"], Trunk: "main"}
		},
		want: fetchWant{all: true, reason: "fetching is turned off (--no-fetch)"},
	},
}

// transport serves a remote repository and clones it as a CI checkout would.
type transport struct {
	name  string
	clone func(t *testing.T, origin string, args []string) string
}

var transports = []transport{
	{"file", func(t *testing.T, origin string, args []string) string { return clone(t, origin, args...) }},
	{"smart http", cloneOverHTTP},
}

// cloneOverHTTP serves origin with git http-backend behind a server that answers 401 without
// the Authorization header, and clones it the way actions/checkout does: the credentials go
// into the clone's config as http.<url>.extraheader, where a later fetch finds them.
func cloneOverHTTP(t *testing.T, origin string, args []string) string {
	t.Helper()
	const header = gitserver.BasicHeader
	srv := gitserver.Start(t, filepath.Dir(origin), header)
	url := srv.URL + "/" + filepath.Base(origin)
	dst := filepath.Join(t.TempDir(), "clone")
	extra := "http." + srv.URL + "/.extraheader=AUTHORIZATION: " + header
	gitRun(t, "", append(append([]string{"-c", extra, "clone", "-q"}, args...), url, dst)...)
	gitRun(t, dst, "config", "--local", "http."+srv.URL+"/.extraheader", "AUTHORIZATION: "+header)
	return dst
}

// TestFetchFromRealRemotes runs every case over every transport with both backends.
func TestFetchFromRealRemotes(t *testing.T) {
	for _, tc := range fetchCases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHistory()
			tc.history(h)
			origin := filepath.Join(t.TempDir(), "origin.git")
			sha := buildGitCLI(t, origin, h)
			gitRun(t, origin, "config", "uploadpack.allowAnySHA1InWant", fmt.Sprint(!tc.strict))
			gitRun(t, origin, "config", "http.uploadpack", "true")
			for _, tr := range transports {
				for _, b := range backends {
					t.Run(tr.name+"/"+string(b), func(t *testing.T) {
						dir := tr.clone(t, origin, tc.clone)
						if tc.strict {
							// Protocol v2 serves any commit; v0 applies allowAnySHA1InWant.
							gitRun(t, dir, "config", "protocol.version", "0")
						}
						checkFetch(t, open(t, dir, b), sha, tc)
					})
				}
			}
		})
	}
}

func checkFetch(t *testing.T, r *changes.Repo, sha map[string]string, tc fetchCase) {
	t.Helper()
	req := tc.req(sha)
	got, err := changes.Changed(t.Context(), r, req)
	if err != nil {
		t.Fatalf("Changed: %v", err)
	}
	w := tc.want
	if got.All != w.all || (!w.all && (got.From != sha[w.from])) {
		t.Errorf("all=%v from=%s, want all=%v from=%s (%s)\nreason: %s", got.All, got.From, w.all, sha[w.from], w.from, got.Reason)
	}
	if !w.all {
		if diff := cmp.Diff(w.paths, got.Paths); diff != "" {
			t.Errorf("paths (-want +got):\n%s", diff)
		}
	}
	if !strings.Contains(got.Reason, w.reason) {
		t.Errorf("reason %q, want it to contain %q", got.Reason, w.reason)
	}
	if len(got.Fetches) != w.fetches {
		t.Errorf("%d fetches, want %d: %+v", len(got.Fetches), w.fetches, got.Fetches)
	}
	if n := len(got.Fetches); n > 0 && (got.Fetches[n-1].Error != "") != w.fetchErr {
		t.Errorf("last fetch %+v, want failed=%v", got.Fetches[n-1], w.fetchErr)
	}
	for _, f := range got.Fetches {
		if strings.Contains(f.Command, "secret") || strings.Contains(f.Error, "eC1hY2Nlc3M") {
			t.Errorf("a fetch record holds the credentials: %+v", f)
		}
	}
}
