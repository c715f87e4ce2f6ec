package main

import (
	"encoding/json"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/ferry-ci/ferry/pipeline"
)

// commitAt commits in the repository with fixed identities and dates, so that commit ids in
// golden files never change; each call is a minute after the previous one.
type committer struct {
	t   *testing.T
	dir string
	n   int
}

func (c *committer) git(args ...string) string {
	c.t.Helper()
	date := time.Date(2026, 1, 2, 4, c.n, 0, 0, time.UTC).Format(time.RFC3339)
	cmd := exec.Command("git", args...)
	cmd.Dir = c.dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=Ferry", "GIT_AUTHOR_EMAIL=ferry@example.com",
		"GIT_COMMITTER_NAME=Ferry", "GIT_COMMITTER_EMAIL=ferry@example.com",
		"GIT_AUTHOR_DATE="+date, "GIT_COMMITTER_DATE="+date, "GIT_CONFIG_NOSYSTEM=1", "HOME="+c.dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		c.t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// change appends a line to a file and commits it with the message.
func (c *committer) change(file, msg string) {
	c.t.Helper()
	c.n++
	f, err := os.OpenFile(filepath.Join(c.dir, file), os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		c.t.Fatal(err)
	}
	f.WriteString("\n// " + strings.ReplaceAll(msg, "\n", " ") + "\n")
	f.Close()
	c.git("add", file)
	c.git("commit", "-q", "-m", msg)
}

// releaseRepo is the example on main and an in-memory registry (its address, for --registry, is
// HOST:PORT/shipping), with a first
// release branch release/delivery/v1.0.0 and then a feat for delivery, a docs change of the
// frontend and a fix of the common library delivery depends on.
func releaseRepo(t *testing.T) (*committer, string) {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	reg := strings.TrimPrefix(srv.URL, "http://") + "/shipping"
	c := &committer{t: t, dir: exampleRepo(t)}
	c.git("checkout", "-q", "main")
	c.git("branch", "release/delivery/v1.0.0")
	c.change("src/shipping/delivery/main.go", "feat(delivery): track parcels")
	c.change("src/web/frontend/main.go", "docs: frontend only")
	c.change("src/shipping/common/common.go", "fix: common rounding")
	return c, reg
}

func refsOf(t *testing.T, dir string) string {
	return gitOut(t, dir, "for-each-ref", "--format=%(refname) %(objectname)")
}

func TestReleaseCutJSONGolden(t *testing.T) {
	c, reg := releaseRepo(t)
	r := runFerry(t, c.dir, nil, "", "release", "cut", "delivery", "--bump", "auto", "--registry", reg, "-o", "json")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	// The registry's address changes from run to run.
	golden(t, "release/cut-auto.json.golden", strings.ReplaceAll(r.stdout, reg, "REGISTRY"))
	if got := gitOut(t, c.dir, "rev-parse", "release/delivery/v1.1.0"); got != gitOut(t, c.dir, "rev-parse", "main") {
		t.Errorf("the branch is at %s, not the trunk's HEAD", got)
	}

	// Text: the version, the branch and the commits, one a line.
	r = runFerry(t, c.dir, nil, "", "release", "cut", "delivery", "--bump", "minor", "--pre", "rc", "--registry", reg)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{"delivery v1.2.0-rc.1 (minor), after v1.1.0 (refs/heads/release/delivery/v1.1.0)\n",
		"branch release/delivery/v1.2.0-rc.1 created at ", "0 commit(s) since v1.1.0 touched delivery or its dependencies\n"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("text output lacks %q:\n%s", want, r.stdout)
		}
	}
}

