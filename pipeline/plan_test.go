package pipeline_test

import (
	"os"
	"path/filepath"
	"strings"
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

// TestReleaseFromTagPlan plans a tag push delivery/v1.2.3 with releaseTag set: the release
// trigger runs delivery's release pipeline at version 1.2.3; the branch shape is the config's.
func TestReleaseFromTagPlan(t *testing.T) {
	cfg := loadConfig(t, `
version: 1
releaseBranch: 'releases/{service}@{version}'
releaseTag: '{service}/v{version}'
services:
  delivery: {path: src/delivery}
  package: {path: src/package}
triggers:
  feature: {branches: {include: ['feature/*']}, stages: [build]}
  release: {branches: {include: ['releases/*']}, tags: {include: ['*/v*']}, stages: [build, test]}
`)
	cases := []struct {
		ref, service, version, reason string
	}{
		{"refs/tags/delivery/v1.2.3", "delivery", "1.2.3", "release tag delivery/v1.2.3: version 1.2.3"},
		{"refs/heads/releases/package@v2.0.0-rc.1", "package", "2.0.0-rc.1", "release branch releases/package@v2.0.0-rc.1: version 2.0.0-rc.1"},
	}
	for _, tc := range cases {
		plan, err := pipeline.NewPlan(cfg, triggers.Event{Kind: triggers.Push, Ref: tc.ref, After: "abc"}, triggers.Changes{})
		if err != nil {
			t.Fatalf("%s: %v", tc.ref, err)
		}
		if plan.Trigger != "release" || len(plan.Services) != 1 {
			t.Fatalf("%s: plan = %+v", tc.ref, plan)
		}
		sp := plan.Services[0]
		if sp.Name != tc.service || sp.Version != tc.version || !sp.Release || !cmp.Equal(sp.Reasons, []string{tc.reason}) {
			t.Errorf("%s: service plan = %+v", tc.ref, sp)
		}
	}
	// The old shape is not a release branch any more: the trigger does not even match it.
	plan, err := pipeline.NewPlan(cfg, triggers.Event{Kind: triggers.Push, Ref: "refs/heads/release/delivery/v1.0.0", After: "abc"}, triggers.Changes{})
	if err != nil || plan.Trigger != "" {
		t.Errorf("old shape: %+v, %v", plan, err)
	}
	if _, err := pipeline.NewPlan(cfg, triggers.Event{Kind: triggers.Push, Ref: "refs/tags/delivery/v1.2", After: "abc"}, triggers.Changes{}); err == nil ||
		!strings.Contains(err.Error(), `release tag "delivery/v1.2": version "1.2" is not a semantic version`) {
		t.Errorf("bad tag version: %v", err)
	}
}

// TestCheckReleases reports bad shapes and release filters that can never match a release ref
// at the config position of the field.
func TestCheckReleases(t *testing.T) {
	cases := []struct {
		name, yaml string
		want       []string
	}{
		{"default shape", `triggers:
  release: {branches: {include: ['release/*']}, stages: [build]}`, nil},
		{"typo in the filter", `triggers:
  release: {branches: {include: ['releases/*']}, stages: [build]}`,
			[]string{"ferry.yaml:6:23: triggers.release.branches: a release trigger, but no branch it includes is a release branch release/<service>/<semver> (releaseBranch) (include: releases/*)"}},
		{"filter of another shape", `releaseBranch: 'rel/{service}-{version}'
triggers:
  ship: {release: true, branches: {include: ['release/*']}, stages: [build]}`,
			[]string{"ferry.yaml:7:35: triggers.ship.branches: a release trigger, but no branch it includes is a release branch rel/<service>-<semver> (releaseBranch) (include: release/*)"}},
		{"tags without a tag shape", `triggers:
  release: {tags: {include: ['v*']}, stages: [build]}`,
			[]string{"ferry.yaml:6:19: triggers.release.tags: a release trigger's tags name no release without releaseTag (e.g. releaseTag: '{service}/v{version}') (include: v*)"}},
		{"a non-release trigger is not checked", `triggers:
  deliver: {branches: {include: ['releases/*']}, stages: [build]}`, nil},
		{"bad shapes", `releaseBranch: 'release/{name}'
releaseTag: '{service}{version}'
triggers:
  release: {branches: {include: ['releases/*']}, stages: [build]}`,
			[]string{
				"ferry.yaml:5:16: releaseBranch: needs both {service} and {version} (e.g. release/{service}/{version})",
				"ferry.yaml:6:13: releaseTag: {service} and {version} need text between them (e.g. {service}/v{version})",
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := config.Parse("ferry.yaml", "", []byte("version: 1\nservices:\n  delivery: {path: src/delivery}\n  package: {path: src/package}\n"+tc.yaml+"\n"))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range pipeline.CheckReleases(cfg) {
				got = append(got, e.Error())
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}
