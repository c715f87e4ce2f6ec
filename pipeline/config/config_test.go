package config

import (
	"errors"
	"flag"
	goldenfile "github.com/ferry-ci/ferry/internal/golden"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the expected outputs in testdata")

// TestErrorSuite loads every testdata/err/*.yaml against the fixture repository and compares
// the full list of errors with the .out file beside it.
func TestErrorSuite(t *testing.T) {
	files, err := filepath.Glob("testdata/err/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no error cases")
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".yaml")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Parse("ferry.yaml", "testdata/repo", data)
			var errs Errors
			if !errors.As(err, &errs) || len(errs) == 0 {
				t.Fatalf("want config errors, got %v", err)
			}
			got := errs.Error() + "\n"
			goldenfile.Check(t, strings.TrimSuffix(file, ".yaml")+".out", []byte(got), *update)
		})
	}
}

func TestLoadExample(t *testing.T) {
	cfg, err := Load("../../examples/shipping/ferry.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Version != 1 || cfg.Trunk != "main" || cfg.Registry != "127.0.0.1:5000/shipping" {
		t.Errorf("top level = %d %q %q", cfg.Version, cfg.Trunk, cfg.Registry)
	}
	d := cfg.Service("delivery")
	if d == nil {
		t.Fatal("no delivery service")
	}
	want := &Service{
		Name: "delivery", Pos: Pos{Line: 7, Col: 3},
		Path:  "src/shipping/delivery",
		Paths: PathFilter{Include: []string{"charts/delivery"}, Exclude: []string{"src/shipping/delivery/docs"}},
		DependsOn: []Dependency{
			{Folder: "src/shipping/common", Pos: Pos{Line: 10, Col: 17}},
			{Service: "package", Pos: Pos{Line: 10, Col: 38}},
			{File: "go.mod", Pos: Pos{Line: 10, Col: 47}},
		},
		Build: &Command{Line: "go build -trimpath -buildvcs=false -o bin/delivery .", Pos: Pos{Line: 11, Col: 12}},
		Test:  &Command{Line: "go test ./...", Pos: Pos{Line: 12, Col: 11}},
		Env:   map[string]string{"CGO_ENABLED": "0"},
		Image: &Image{Dockerfile: "Dockerfile", Context: ".", Builder: "auto", Platform: "linux/amd64"},
		Chart: "charts/delivery", ImageValues: DefaultImageValues(),
	}
	if diff := cmp.Diff(want, d, cmp.AllowUnexported(ScanPolicy{})); diff != "" {
		t.Errorf("delivery (-want +got):\n%s", diff)
	}
	if got := cfg.ServiceNames(); !cmp.Equal(got, []string{"delivery", "package", "workflow", "dronescheduler", "frontend"}) {
		t.Errorf("services in file order = %v", got)
	}
	// delivery's shared library builds into dronescheduler too, as in the drone-delivery original.
	if ds := cfg.Service("dronescheduler"); ds == nil || len(ds.DependsOn) == 0 || ds.DependsOn[0].Folder != "src/shipping/common" {
		t.Errorf("dronescheduler = %+v, want it to depend on src/shipping/common", ds)
	}
	var names []string
	for _, tr := range cfg.Triggers {
		names = append(names, tr.Name+":"+tr.Event)
	}
	if !cmp.Equal(names, []string{"feature:push", "pr:pr", "release:push"}) {
		t.Errorf("triggers = %v", names)
	}
	if rel := cfg.Triggers[2]; !rel.Release || cfg.Triggers[0].Release {
		t.Errorf("only the release trigger is a release trigger")
	}
	prod := cfg.Environments[1]
	if prod.Name != "prod" || prod.RegistryNamespace != "prod" || prod.Approval == nil || prod.Approval.MinApprovals != 2 ||
		prod.Approval.AllowedSigners != "deploy/allowed_signers" || len(prod.Approval.Approvers) != 0 {
		t.Errorf("prod = %+v", prod)
	}
	if o := cfg.StageOptionsFor(StagePush); o.Retries != 3 || o.Timeout != 5*time.Minute {
		t.Errorf("push options = %+v", o)
	}
	if len(cfg.Cache.Tools) != 1 || cfg.Cache.Tools[0].String() != "go version" {
		t.Errorf("cache.tools = %v", cfg.Cache.Tools)
	}
	if cfg.StageOptionsFor(StageBuild) != (StageOptions{}) {
		t.Errorf("build has no options")
	}
}