// TestReleaseCutBumpAuto cuts from each commit of a table with --bump auto: the type of the
// commits that touched delivery since the latest release decides, the others do not count.
func TestReleaseCutBumpAuto(t *testing.T) {
	cases := []struct {
		name    string
		commits [][2]string // file, message
		args    []string
		want    string // version, or the refusal
		code    int
	}{
		{"feat", [][2]string{{"src/shipping/delivery/main.go", "feat: a"}}, nil, "v1.1.0", 0},
		{"fix", [][2]string{{"src/shipping/delivery/main.go", "fix: a"}}, nil, "v1.0.1", 0},
		{"perf in a dependency", [][2]string{{"src/shipping/common/common.go", "perf(common): a"}}, nil, "v1.0.1", 0},
		{"breaking by !", [][2]string{{"src/shipping/delivery/main.go", "fix: a"}, {"src/shipping/delivery/main.go", "refactor!: b"}}, nil, "v2.0.0", 0},
		{"breaking by footer", [][2]string{{"src/shipping/delivery/main.go", "feat: a\n\nBREAKING CHANGE: the API moved"}}, nil, "v2.0.0", 0},
		{"a feat of another service", [][2]string{{"src/web/frontend/main.go", "feat: frontend"}, {"src/shipping/delivery/main.go", "docs: a"}}, nil, "v1.0.1", 0},
		{"only other types", [][2]string{{"src/shipping/delivery/main.go", "docs: a"}, {"src/shipping/delivery/main.go", "chore: b"}}, nil, "v1.0.1", 0},
		{"only other types, required", [][2]string{{"src/shipping/delivery/main.go", "docs: a"}, {"src/web/frontend/main.go", "feat: frontend"}},
			[]string{"--require-changes"}, "no release: none of the 1 commit(s) that touched delivery since v1.0.0 is a feat, fix, perf or breaking change (--require-changes)", 1},
		{"nothing touched delivery, required", [][2]string{{"src/web/frontend/main.go", "fix: frontend"}},
			[]string{"--require-changes"}, "no release: no commit touched delivery or its dependencies since v1.0.0", 1},
		{"unconventional messages", [][2]string{{"src/shipping/delivery/main.go", "Update main.go"}}, nil, "v1.0.1", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := &committer{t: t, dir: exampleRepo(t)}
			c.git("checkout", "-q", "main")
			c.git("branch", "release/delivery/v1.0.0")
			for _, cm := range tc.commits {
				c.change(cm[0], cm[1])
			}
			before := refsOf(t, c.dir)
			args := append([]string{"release", "cut", "delivery", "--bump", "auto", "--no-registry-check"}, tc.args...)
			r := runFerry(t, c.dir, nil, "", args...)
			if r.code != tc.code {
				t.Fatalf("exit %d, want %d\n%s%s", r.code, tc.code, r.stdout, r.stderr)
			}
			if tc.code != 0 {
				if !strings.Contains(r.stderr, tc.want) {
					t.Errorf("stderr %q, want %q", r.stderr, tc.want)
				}
				if after := refsOf(t, c.dir); after != before {
					t.Errorf("a refused cut changed the refs:\n%s", after)
				}
				return
			}
			if !strings.HasPrefix(r.stdout, "delivery "+tc.want+" (auto: ") {
				t.Errorf("stdout %q, want %s", r.stdout, tc.want)
			}
		})
	}
}

// pushImage puts a random image at ref.
func pushImage(t *testing.T, ref string) {
	t.Helper()
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	tag, err := name.NewTag(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img); err != nil {
		t.Fatal(err)
	}
}

