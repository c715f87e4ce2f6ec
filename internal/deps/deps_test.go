package deps_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/ferry-ci/ferry"

const (
	goGit     = "github.com/go-git/go-git/v5/..."
	buildkit  = "github.com/moby/buildkit/..."
	helm      = "helm.sh/helm/..."
	clientGo  = "k8s.io/client-go/..."
	pipelines = module + "/pipeline/..."
	stages    = module + "/stages/..."
)

// rule says that some packages of Ferry must not link (or, when direct, import) others.
// Patterns are import paths; a trailing /... also matches the path itself and everything
// below it; a pattern without a host is relative to the module.
type rule struct {
	name   string
	why    string
	pkgs   []string
	except []string
	forbid []string
	// direct forbids only direct imports, for "only X may import Y" rules.
	direct bool
}

var rules = []rule{
	{name: "triggers-no-pipeline", why: "triggers decides with its own input types; pipeline adapts the config to them",
		pkgs: []string{"triggers/..."}, except: []string{"triggers/changes"}, forbid: []string{pipelines}},
	{name: "triggers-no-go-git", why: "only triggers/changes reads git; filters and affected services link none of it",
		pkgs: []string{"triggers/..."}, except: []string{"triggers/changes"}, forbid: []string{goGit}},
	{name: "only-changes-imports-go-git", why: "reading changed paths from git is the only job that needs go-git",
		pkgs: []string{"..."}, except: []string{"triggers/changes"}, forbid: []string{goGit}, direct: true},
	{name: "triggers-no-stages", why: "imports point one way: cmd → stages → pipeline → triggers",
		pkgs: []string{"triggers/..."}, forbid: []string{stages, module + "/cmd/..."}},
	{name: "pipeline-no-stages", why: "imports point one way: the engine knows stages only through the Stage interface",
		pkgs: []string{"pipeline/..."}, forbid: []string{stages, module + "/cmd/..."}},
	{name: "pipeline-no-go-git", why: "the engine, config, stores and renderers do not read git; workspace preparation does",
		pkgs: []string{"pipeline/..."}, except: []string{"pipeline/workspace"}, forbid: []string{goGit}},
	{name: "stages-no-go-git", why: "no stage reads git: stages get the changed paths and sources digests from the engine",
		pkgs: []string{"stages/..."}, forbid: []string{goGit}},
	{name: "light-stages", why: "approve and promote are a journal check and a registry copy",
		pkgs: []string{"stages/approve", "stages/promote"}, forbid: []string{buildkit, helm, clientGo}},
	{name: "push-no-buildkit", why: "push reads OCI layouts with go-containerregistry, not through the image stage",
		pkgs: []string{"stages/push"}, forbid: []string{buildkit, module + "/stages/image"}},
	{name: "only-image-imports-buildkit", why: "the Dockerfile parser is the image stage's",
		pkgs: []string{"..."}, except: []string{"stages/image"}, forbid: []string{buildkit}, direct: true},
	{name: "only-chart-and-deploy-link-helm", why: "Helm and client-go are the chart and deploy stages' dependencies",
		pkgs: []string{"triggers/...", "pipeline/...", "stages/..."}, except: []string{"stages/chart", "stages/deploy"},
		forbid: []string{helm, clientGo}},
}

type pkg struct {
	ImportPath string
	Imports    []string
	Deps       []string
}

func TestRules(t *testing.T) {
	root := moduleRoot(t)
	pkgs := listPackages(t, root)
	for _, r := range rules {
		t.Run(r.name, func(t *testing.T) {
			var broken []string
			matched := 0
			for _, p := range pkgs {
				if !matchAny(r.pkgs, p.ImportPath) || matchAny(r.except, p.ImportPath) {
					continue
				}
				matched++
				for _, f := range r.forbid {
					if !slices.ContainsFunc(linked(p, r.direct), func(d string) bool { return match(f, d) }) {
						continue
					}
					broken = append(broken, strings.Join(chain(pkgs, p.ImportPath, f), " → "))
				}
			}
			if matched == 0 {
				t.Fatalf("no package matches %v: the rule guards nothing", r.pkgs)
			}
			if len(broken) == 0 {
				return
			}
			t.Error(r.why + ":\n\t" + strings.Join(broken, "\n\t"))
		})
	}
}

// TestMatch pins the pattern rules the table relies on.
func TestMatch(t *testing.T) {
	cases := []struct {
		pattern, path string
		want          bool
	}{
		{"triggers/...", module + "/triggers", true},
		{"triggers/...", module + "/triggers/azure", true},
		{"triggers/...", module + "/triggersx", false},
		{"stages/push", module + "/stages/push", true},
		{"stages/push", module + "/stages/push/sub", false},
		{"...", module + "/cmd/ferry", true},
		{"...", "github.com/other/x", false},
		{goGit, "github.com/go-git/go-git/v5", true},
		{goGit, "github.com/go-git/go-git/v5/plumbing", true},
		{goGit, "github.com/go-git/go-billy/v5", false},
	}
	for _, tc := range cases {
		if got := match(tc.pattern, tc.path); got != tc.want {
			t.Errorf("match(%q, %q) = %v, want %v", tc.pattern, tc.path, got, tc.want)
		}
	}
}

// linked is what a package imports (direct) or links.
func linked(p pkg, direct bool) []string {
	if direct {
		return p.Imports
	}
	return p.Deps
}

func matchAny(patterns []string, path string) bool {
	return slices.ContainsFunc(patterns, func(pat string) bool { return match(pat, path) })
}

func match(pattern, path string) bool {
	if pattern == "..." {
		return path == module || strings.HasPrefix(path, module+"/")
	}
	if first, _, _ := strings.Cut(pattern, "/"); !strings.Contains(first, ".") {
		pattern = module + "/" + pattern
	}
	if base, ok := strings.CutSuffix(pattern, "/..."); ok {
		return path == base || strings.HasPrefix(path, base+"/")
	}
	return path == pattern
}

// chain is the shortest import path from a package to one that the pattern matches, for
// error messages.
func chain(pkgs map[string]pkg, from, pattern string) []string {
	prev := map[string]string{from: ""}
	queue := []string{from}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		if cur != from && match(pattern, cur) {
			out := []string{cur}
			for p := prev[cur]; p != ""; p = prev[p] {
				out = append([]string{p}, out...)
			}
			return out
		}
		for _, next := range pkgs[cur].Imports {
			if _, seen := prev[next]; !seen {
				prev[next] = cur
				queue = append(queue, next)
			}
		}
	}
	return []string{from, pattern}
}

// listPackages runs go list over the module and every package it links, so that chain can
// walk through third-party packages too.
func listPackages(t *testing.T, root string) map[string]pkg {
	t.Helper()
	cmd := exec.Command(goTool(), "list", "-deps", "-json=ImportPath,Imports,Deps", "./...")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.Bytes())
	}
	pkgs := map[string]pkg{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		pkgs[p.ImportPath] = p
	}
	return pkgs
}

func goTool() string {
	if p := filepath.Join(runtime.GOROOT(), "bin", "go"); exists(p) {
		return p
	}
	return "go"
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if !exists(filepath.Join(dir, "go.mod")) {
		t.Fatalf("no go.mod at %s", dir)
	}
	return dir
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
