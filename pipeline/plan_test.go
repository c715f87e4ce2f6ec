package pipeline_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ferry-ci/ferry/pipeline"
	"github.com/ferry-ci/ferry/pipeline/config"
	"github.com/ferry-ci/ferry/triggers"
)

func TestFilterServices(t *testing.T) {
	stages := []pipeline.StageID{"build", "test"}
	cases := []struct {
		name     string
		services []string
		want     []string
	}{
		{"plan order", []string{"c", "a"}, []string{"a", "c"}},
		{"a duplicate is one service", []string{"b", "b", "a", "b"}, []string{"a", "b"}},
		{"none selects all", nil, []string{"a", "b", "c"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			plan := &pipeline.Plan{Services: []pipeline.ServicePlan{{Name: "a", Stages: stages}, {Name: "b", Stages: stages}, {Name: "c", Stages: stages}}}
			if err := plan.Filter(tc.services, "", ""); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, plan.ServiceNames()); diff != "" {
				t.Errorf("services (-want +got):\n%s", diff)
			}
		})
	}
	plan := &pipeline.Plan{Services: []pipeline.ServicePlan{{Name: "a", Stages: stages}}}
	if err := plan.Filter([]string{"a", "zz"}, "", ""); err == nil {
		t.Error("Filter accepted a service that is not in the plan")
	}
}

// TestNewPlanDependencies checks that the config's file, glob and global dependencies reach
// the plan: the services they affect, and why the others are left out.
func TestNewPlanDependencies(t *testing.T) {
	root := t.TempDir()
	for _, f := range []string{"src/a/main.go", "src/b/main.go", "go.mod", "go.work", "proto/v1/x.proto"} {
		writeFile(t, filepath.Join(root, f), "x")
	}
	cfg, err := config.Parse(filepath.Join(root, "ferry.yaml"), root, []byte(`
version: 1
services:
  a: {path: src/a, dependsOn: [go.mod]}
  b: {path: src/b, dependsOn: ['proto/**/*.proto']}
globalDependencies: [go.work]
triggers:
  feature: {branches: {include: ['feature/*']}, stages: [build]}
`))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		changed    string
		affected   map[string][]string
		unaffected []triggers.Unaffected
	}{
		{"go.mod", map[string][]string{"a": {"depends on go.mod (changed: go.mod)"}},
			[]triggers.Unaffected{{Name: "b", Reason: "no changed path under src/b or its dependencies (proto/**/*.proto)"}}},
		{"proto/v1/x.proto", map[string][]string{"b": {"depends on proto/**/*.proto (changed: proto/v1/x.proto)"}},
			[]triggers.Unaffected{{Name: "a", Reason: "no changed path under src/a or its dependencies (go.mod)"}}},
		{"go.work", map[string][]string{"a": {"globalDependencies: go.work changed"}, "b": {"globalDependencies: go.work changed"}}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.changed, func(t *testing.T) {
			plan, err := pipeline.NewPlan(cfg, triggers.Event{Kind: triggers.Push, Ref: "refs/heads/feature/x"},
				triggers.Changes{Paths: []string{tc.changed}})
			if err != nil {
				t.Fatal(err)
			}
			got := map[string][]string{}
			for _, s := range plan.Services {
				got[s.Name] = s.Reasons
			}
			if diff := cmp.Diff(tc.affected, got); diff != "" {
				t.Errorf("affected (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.unaffected, plan.Unaffected); diff != "" {
				t.Errorf("unaffected (-want +got):\n%s", diff)
			}
		})
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