// TestReleaseCutRefusals checks every refusal: a clear message, exit 1 (2 for an unknown
// service), and no ref created or moved.
func TestReleaseCutRefusals(t *testing.T) {
	cases := []struct {
		name  string
		setup func(c *committer, reg string)
		args  []string
		want  string
		code  int
	}{
		{"exists as a branch", nil, []string{"--version", "v1.0.0"}, "refused: version 1.0.0: already exists as refs/heads/release/delivery/v1.0.0", 1},
		{"exists as a tag", func(c *committer, _ string) {
			cfg := filepath.Join(c.dir, "ferry.yaml")
			data, _ := os.ReadFile(cfg)
			os.WriteFile(cfg, append([]byte("releaseTag: '{service}/v{version}'\n"), data...), 0o644)
			c.git("commit", "-qam", "chore: release tags")
			c.git("tag", "delivery/v1.0.1")
		}, []string{"--version", "1.0.1"}, "refused: version 1.0.1: already exists as refs/tags/delivery/v1.0.1", 1},
		{"lower than the latest", nil, []string{"--version", "v0.9.0"}, "refused: version 0.9.0: not newer than the latest release 1.0.0 (refs/heads/release/delivery/v1.0.0)", 1},
		{"image in the registry", func(_ *committer, reg string) { pushImage(t, reg+"/delivery:1.0.1") },
			[]string{"--bump", "patch"}, "/shipping/delivery:1.0.1 is already in the registry", 1},
		{"chart in the registry", func(_ *committer, reg string) { pushImage(t, reg+"/helm/delivery:1.1.0") },
			[]string{"--bump", "minor"}, "/shipping/helm/delivery:1.1.0 is already in the registry", 1},
		{"registry unreachable", nil, []string{"--bump", "patch", "--registry", "127.0.0.1:1/shipping"},
			"registry unreachable: 127.0.0.1:1/shipping/delivery:1.0.1", 1},
		{"unknown service", nil, []string{"--bump", "patch"}, `unknown service "nosuch"`, 2},
		{"dirty trunk", func(c *committer, _ string) {
			os.WriteFile(filepath.Join(c.dir, "src/shipping/delivery/main.go"), []byte("package main\n"), 0o644)
		}, []string{"--bump", "patch"}, "refused: the trunk main has uncommitted changes (src/shipping/delivery/main.go)", 1},
		{"detached HEAD", func(c *committer, _ string) { c.git("checkout", "-q", "--detach") },
			[]string{"--bump", "patch"}, "refused: HEAD is detached: check out the trunk main, or name the commit with --from", 1},
		{"not on the trunk", func(c *committer, _ string) { c.git("checkout", "-q", "feature/tracking") },
			[]string{"--bump", "patch"}, "refused: on branch feature/tracking, not the trunk main", 1},
		{"bump and version", nil, []string{"--bump", "minor", "--version", "v2.0.0"}, "--bump and --version cannot be combined", 2},
		{"bad version", nil, []string{"--version", "v2.0"}, `--version "v2.0" is not a semantic version`, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, reg := releaseRepo(t)
			if tc.setup != nil {
				tc.setup(c, reg)
			}
			before := refsOf(t, c.dir)
			svc := "delivery"
			if tc.name == "unknown service" {
				svc = "nosuch"
			}
			r := runFerry(t, c.dir, nil, "", append([]string{"release", "cut", svc, "--registry", reg}, tc.args...)...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", r.code, r.stderr, tc.code, tc.want)
			}
			if after := refsOf(t, c.dir); after != before {
				t.Errorf("a refused cut changed the refs:\nbefore\n%s\nafter\n%s", before, after)
			}
		})
	}

	// The same cuts pass where the refusal does not apply: --from on a dirty, detached
	// checkout, and --no-registry-check past an unreachable registry.
	c, _ := releaseRepo(t)
	c.git("checkout", "-q", "--detach")
	os.WriteFile(filepath.Join(c.dir, "src/shipping/delivery/main.go"), []byte("package main\n"), 0o644)
	if r := runFerry(t, c.dir, nil, "", "release", "cut", "delivery", "--from", "main~1", "--no-registry-check"); r.code != 0 || !strings.Contains(r.stdout, "delivery v1.0.1 (patch)") {
		t.Errorf("--from: exit %d %s%s", r.code, r.stdout, r.stderr)
	}
	if got, want := gitOut(t, c.dir, "rev-parse", "release/delivery/v1.0.1"), gitOut(t, c.dir, "rev-parse", "main~1"); got != want {
		t.Errorf("--from main~1: branch at %s, want %s", got, want)
	}
}

