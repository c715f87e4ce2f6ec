package pipeline_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-ci/ferry/pipeline"
)

// cacheKeysConfig keys build results by GOFLAGS (everywhere), NODE_ENV (service a only) and
// the output of a tool command that reads a file the test rewrites.
const cacheKeysConfig = `
version: 1
services:
  a: {path: src/a, cacheEnv: [NODE_ENV]}
  b: {path: src/b}
globalEnv: [GOFLAGS]
cache: {tools: ['cat toolchain.txt']}
triggers:
  feature: {branches: {include: ['feature/*']}, stages: [build, test]}
`

// TestCacheKeysEnvAndTools runs the same plan twice, changing one input in between, and
// checks which builds were served from the cache.
func TestCacheKeysEnvAndTools(t *testing.T) {
	base := []string{"PATH=" + os.Getenv("PATH"), "GOFLAGS=-mod=mod", "NODE_ENV=production", "OTHER=1"}
	cases := []struct {
		name    string
		environ []string // for the second run
		tool    string   // toolchain.txt for the second run
		rebuilt []string // services whose build ran again
		why     string   // what a's build log says changed, when it ran again
	}{
		{"nothing changed", base, "go1.26", nil, ""},
		{"global variable", replace(base, "GOFLAGS=-mod=vendor"), "go1.26", []string{"a", "b"}, "globalEnv GOFLAGS\n"},
		{"global variable unset", replace(base, "GOFLAGS"), "go1.26", []string{"a", "b"}, "globalEnv GOFLAGS\n"},
		{"service variable", replace(base, "NODE_ENV=development"), "go1.26", []string{"a"}, "cacheEnv NODE_ENV\n"},
		{"variable nobody names", replace(base, "OTHER=2"), "go1.26", nil, ""},
		{"tool output", base, "go1.27", []string{"a", "b"}, `cache.tools "cat toolchain.txt"` + "\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, cacheKeysConfig, map[string]func(*fakeStage) pipeline.Stage{
				"build": func(f *fakeStage) pipeline.Stage { return cacheableStage{f} },
			})
			h.engine.Sources = fixedSources{"tree-1"}
			writeTool(t, h.cfg.Root, "go1.26")
			h.engine.Environ = base
			plan := h.plan(t, "refs/heads/feature/x", "src/a/x", "src/b/x")
			first, err := h.engine.Start(t.Context(), plan, pipeline.RunOptions{Jobs: 1})
			if err != nil {
				t.Fatal(err)
			}
			// A new engine is a new process: the tools run again.
			next := &pipeline.Engine{Config: h.cfg, Store: h.store, Stages: h.engine.Stages, Sources: fixedSources{"tree-1"},
				Environ: tc.environ, Host: "test", PID: os.Getpid()}
			writeTool(t, h.cfg.Root, tc.tool)
			before := len(h.stages["build"].Calls())
			run, err := next.Start(t.Context(), plan, pipeline.RunOptions{Jobs: 1})
			if err != nil {
				t.Fatal(err)
			}
			var rebuilt []string
			for _, c := range h.stages["build"].Calls()[before:] {
				rebuilt = append(rebuilt, strings.TrimSuffix(c, "/build"))
			}
			if strings.Join(rebuilt, ",") != strings.Join(tc.rebuilt, ",") {
				t.Errorf("rebuilt %v, want %v", rebuilt, tc.rebuilt)
			}
			if tc.why != "" {
				st := run.Service("a").Stage("build")
				log, _ := os.ReadFile(filepath.Join(h.store.Dir(run.ID), st.Log))
				want := "not in the cache: inputs changed since run " + first.ID + ": " + tc.why
				if !strings.Contains(string(log), want) {
					t.Errorf("a's build log does not say %q:\n%s", want, log)
				}
			}
			assertNotInRun(t, h.store.Dir(run.ID), "-mod=mod", "-mod=vendor", "production", "development")
		})
	}
}

func TestCacheToolFailureFailsTheStage(t *testing.T) {
	h := newHarness(t, strings.Replace(cacheKeysConfig, "'cat toolchain.txt'", "'echo no such toolchain >&2; exit 3'", 1), nil)
	plan := h.plan(t, "refs/heads/feature/x", "src/a/x")
	run, err := h.engine.Start(t.Context(), plan, pipeline.RunOptions{Jobs: 1})
	if err != nil {
		t.Fatal(err)
	}
	st := run.Service("a").Stage("build")
	want := `cache.tools command "echo no such toolchain >&2; exit 3" failed: exit status 3: no such toolchain`
	if st.Status != pipeline.Failed || st.Reason != want {
		t.Errorf("build = %s (%s), want failed with %q", st.Status, st.Reason, want)
	}
	if n := len(h.stages["build"].Calls()); n != 0 {
		t.Errorf("build ran %d times with an unknown toolchain", n)
	}
}

func replace(environ []string, kv string) []string {
	name, _, _ := strings.Cut(kv, "=")
	var out []string
	for _, e := range environ {
		if !strings.HasPrefix(e, name+"=") {
			out = append(out, e)
		}
	}
	if strings.Contains(kv, "=") {
		out = append(out, kv)
	}
	return out
}

func writeTool(t *testing.T, root, version string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(root, "toolchain.txt"), []byte(version), 0o644); err != nil {
		t.Fatal(err)
	}
}

// assertNotInRun checks that no file of a run (run.json, the journal, logs) holds the values.
func assertNotInRun(t *testing.T, dir string, values ...string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, v := range values {
			if strings.Contains(string(data), v) {
				t.Errorf("%s holds the value %q", path, v)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestDiffInputs(t *testing.T) {
	in := func(kv ...string) []pipeline.Input {
		var out []pipeline.Input
		for i := 0; i < len(kv); i += 2 {
			out = append(out, pipeline.Input{Name: kv[i], Digest: kv[i+1]})
		}
		return out
	}
	many := func(n int, digest string) []pipeline.Input {
		var out []pipeline.Input
		for i := range n {
			out = append(out, pipeline.Input{Name: fmt.Sprintf("src/f%02d.go", i), Digest: digest})
		}
		return out
	}
	cases := []struct {
		name     string
		old, cur []pipeline.Input
		want     string
	}{
		{"equal", in("a.go", "1", "globalEnv GOFLAGS", "x"), in("a.go", "1", "globalEnv GOFLAGS", "x"),
			"no named input differs (the earlier entry may predate input lists)"},
		{"a file and a variable", in("src/shipping/common/common.go", "1", "go.mod", "2", "globalEnv GOFLAGS", "x"),
			in("src/shipping/common/common.go", "9", "go.mod", "2", "globalEnv GOFLAGS", "y"),
			"src/shipping/common/common.go, globalEnv GOFLAGS"},
		{"added and removed", in("a.go", "1", "b.go", "2"), in("a.go", "1", "c.go", "3"), "c.go (added), b.go (removed)"},
		{"unset variable", in("cacheEnv NODE_ENV", "sha256:ab"), in("cacheEnv NODE_ENV", "unset"), "cacheEnv NODE_ENV"},
		{"a name twice keeps the last", in("a.go", "1", "a.go", "2"), in("a.go", "2"), "no named input differs (the earlier entry may predate input lists)"},
		{"an entry without inputs", nil, in("a.go", "1"), "a.go (added)"},
		{"many", many(13, "1"), many(13, "2"),
			"src/f00.go, src/f01.go, src/f02.go, src/f03.go, src/f04.go, src/f05.go, src/f06.go, src/f07.go, src/f08.go, src/f09.go, and 3 more"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := pipeline.DescribeChanges(pipeline.DiffInputs(tc.old, tc.cur)); got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}
