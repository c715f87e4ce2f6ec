package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-ci/ferry/internal/testenv"
	"github.com/ferry-ci/ferry/pipeline"
)

// outcacheOrigin is the example as a remote whose feature pipeline runs build, test and image,
// with delivery's build declaring outputs: [bin/] and appending to marker each time it runs.
func outcacheOrigin(t *testing.T, reg, marker string) string {
	t.Helper()
	origin := exampleRepo(t)
	cfg := filepath.Join(origin, "ferry.yaml")
	data, _ := os.ReadFile(cfg)
	text := strings.NewReplacer(
		"registry: 127.0.0.1:5000/shipping", "registry: "+reg+"/shipping",
		"    build: go build -trimpath -buildvcs=false -o bin/delivery .\n",
		"    build: go build -trimpath -buildvcs=false -o bin/delivery . && echo built >> "+marker+"\n    outputs: [bin/]\n",
		"stages: [build, test]}", "stages: [build, test, image]}",
	).Replace(string(data))
	if strings.Count(text, marker) != 1 || !strings.Contains(text, "stages: [build, test, image]}") {
		t.Fatal("the example changed: update this test")
	}
	os.WriteFile(cfg, []byte(text), 0o644)
	gitIn(t, origin, "commit", "-qam", "outputs and a build marker")
	return origin
}

// machine is a fresh clone of the branch with its own Ferry cache folder: nothing local is
// shared with another machine, only the registry.
type machine struct {
	dir string
	env map[string]string
}

func newMachine(t *testing.T, origin, branch string) machine {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "checkout")
	gitIn(t, "", "clone", "-q", "--branch", branch, "file://"+origin, dir)
	return machine{dir, map[string]string{"FERRY_CACHE_DIR": t.TempDir()}}
}

// run runs the feature pipeline of delivery with the runs in state and returns the run.
func (m machine) run(t *testing.T, state string) *pipeline.Run {
	t.Helper()
	r := runFerry(t, m.dir, m.env, "", "run", "--ref", "feature/tracking", "--service", "delivery", "--state", state, "--no-progress")
	if r.code != 0 {
		t.Fatalf("run: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	r = runFerry(t, m.dir, m.env, "", "runs", "--state", state, "-o", "json")
	var list []struct{ ID string }
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil || len(list) == 0 {
		t.Fatalf("runs: %v %q", err, r.stdout)
	}
	r = runFerry(t, m.dir, m.env, "", "status", list[0].ID, "--state", state, "-o", "json")
	run := &pipeline.Run{}
	if err := json.Unmarshal([]byte(r.stdout), run); err != nil {
		t.Fatalf("status: %v\n%s", err, r.stdout)
	}
	return run
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestCacheSharedThroughTheRegistry builds delivery on one machine with the runs in the
// registry, then on a fresh clone of the same commit: no build command runs, bin/delivery and
// the image layout are restored byte for byte, and the image is the same digest. A third
// clone with a changed shared file misses, and says so in plan --explain and the build's log.
func TestCacheSharedThroughTheRegistry(t *testing.T) {
	reg := testenv.Registry(t)
	state := "oci://" + reg + "/ferry/runs"
	marker := filepath.Join(t.TempDir(), "builds")
	origin := outcacheOrigin(t, reg, marker)

	a := newMachine(t, origin, "feature/tracking")
	first := a.run(t, state)
	built := first.Service("delivery")
	if s := built.Stage("build"); s.Status != pipeline.Succeeded || s.CachedFrom != "" {
		t.Fatalf("first build: %+v", s)
	}
	binary := readFile(t, filepath.Join(a.dir, "src/shipping/delivery/bin/delivery"))

	// Machine A's working copy of the store holds its image layout: out of B's sight while B
	// runs, as it would be on another machine.
	away := a.env["FERRY_CACHE_DIR"] + ".away"
	if err := os.Rename(a.env["FERRY_CACHE_DIR"], away); err != nil {
		t.Fatal(err)
	}
	b := newMachine(t, origin, "feature/tracking")
	r := runFerry(t, b.dir, b.env, "", "plan", "--ref", "feature/tracking", "--state", state, "--explain")
	want := "delivery build: cached (run " + first.ID + "), its output files restored from the store when it runs"
	if r.code != 0 || !strings.Contains(r.stdout, want) {
		t.Errorf("plan --explain on the fresh clone: exit %d, want %q in\n%s%s", r.code, want, r.stdout, r.stderr)
	}
	second := b.run(t, state)
	if err := os.Rename(away, a.env["FERRY_CACHE_DIR"]); err != nil {
		t.Fatal(err)
	}
	if got := string(readFile(t, marker)); got != "built\n" {
		t.Errorf("the build command ran %d times, want once", strings.Count(got, "built"))
	}
	svc := second.Service("delivery")
	for _, id := range []pipeline.StageID{"build", "test", "image"} {
		if s := svc.Stage(id); s.Status != pipeline.Skipped || s.CachedFrom != first.ID {
			t.Errorf("%s on the fresh clone: %s (%s), want served from run %s", id, s.Status, s.Reason, first.ID)
		}
	}
	if r := svc.Stage("build").Reason; !strings.Contains(r, "outputs restored from the cache: 1 files") {
		t.Errorf("build reason %q does not say what was restored", r)
	}
	if got := readFile(t, filepath.Join(b.dir, "src/shipping/delivery/bin/delivery")); !bytes.Equal(got, binary) {
		t.Errorf("restored bin/delivery differs from the one built (%d bytes, want %d)", len(got), len(binary))
	}
	img, was := svc.Stage("image").Outputs.Image, built.Stage("image").Outputs.Image
	if img == nil || img.Digest != was.Digest || img.Layout == was.Layout {
		t.Fatalf("image outputs %+v, want %s in this machine's layout", img, was.Digest)
	}
	for _, f := range []string{"index.json", "oci-layout"} {
		if !bytes.Equal(readFile(t, filepath.Join(img.Layout, f)), readFile(t, filepath.Join(was.Layout, f))) {
			t.Errorf("restored layout's %s differs", f)
		}
	}

	commitTo(t, origin, "src/shipping/common/common.go") // on feature/tracking
	c := newMachine(t, origin, "feature/tracking")
	r = runFerry(t, c.dir, c.env, "", "plan", "--ref", "feature/tracking", "--state", state, "--explain")
	want = "delivery build: runs — inputs changed since run " + first.ID + ": src/shipping/common/common.go\n"
	if r.code != 0 || !strings.Contains(r.stdout, want) {
		t.Errorf("plan --explain: exit %d, want %q in\n%s%s", r.code, want, r.stdout, r.stderr)
	}
	third := c.run(t, state)
	if got := string(readFile(t, marker)); got != "built\nbuilt\n" {
		t.Errorf("after a change the build command ran %d times in all, want twice", strings.Count(got, "built"))
	}
	r = runFerry(t, c.dir, c.env, "", "logs", third.ID, "--service", "delivery", "--stage", "build", "--state", state)
	want = "not in the cache: inputs changed since run " + first.ID + ": src/shipping/common/common.go\n"
	if !strings.Contains(r.stdout, want) {
		t.Errorf("build log does not say %q:\n%s%s", want, r.stdout, r.stderr)
	}
}