// TestReleaseCutPushAndPreReleases pushes to a bare remote over file://: pre-releases count
// up, the final release is the same core, and a clone that has only the trunk sees the
// remote's release branches (and fetches the previous release's history to list commits).
func TestReleaseCutPushAndPreReleases(t *testing.T) {
	c, _ := releaseRepo(t)
	bare := filepath.Join(t.TempDir(), "origin.git")
	gitOut(t, "", "clone", "-q", "--bare", c.dir, bare)
	c.git("remote", "add", "origin", "file://"+bare)
	c.git("fetch", "-q", "origin")
	for _, want := range []string{"1.1.0-rc.1", "1.1.0-rc.2"} {
		r := runFerry(t, c.dir, nil, "", "release", "cut", "delivery", "--bump", "auto", "--pre", "rc", "--push", "--no-registry-check", "-o", "json")
		if r.code != 0 || !strings.Contains(r.stdout, `"version": "`+want+`"`) || !strings.Contains(r.stdout, `"pushed": true`) {
			t.Fatalf("cut %s: exit %d\n%s%s", want, r.code, r.stdout, r.stderr)
		}
		if got := gitOut(t, bare, "rev-parse", "refs/heads/release/delivery/v"+want); got != gitOut(t, c.dir, "rev-parse", "main") {
			t.Errorf("the remote's v%s is at %s", want, got)
		}
	}

	// A fresh single-branch clone: the release branches are only on the remote.
	clone := filepath.Join(t.TempDir(), "clone")
	gitOut(t, "", "clone", "-q", "--single-branch", "--branch", "main", "--depth", "1", "file://"+bare, clone)
	r := runFerry(t, clone, nil, "", "release", "cut", "delivery", "--version", "v1.1.0-rc.2", "--push", "--no-registry-check")
	if r.code != 1 || !strings.Contains(r.stderr, "already exists as refs/remotes/origin/release/delivery/v1.1.0-rc.2") {
		t.Errorf("a version only the remote has: exit %d %s", r.code, r.stderr)
	}
	c2 := &committer{t: t, dir: clone, n: 10}
	c2.change("src/shipping/delivery/main.go", "fix: after the rcs")
	r = runFerry(t, clone, nil, "", "release", "cut", "delivery", "--bump", "auto", "--push", "--no-registry-check", "-o", "json")
	if r.code != 0 {
		t.Fatalf("final: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	var cut struct {
		Version  string
		Previous struct{ Version string }
		Commits  []struct{ Subject string }
		Fetches  []struct{ Command string }
	}
	if err := json.Unmarshal([]byte(r.stdout), &cut); err != nil {
		t.Fatal(err)
	}
	if cut.Version != "1.1.0" || cut.Previous.Version != "1.1.0-rc.2" || len(cut.Commits) != 1 || cut.Commits[0].Subject != "fix: after the rcs" || len(cut.Fetches) == 0 {
		t.Errorf("final release after the rcs from a shallow clone: %+v", cut)
	}
	if out := gitOut(t, bare, "branch", "--list", "release/delivery/*"); strings.Count(out, "release/delivery/") != 4 {
		t.Errorf("the remote's release branches:\n%s", out)
	}
}

// TestReleaseList lists the versions with their states from the run store and the registry.
func TestReleaseList(t *testing.T) {
	c, reg := releaseRepo(t)
	c.git("branch", "release/delivery/v1.1.0")
	pushImage(t, reg+"/delivery:1.0.0")
	pushImage(t, reg+"/helm/delivery:1.0.0")
	store, err := pipeline.NewLocalStore(filepath.Join(c.dir, ".ferry"))
	if err != nil {
		t.Fatal(err)
	}
	plan := &pipeline.Plan{Services: []pipeline.ServicePlan{{Name: "delivery", Pipeline: "release", Release: true, Version: "1.0.0",
		Stages: []pipeline.StageID{"build", "push", "deploy:qa", "approve:prod", "promote:prod", "deploy:prod"}}}}
	run := pipeline.NewRun("run-1", time.Date(2026, 1, 3, 0, 0, 0, 0, time.UTC), plan, "", pipeline.RunOptions{})
	svc := run.Service("delivery")
	for _, st := range svc.Stages[:3] {
		st.Status = pipeline.Succeeded
	}
	svc.Stage("push").Outputs.Push = &pipeline.PushOutput{Ref: reg + "/delivery@sha256:abc", Digest: "sha256:abc"}
	svc.Stage("approve:prod").Status = pipeline.Waiting
	if err := store.Create(t.Context(), run); err != nil {
		t.Fatal(err)
	}
	r := runFerry(t, c.dir, nil, "", "release", "list", "delivery", "--registry", reg, "-o", "json")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	golden(t, "release/list.json.golden", strings.ReplaceAll(r.stdout, reg, "REGISTRY"))
	r = runFerry(t, c.dir, nil, "", "release", "list", "delivery", "--registry", reg)
	if r.code != 0 || !strings.Contains(r.stdout, "1.0.0    waiting for approval (prod)  release/delivery/v1.0.0  run-1") {
		t.Errorf("text: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// A registry that does not answer is reported; refs and runs are still listed.
	r = runFerry(t, c.dir, nil, "", "release", "list", "delivery", "--registry", "127.0.0.1:1/shipping")
	if r.code != 0 || !strings.Contains(r.stderr, "registry unreachable: 127.0.0.1:1/shipping/delivery") || !strings.Contains(r.stdout, "run-1") {
		t.Errorf("unreachable registry: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func TestReleaseHelp(t *testing.T) {
	dir := t.TempDir()
	if r := runFerry(t, dir, nil, "", "--help"); !strings.Contains(r.stdout, "\n  release ") {
		t.Errorf("ferry --help does not list release:\n%s", r.stdout)
	}
	r := runFerry(t, dir, nil, "", "release", "--help")
	for _, want := range []string{"\n  cut ", "\n  list "} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("release --help lacks %q:\n%s", want, r.stdout)
		}
	}
	r = runFerry(t, dir, nil, "", "release", "cut", "--help")
	for _, want := range []string{"--bump auto", "BREAKING CHANGE:", "--require-changes", "Refused, with nothing created", "FERRY_GIT_TOKEN", "http.extraheader", "--no-registry-check"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("release cut --help lacks %q", want)
		}
	}
	r = runFerry(t, dir, nil, "", "release", "list", "--help")
	for _, want := range []string{"waiting for approval", "in production", "rejected", "--state"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("release list --help lacks %q", want)
		}
	}
}