func TestScanPolicyFor(t *testing.T) {
	cfg, err := Parse("ferry.yaml", "testdata/repo", []byte(`
version: 1
services:
  a: {path: src/a, scan: {failOn: CRITICAL, ignore: [{id: CVE-2, reason: r, expires: 2030-01-01}]}}
  b: {path: src/b}
triggers:
  feature: {branches: {include: ['*']}, stages: [build]}
scan:
  failOn: HIGH
  ignoreUnfixed: true
  ignore: [{id: CVE-1, reason: r, expires: 2030-01-01}]
`))
	if err != nil {
		t.Fatal(err)
	}
	a := cfg.ScanPolicyFor(cfg.Service("a"))
	if a.FailOn != "CRITICAL" || !a.IgnoreUnfixed || len(a.Ignore) != 2 {
		t.Errorf("a's policy = %+v (service keys win, unset keys inherit, ignores join)", a)
	}
	b := cfg.ScanPolicyFor(cfg.Service("b"))
	if b.FailOn != "HIGH" || len(b.Ignore) != 1 {
		t.Errorf("b's policy = %+v", b)
	}
	if len(cfg.Scan.Ignore) != 1 {
		t.Errorf("merging changed the top-level policy")
	}
}

func TestCommandForms(t *testing.T) {
	cfg, err := Parse("ferry.yaml", "", []byte(`
version: 1
services:
  a: {path: src/a, build: "make  build ", test: [go, test, "./..."]}
triggers:
  feature: {branches: {include: ['*']}, stages: [build, test]}
`))
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Service("a")
	if s.Build.Line != "make  build" || s.Build.Args != nil {
		t.Errorf("string form = %+v", s.Build)
	}
	if !cmp.Equal(s.Test.Args, []string{"go", "test", "./..."}) || s.Test.Line != "" {
		t.Errorf("list form = %+v", s.Test)
	}
}

func TestAnchorsAndAliases(t *testing.T) {
	cfg, err := Parse("ferry.yaml", "", []byte(`
version: 1
x-go: &go {build: go build ./..., test: go test ./...}
services:
  a: {path: src/a}
triggers:
  feature: {branches: {include: ['*']}, stages: &stages [build, test]}
  main: {branches: {include: [main]}, stages: *stages}
`))
	var errs Errors
	if !errors.As(err, &errs) || len(errs) != 1 || !strings.Contains(errs[0].Msg, `unknown key "x-go"`) {
		t.Fatalf("want one unknown key error, got %v", err)
	}
	if got := cfg.Triggers[1].Stages; !cmp.Equal(got, []string{"build", "test"}) {
		t.Errorf("aliased stages = %v", got)
	}
}

func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/err/*.yaml")
	files = append(files, "../../examples/shipping/ferry.yaml")
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse("ferry.yaml", "", data)
		if err == nil && cfg == nil {
			t.Fatal("nil config without error")
		}
		var errs Errors
		if err != nil && errors.As(err, &errs) {
			for _, e := range errs {
				if e.Msg == "" {
					t.Fatalf("empty message in %v", e)
				}
			}
		}
	})
}

// TestDependencyKinds pins how a dependsOn or globalDependencies entry is read: a service by
// name, else a folder, a file or a glob of the fixture repository.
func TestDependencyKinds(t *testing.T) {
	cases := []struct {
		entry string
		want  Dependency
	}{
		{"b", Dependency{Service: "b"}},
		{"libs/common", Dependency{Folder: "libs/common"}},
		{"libs/common/", Dependency{Folder: "libs/common"}},
		{"go.mod", Dependency{File: "go.mod"}},
		{"./go.mod", Dependency{File: "go.mod"}},
		{"libs/**/*.proto", Dependency{Glob: "libs/**/*.proto"}},
		{"**/orders.proto", Dependency{Glob: "**/orders.proto"}},
		{"src/*", Dependency{Glob: "src/*"}},
	}
	for _, tc := range cases {
		t.Run(tc.entry, func(t *testing.T) {
			cfg, err := Parse("ferry.yaml", "testdata/repo", []byte(`
version: 1
services:
  a: {path: src/a, dependsOn: ['`+tc.entry+`']}
  b: {path: src/b}
triggers:
  feature: {branches: {include: ['*']}, stages: [build]}
`))
			if err != nil {
				t.Fatal(err)
			}
			got := cfg.Service("a").DependsOn
			if len(got) != 1 {
				t.Fatalf("dependsOn = %+v, want one entry", got)
			}
			got[0].Pos = Pos{}
			if got[0] != tc.want {
				t.Errorf("dependsOn %q = %+v, want %+v", tc.entry, got[0], tc.want)
			}
		})
	}
}

