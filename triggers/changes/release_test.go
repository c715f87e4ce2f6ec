package changes_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ferry-ci/ferry/internal/gitserver"
	"github.com/ferry-ci/ferry/triggers/changes"
)

// releaseRepo is a repository made with the git CLI:
//
//	root (a.txt, svc/x.go) ← fix svc ← [tag v1, annotated] ← side branch merged ← docs ← feat
//
// with distinct commit times, so that git log's order is the committer time's.
func releaseRepo(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "repo")
	gitRun(t, "", "init", "-q", "-b", "main", dir)
	n := 0
	commit := func(msg string, files ...string) {
		t.Helper()
		for _, f := range files {
			p := filepath.Join(dir, f)
			os.MkdirAll(filepath.Dir(p), 0o755)
			old, _ := os.ReadFile(p)
			os.WriteFile(p, append(old, []byte(msg+"\n")...), 0o644)
			gitRun(t, dir, "add", f)
		}
		n++
		date := fmt.Sprintf("%d +0000", 1700000000+60*n)
		runGitEnv(t, dir, append(testGitEnv(t), "GIT_AUTHOR_DATE="+date, "GIT_COMMITTER_DATE="+date), "commit", "-q", "--allow-empty", "-m", msg)
	}
	commit("init", "a.txt", "svc/x.go")
	commit("fix(svc): one", "svc/x.go")
	gitRun(t, dir, "tag", "-a", "-m", "release", "v1")
	gitRun(t, dir, "checkout", "-q", "-b", "side")
	commit("feat: on a side branch\n\nwith a body", "svc/side.go", "b.txt")
	gitRun(t, dir, "checkout", "-q", "main")
	commit("docs: readme", "README.md")
	n++
	date := fmt.Sprintf("%d +0000", 1700000000+60*n)
	runGitEnv(t, dir, append(testGitEnv(t), "GIT_AUTHOR_DATE="+date, "GIT_COMMITTER_DATE="+date), "merge", "-q", "--no-ff", "-m", "Merge branch 'side'", "side")
	commit("feat!: big\n\nBREAKING CHANGE: yes", "svc/x.go", "c/d/e.txt")
	return dir
}

func runGitEnv(t *testing.T, dir string, env []string, args ...string) {
	t.Helper()
	c := exec.Command(gitBin(t), append([]string{"-C", dir}, args...)...)
	c.Env = env
	if out, err := c.CombinedOutput(); err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
}

func TestLog(t *testing.T) {
	dir := releaseRepo(t)
	type entry struct {
		Subject string
		Paths   []string
	}
	want := map[string][]entry{
		"v1": {
			{"feat!: big", []string{"c/d/e.txt", "svc/x.go"}},
			{"docs: readme", []string{"README.md"}},
			{"feat: on a side branch", []string{"b.txt", "svc/side.go"}},
		},
		"": {
			{"feat!: big", []string{"c/d/e.txt", "svc/x.go"}},
			{"docs: readme", []string{"README.md"}},
			{"feat: on a side branch", []string{"b.txt", "svc/side.go"}},
			{"fix(svc): one", []string{"svc/x.go"}},
			{"init", []string{"a.txt", "svc/x.go"}},
		},
	}
	// The reference: git rev-list --no-merges in git's own order.
	ref := strings.Fields(gitRun(t, dir, "rev-list", "--no-merges", "HEAD", "^v1"))
	for _, b := range backends {
		t.Run(string(b), func(t *testing.T) {
			r := open(t, dir, b)
			for since, w := range want {
				var exclude []string
				if since != "" {
					exclude = []string{since}
				}
				h, err := r.Log(t.Context(), "HEAD", exclude...)
				if err != nil {
					t.Fatal(err)
				}
				var got []entry
				for _, c := range h.Commits {
					got = append(got, entry{c.Subject, c.Paths})
					if c.Author != "A U Thor <author@example.com>" || c.Time.IsZero() || len(c.SHA) != 40 {
						t.Errorf("commit %+v: author, time or sha missing", c)
					}
				}
				if d := cmp.Diff(w, got); d != "" {
					t.Errorf("Log since %q (-want +got):\n%s", since, d)
				}
				if h.Truncated {
					t.Error("a full clone's log is truncated")
				}
				if since == "v1" {
					var shas []string
					for _, c := range h.Commits {
						shas = append(shas, c.SHA)
					}
					if !slices.Equal(shas, ref) {
						t.Errorf("shas %v, git rev-list says %v", shas, ref)
					}
					if m := h.Commits[0].Message; m != "feat!: big\n\nBREAKING CHANGE: yes" {
						t.Errorf("message %q", m)
					}
				}
			}
		})
	}
}

