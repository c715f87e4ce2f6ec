package cigen

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rhysd/actionlint"

	"github.com/ferry-ci/ferry/pipeline/config"
)

// lintWorkflow fails the test for every error actionlint finds in a workflow: syntax, job
// graph, expressions and their types, action inputs, and with shellcheck on PATH the scripts.
func lintWorkflow(t *testing.T, name string, data []byte) {
	t.Helper()
	opts := &actionlint.LinterOptions{Color: actionlint.ColorOptionKindNever, WorkingDir: t.TempDir()}
	if sc, err := exec.LookPath("shellcheck"); err == nil {
		opts.Shellcheck = sc
	}
	l, err := actionlint.NewLinter(io.Discard, opts)
	if err != nil {
		t.Fatal(err)
	}
	errs, err := l.Lint(name, data, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range errs {
		t.Errorf("%s:%d:%d: %s [%s]", name, e.Line, e.Column, e.Message, e.Kind)
	}
	if t.Failed() {
		t.Logf("the workflow:\n%s", numbered(data))
	}
}

func numbered(data []byte) string {
	var b strings.Builder
	for i, l := range strings.Split(string(data), "\n") {
		fmt.Fprintf(&b, "%4d  %s\n", i+1, l)
	}
	return b.String()
}

// parseConfig reads a ferry.yaml written in a test; its folders need not exist.
func parseConfig(t *testing.T, text string) *config.Config {
	t.Helper()
	root := t.TempDir()
	for _, dir := range []string{"src/a", "src/b"} {
		if err := os.MkdirAll(filepath.Join(root, dir), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := config.Parse("ferry.yaml", root, []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// lintConfigs are configs that exercise every part of the generators.
var lintConfigs = []struct {
	name string
	text string
	o    Options
}{
	{"no environments", `
version: 1
services: {a: {path: src/a}}
triggers:
  feature: {branches: {include: ['feature/*']}, stages: [build, test]}
  pr: {branches: {include: [main, 'release/*']}, stages: [build, test]}
`, Options{}},
	{"tags, a trunk deploy with an approval, three environments", `
version: 1
state: oci://registry.example.com/ferry/runs
registry: registry.example.com/shop
services: {a: {path: src/a, chart: src/a}, b: {path: src/b, chart: src/b}}
triggers:
  trunk: {branches: {include: [main]}, tags: {include: ['v*']}, stages: [build, test, image, push, chart, deploy]}
  release: {branches: {include: ['release/*']}, stages: [build, test, image, push, chart, deploy]}
  hotfix: {release: true, branches: {include: ['hotfix/*']}, stages: [build, test, image, push, promote]}
environments:
  - {name: dev, namespace: dev}
  - {name: staging, namespace: staging, approval: {signed: false, approvers: [alice]}}
  - {name: prod-eu, namespace: prod, registryNamespace: prod, approval: {signed: false, approvers: [alice, bob], minApprovals: 2}}
`, Options{ConfigPath: "deploy/ferry.ci.yaml", FerryRef: "0123456789abcdef0123456789abcdef01234567"}},
	{"promote only", `
version: 1
registry: registry.example.com/shop
services: {a: {path: src/a}}
triggers:
  release: {branches: {include: ['release/*'], exclude: ['release/old/*']}, stages: [build, image, push, promote]}
environments:
  - {name: qa}
  - {name: prod, registryNamespace: prod, approval: {signed: false, approvers: [alice]}}
`, Options{GoVersionFile: "go.mod"}},
}

func TestGitHubWorkflowsPassActionlint(t *testing.T) {
	t.Run("example", func(t *testing.T) {
		data, _, err := GitHub(exampleConfig(t), exampleOptions)
		if err != nil {
			t.Fatal(err)
		}
		lintWorkflow(t, ".github/workflows/ferry.yml", data)
	})
	for _, tc := range lintConfigs {
		t.Run(tc.name, func(t *testing.T) {
			data, _, err := GitHub(parseConfig(t, tc.text), tc.o)
			if err != nil {
				t.Fatal(err)
			}
			lintWorkflow(t, ".github/workflows/ferry.yml", data)
		})
	}
}

// The hand-written example must pass too: it is what the generated workflow is modelled on.
func TestExampleWorkflowPassesActionlint(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "examples", "ci", "github", "monorepo.yml"))
	if err != nil {
		t.Fatal(err)
	}
	lintWorkflow(t, ".github/workflows/monorepo.yml", data)
}
