package testenv

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/gofrs/flock"
)

// moduleRoot finds the checkout root: the nearest parent of the working directory with
// tools/go.mod (the separate module of test tools).
func moduleRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "tools", "go.mod")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			t.Fatalf("no tools/go.mod above %s", dir)
		}
	}
}

// FixtureDBYAML is the tiny vulnerability DB the tests scan with (CVE-2021-38561 in
// golang.org/x/text < 0.3.7, and friends).
func FixtureDBYAML(t testing.TB) string {
	return filepath.Join(moduleRoot(t), "stages", "scan", "testdata", "trivy-db.yaml")
}

// MkDB returns the path of tools/mkdb, built once per change of its sources: the binary is
// cached in ToolsDir() under a hash of the tools module's go.mod, go.sum and mkdb sources
// (and the Go version), and concurrent test processes serialize on a file lock.
// FERRY_MKDB overrides the path.
func MkDB(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("FERRY_MKDB"); p != "" {
		return p
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		Missing(t, "go command not found, needed to build tools/mkdb")
	}
	tools := filepath.Join(moduleRoot(t), "tools")
	h := sha256.New()
	fmt.Fprintln(h, runtime.Version())
	files := []string{filepath.Join(tools, "go.mod"), filepath.Join(tools, "go.sum")}
	srcs, err := filepath.Glob(filepath.Join(tools, "mkdb", "*.go"))
	if err != nil || len(srcs) == 0 {
		t.Fatalf("no sources in %s/mkdb: %v", tools, err)
	}
	files = append(files, srcs...)
	slices.Sort(files)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(h, "%s %d\n", filepath.Base(f), len(b))
		h.Write(b)
	}
	dir := filepath.Join(ToolsDir(), "mkdb-"+hex.EncodeToString(h.Sum(nil))[:16])
	bin := filepath.Join(dir, "mkdb")
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	lock := flock.New(bin + ".lock")
	if err := lock.Lock(); err != nil {
		t.Fatalf("locking %s: %v", lock.Path(), err)
	}
	defer lock.Unlock()
	if _, err := os.Stat(bin); err == nil {
		return bin // built by another process while we waited
	}
	tmp := bin + ".tmp"
	cmd := exec.CommandContext(t.Context(), goBin, "build", "-o", tmp, "./mkdb")
	cmd.Dir = tools
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=readonly")
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building tools/mkdb: %v\n%s", err, out)
	}
	if err := os.Rename(tmp, bin); err != nil {
		t.Fatal(err)
	}
	t.Logf("built %s in %s", bin, time.Since(start).Round(time.Millisecond))
	return bin
}

// FixtureDB builds a vulnerability DB from fixture YAML into a fresh Trivy cache dir and
// returns the dir. With push set, it also publishes the DB as an OCI artifact there (what
// trivy --db-repository downloads).
func FixtureDB(t testing.TB, fixtureYAML, push string) string {
	t.Helper()
	dir := t.TempDir()
	args := []string{"-cache-dir", dir}
	if push != "" {
		args = append(args, "-push", push)
	}
	cmd := exec.CommandContext(t.Context(), MkDB(t), append(args, fixtureYAML)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mkdb: %v\n%s", err, out)
	}
	return dir
}