func TestLogShallowDeepens(t *testing.T) {
	origin := releaseRepo(t)
	for _, b := range backends {
		t.Run(string(b), func(t *testing.T) {
			dir := clone(t, origin, "--depth=1", "--no-single-branch")
			r := open(t, dir, b)
			h, err := r.Log(t.Context(), "HEAD")
			if err != nil {
				t.Fatal(err)
			}
			if !h.Truncated || len(h.Commits) != 1 {
				t.Fatalf("depth-1 clone: %d commits, truncated %v; want 1, true", len(h.Commits), h.Truncated)
			}
			complete, fetches, err := r.Deepen(t.Context(), []string{"HEAD"}, func() (bool, error) {
				h, err = r.Log(t.Context(), "HEAD")
				return !h.Truncated, err
			})
			if err != nil || !complete || len(fetches) == 0 {
				t.Fatalf("Deepen: %v %v %v", complete, fetches, err)
			}
			if len(h.Commits) != 5 || h.Truncated {
				t.Errorf("after deepening: %d commits, truncated %v", len(h.Commits), h.Truncated)
			}
		})
	}
}

func TestRefsAndBranches(t *testing.T) {
	dir := releaseRepo(t)
	head := gitRun(t, dir, "rev-parse", "HEAD")
	tagged := gitRun(t, dir, "rev-parse", "v1^{commit}")
	var results [][]changes.Ref
	for _, b := range backends {
		t.Run(string(b), func(t *testing.T) {
			r := open(t, dir, b)
			refs, err := r.Refs(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			results = append(results, refs)
			if i := slices.IndexFunc(refs, func(x changes.Ref) bool { return x.Name == "refs/tags/v1" }); i < 0 || refs[i].Commit != tagged {
				t.Errorf("the annotated tag is not peeled to %s: %v", tagged, refs)
			}
			name := "release/svc/v-" + string(b)
			if err := r.CreateBranch(t.Context(), name, head); err != nil {
				t.Fatal(err)
			}
			if got := gitRun(t, dir, "rev-parse", "refs/heads/"+name); got != head {
				t.Errorf("branch at %s, want %s", got, head)
			}
			if err := r.CreateBranch(t.Context(), name, tagged); !errors.Is(err, changes.ErrRefExists) {
				t.Errorf("creating it again: %v, want ErrRefExists", err)
			}
			if err := r.CreateBranch(t.Context(), "bad..name", head); err == nil {
				t.Error("an invalid branch name was accepted")
			}
			if err := r.DeleteBranch(t.Context(), name, head); err != nil {
				t.Fatal(err)
			}
			if out := gitRun(t, dir, "branch", "--list", name); out != "" {
				t.Errorf("branch still there: %q", out)
			}
		})
	}
	if len(results) == 2 {
		if d := cmp.Diff(results[0], results[1]); d != "" {
			t.Errorf("the backends list different refs (-git +go-git):\n%s", d)
		}
	}
}

func TestDirtyPaths(t *testing.T) {
	dir := releaseRepo(t)
	os.WriteFile(filepath.Join(dir, "svc/x.go"), []byte("changed"), 0o644)
	os.WriteFile(filepath.Join(dir, "new.txt"), []byte("new"), 0o644)
	gitRun(t, dir, "mv", "a.txt", "moved.txt")
	for _, b := range backends {
		r := open(t, dir, b)
		got, err := r.DirtyPaths(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		// go-git's status does not detect the rename: it lists both paths.
		got = slices.DeleteFunc(got, func(p string) bool { return p == "a.txt" })
		if want := []string{"moved.txt", "new.txt", "svc/x.go"}; !slices.Equal(got, want) {
			t.Errorf("%s: DirtyPaths = %v, want %v", b, got, want)
		}
	}
}

// pushCase is a remote and the credentials the checkout has for it.
type pushCase struct {
	name  string
	setup func(t *testing.T, bare string) (clone string)
	token string
	auth  string // where the credentials came from
	fails bool
}

func httpRemote(t *testing.T, bare string) (url string) {
	srv := gitserver.Start(t, filepath.Dir(bare), gitserver.BasicHeader)
	return srv.URL + "/" + filepath.Base(bare)
}

// cloneWith clones url and then gives the clone config entries.
func cloneWith(t *testing.T, url string, config ...string) string {
	dst := filepath.Join(t.TempDir(), "clone")
	header := "http.extraheader=AUTHORIZATION: " + gitserver.BasicHeader
	gitRun(t, "", "-c", header, "clone", "-q", url, dst)
	for i := 0; i+1 < len(config); i += 2 {
		gitRun(t, dst, "config", "--local", config[i], config[i+1])
	}
	return dst
}

var pushCases = []pushCase{
	{name: "file", auth: "none", setup: func(t *testing.T, bare string) string { return clone(t, bare) }},
	{name: "http extraheader", auth: "http.extraheader", setup: func(t *testing.T, bare string) string {
		url := httpRemote(t, bare)
		return cloneWith(t, url, "http."+strings.TrimSuffix(url, filepath.Base(bare))+".extraheader", "AUTHORIZATION: "+gitserver.BasicHeader)
	}},
	{name: "http credential helper", auth: "git credential helper", setup: func(t *testing.T, bare string) string {
		return cloneWith(t, httpRemote(t, bare), "credential.helper", "!f() { echo username=x-access-token; echo password=secret; }; f")
	}},
	{name: "http FERRY_GIT_TOKEN", auth: "FERRY_GIT_TOKEN", token: "secret", setup: func(t *testing.T, bare string) string {
		return cloneWith(t, httpRemote(t, bare))
	}},
	{name: "http without credentials", fails: true, setup: func(t *testing.T, bare string) string {
		return cloneWith(t, httpRemote(t, bare))
	}},
}

func TestPushBranch(t *testing.T) {
	t.Setenv("GIT_CONFIG_GLOBAL", os.DevNull) // no helper of the developer's
	origin := releaseRepo(t)
	for _, tc := range pushCases {
		t.Run(tc.name, func(t *testing.T) {
			bare := filepath.Join(t.TempDir(), "origin.git")
			gitRun(t, "", "clone", "-q", "--bare", origin, bare)
			gitRun(t, bare, "config", "http.receivepack", "true")
			dir := tc.setup(t, bare)
			r := open(t, dir, changes.Auto)
			head := gitRun(t, dir, "rev-parse", "HEAD")
			rem, err := r.OpenRemote(t.Context(), tc.token)
			if err != nil {
				t.Fatal(err)
			}
			if rem.Name != "origin" {
				t.Errorf("remote %q", rem.Name)
			}
			if err := r.CreateBranch(t.Context(), "release/svc/v2.0.0", head); err != nil {
				t.Fatal(err)
			}
			err = rem.PushBranch(t.Context(), "release/svc/v2.0.0")
			if tc.fails {
				if err == nil || !strings.Contains(err.Error(), "authentication required") {
					t.Fatalf("push without credentials: %v, want authentication required", err)
				}
				if strings.Contains(err.Error(), "secret") {
					t.Errorf("the error shows a credential: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if rem.Auth != tc.auth {
				t.Errorf("credentials from %q, want %q", rem.Auth, tc.auth)
			}
			if got := gitRun(t, bare, "rev-parse", "refs/heads/release/svc/v2.0.0"); got != head {
				t.Errorf("remote branch at %s, want %s", got, head)
			}
			refs, err := rem.List(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			tagged := gitRun(t, dir, "rev-parse", "v1^{commit}")
			for name, commit := range map[string]string{"refs/heads/release/svc/v2.0.0": head, "refs/tags/v1": tagged} {
				if !slices.Contains(refs, changes.Ref{Name: name, Commit: commit}) {
					t.Errorf("List lacks %s at %s: %v", name, commit, refs)
				}
			}
		})
	}
}