func TestGlobalKeys(t *testing.T) {
	cfg, err := Parse("ferry.yaml", "testdata/repo", []byte(`
version: 1
services:
  a: {path: src/a, cacheEnv: [NODE_ENV]}
globalDependencies: [go.mod, 'libs/**/*.proto', libs/common]
globalEnv: [GOFLAGS, GOOS]
cache: {tools: [go version, [node, --version]]}
triggers:
  feature: {branches: {include: ['*']}, stages: [build]}
`))
	if err != nil {
		t.Fatal(err)
	}
	want := []Dependency{
		{File: "go.mod", Pos: Pos{Line: 5, Col: 22}},
		{Glob: "libs/**/*.proto", Pos: Pos{Line: 5, Col: 30}},
		{Folder: "libs/common", Pos: Pos{Line: 5, Col: 49}},
	}
	if diff := cmp.Diff(want, cfg.GlobalDependencies); diff != "" {
		t.Errorf("globalDependencies (-want +got):\n%s", diff)
	}
	if !cmp.Equal(cfg.GlobalEnv, []string{"GOFLAGS", "GOOS"}) || !cmp.Equal(cfg.Service("a").CacheEnv, []string{"NODE_ENV"}) {
		t.Errorf("globalEnv = %v, cacheEnv = %v", cfg.GlobalEnv, cfg.Service("a").CacheEnv)
	}
	var tools []string
	for _, c := range cfg.Cache.Tools {
		tools = append(tools, c.String())
	}
	if !cmp.Equal(tools, []string{"go version", "node --version"}) {
		t.Errorf("cache.tools = %q", tools)
	}
}

// TestFinallyForms reads the finally hook as a command and as {run, timeout}; without a
// timeout the default applies.
func TestFinallyForms(t *testing.T) {
	cases := []struct {
		yaml    string
		want    Command
		timeout time.Duration
	}{
		{`finally: ./ci/notify.sh`, Command{Line: "./ci/notify.sh", Pos: Pos{Line: 6, Col: 10}}, DefaultFinallyTimeout},
		{`finally: [./ci/notify.sh, --all]`, Command{Args: []string{"./ci/notify.sh", "--all"}, Pos: Pos{Line: 6, Col: 10}}, DefaultFinallyTimeout},
		{`finally: {run: ./ci/notify.sh, timeout: 2m}`, Command{Line: "./ci/notify.sh", Pos: Pos{Line: 6, Col: 16}}, 2 * time.Minute},
		{"finally:\n  run: [notify, x]", Command{Args: []string{"notify", "x"}, Pos: Pos{Line: 7, Col: 8}}, DefaultFinallyTimeout},
	}
	for _, tc := range cases {
		cfg, err := Parse("ferry.yaml", "", []byte(`version: 1
services:
  a: {path: src/a}
triggers:
  feature: {branches: {include: ['*']}, stages: [build]}
`+tc.yaml+"\n"))
		if err != nil {
			t.Fatalf("%s: %v", tc.yaml, err)
		}
		if cfg.Finally == nil {
			t.Fatalf("%s: no finally", tc.yaml)
		}
		if diff := cmp.Diff(tc.want, cfg.Finally.Command); diff != "" {
			t.Errorf("%s: command (-want +got):\n%s", tc.yaml, diff)
		}
		if got := cfg.Finally.TimeLimit(); got != tc.timeout {
			t.Errorf("%s: timeout %v, want %v", tc.yaml, got, tc.timeout)
		}
	}
	var none *Finally
	if none.TimeLimit() != DefaultFinallyTimeout {
		t.Errorf("no finally: timeout %v", none.TimeLimit())
	}
}

func TestApprovalPolicy(t *testing.T) {
	data := []byte(`version: 1
registry: example.azurecr.io
services:
  a: {path: src/a}
environments:
  - name: prod
    approval:
      allowedSigners: deploy/allowed_signers
      minApprovals: 2
      excludeRequester: true
      excludeAuthors: true
      timeout: 72h
      groups:
        sre: {principals: [alice@example.com, bob@example.com]}
        qa: {principals: [carol@example.com], min: 1}
`)
	cfg, err := Parse("ferry.yaml", "testdata/repo", data)
	if err != nil {
		t.Fatal(err)
	}
	want := &Approval{AllowedSigners: "deploy/allowed_signers", Signed: true, MinApprovals: 2,
		ExcludeRequester: true, ExcludeAuthors: true, Timeout: 72 * time.Hour,
		Groups: []ApproverGroup{{Name: "sre", Principals: []string{"alice@example.com", "bob@example.com"}, Min: 1},
			{Name: "qa", Principals: []string{"carol@example.com"}, Min: 1}}}
	if diff := cmp.Diff(want, cfg.Environment("prod").Approval); diff != "" {
		t.Errorf("approval (-want +got):\n%s", diff)
	}
}
