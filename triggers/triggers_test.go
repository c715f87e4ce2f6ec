package triggers_test

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ferry-ci/ferry/triggers"
)

// monorepo is a shop's services and triggers, as pipeline hands them over from ferry.yaml.
var monorepo = []triggers.Service{
	{Name: "delivery", Path: "src/shipping/delivery",
		Paths: triggers.Filter{Include: []string{"charts/delivery", "deploy/*/delivery.yaml"},
			Exclude: []string{"src/shipping/delivery/docs", "src/shipping/delivery/**/*.md"}},
		DependsOn: []triggers.Dependency{{Folder: "src/shipping/common"}, {Service: "package"}}},
	{Name: "package", Path: "src/shipping/package", DependsOn: []triggers.Dependency{{Folder: "libs/proto"}}},
	{Name: "frontend", Path: "src/web/frontend"},
	{Name: "gateway", Path: "src/web/gateway", DependsOn: []triggers.Dependency{{Service: "frontend"}}},
}

var rules = []triggers.Rule{
	{Name: "feature", Event: triggers.Push, Branches: triggers.Filter{Include: []string{"feature/*"}, Exclude: []string{"feature/experimental/*"}}},
	{Name: "docs", Event: triggers.Push, Branches: triggers.Filter{Include: []string{"docs/*"}},
		Paths: triggers.Filter{Include: []string{"docs"}, Exclude: []string{"docs/drafts"}}},
	{Name: "pr", Event: triggers.PullRequest, Branches: triggers.Filter{Include: []string{"main"}}},
	{Name: "release", Event: triggers.Push, Release: true, Branches: triggers.Filter{Include: []string{"release/*"}}},
	{Name: "tags", Event: triggers.Push, Tags: triggers.Filter{Include: []string{"v*"}}},
}

func newIndex(t testing.TB, services []triggers.Service) *triggers.Index {
	t.Helper()
	ix, err := triggers.NewIndex(services)
	if err != nil {
		t.Fatal(err)
	}
	return ix
}

func TestAffected(t *testing.T) {
	ix := newIndex(t, monorepo)
	cases := []struct {
		name  string
		paths []string
		want  map[string][]string
	}{
		{"own folder", []string{"src/shipping/delivery/api.go"}, map[string][]string{
			"delivery": {"src/shipping/delivery/api.go under src/shipping/delivery"}}},
		{"several files count once", []string{"src/shipping/delivery/a.go", "src/shipping/delivery/b.go", "src/shipping/delivery/c/d.go"},
			map[string][]string{"delivery": {"src/shipping/delivery/a.go under src/shipping/delivery and 2 more changed paths"}}},
		{"folder at segment boundary only", []string{"src/shipping/delivery2/x.go", "src/shipping/deliveryx"}, nil},
		{"exclude wins when more specific", []string{"src/shipping/delivery/docs/guide.md"}, nil},
		{"wildcard exclude", []string{"src/shipping/delivery/api/README.md"}, nil},
		{"include outside the folder", []string{"charts/delivery/values.yaml"}, map[string][]string{
			"delivery": {`charts/delivery/values.yaml matches paths.include "charts/delivery"`}}},
		{"wildcard include", []string{"deploy/qa/delivery.yaml"}, map[string][]string{
			"delivery": {`deploy/qa/delivery.yaml matches paths.include "deploy/*/delivery.yaml"`}}},
		{"wildcard include does not cross folders", []string{"deploy/qa/eu/delivery.yaml"}, nil},
		{"shared folder triggers dependents", []string{"src/shipping/common/ids.go"}, map[string][]string{
			"delivery": {"depends on src/shipping/common (changed: src/shipping/common/ids.go)"}}},
		{"service dependency propagates", []string{"libs/proto/x.proto"}, map[string][]string{
			"package":  {"depends on libs/proto (changed: libs/proto/x.proto)"},
			"delivery": {"depends on service package (affected)"}}},
		{"chain of service dependencies", []string{"src/web/frontend/app.ts"}, map[string][]string{
			"frontend": {"src/web/frontend/app.ts under src/web/frontend"},
			"gateway":  {"depends on service frontend (affected)"}}},
		{"unrelated paths", []string{"README.md", "src/web/other/x"}, nil},
		{"no paths", nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := map[string][]string{}
			for _, a := range ix.Affected(tc.paths) {
				got[a.Name] = a.Reasons
			}
			if tc.want == nil {
				tc.want = map[string][]string{}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("affected (-want +got):\n%s", diff)
			}
		})
	}
}

// goRepo is a monorepo whose services share root files: a Go module, a workspace, generated
// protobuf code.
var goRepo = []triggers.Service{
	{Name: "orders", Path: "svc/orders", DependsOn: []triggers.Dependency{{File: "go.mod"}, {Glob: "proto/**/*.proto"}}},
	{Name: "billing", Path: "svc/billing", DependsOn: []triggers.Dependency{{Service: "orders"}}},
	{Name: "web", Path: "web", Paths: triggers.Filter{Exclude: []string{"web/docs"}},
		DependsOn: []triggers.Dependency{{File: "web/package-lock.json"}}},
}

var goRepoGlobal = []triggers.Dependency{{File: "go.work"}, {Glob: "tools/*.mk"}}

func TestAffectedByFilesAndGlobs(t *testing.T) {
	ix, err := triggers.NewIndex(goRepo, goRepoGlobal...)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		paths []string
		want  map[string][]string
	}{
		{"root file", []string{"go.mod"}, map[string][]string{
			"orders":  {"depends on go.mod (changed: go.mod)"},
			"billing": {"depends on service orders (affected)"}}},
		{"a file is not a folder prefix", []string{"go.mod.bak", "go.sum"}, nil},
		{"glob across folders", []string{"proto/orders/v1/orders.proto"}, map[string][]string{
			"orders":  {"depends on proto/**/*.proto (changed: proto/orders/v1/orders.proto)"},
			"billing": {"depends on service orders (affected)"}}},
		{"glob ** may be no folder", []string{"proto/common.proto"}, map[string][]string{
			"orders":  {"depends on proto/**/*.proto (changed: proto/common.proto)"},
			"billing": {"depends on service orders (affected)"}}},
		{"glob needs its suffix", []string{"proto/README.md"}, nil},
		{"file inside the service folder: the more specific entry names it", []string{"web/package-lock.json"}, map[string][]string{
			"web": {"depends on web/package-lock.json (changed: web/package-lock.json)"}}},
		{"global file affects every service", []string{"go.work"}, map[string][]string{
			"orders":  {"globalDependencies: go.work changed"},
			"billing": {"globalDependencies: go.work changed", "depends on service orders (affected)"},
			"web":     {"globalDependencies: go.work changed"}}},
		{"global glob", []string{"tools/lint.mk"}, map[string][]string{
			"orders":  {"globalDependencies: tools/lint.mk changed (tools/*.mk)"},
			"billing": {"globalDependencies: tools/lint.mk changed (tools/*.mk)", "depends on service orders (affected)"},
			"web":     {"globalDependencies: tools/lint.mk changed (tools/*.mk)"}}},
		{"global glob stays in its folder", []string{"tools/sub/lint.mk"}, nil},
		{"global and own reasons", []string{"svc/orders/main.go", "go.work"}, map[string][]string{
			"orders":  {"svc/orders/main.go under svc/orders", "globalDependencies: go.work changed"},
			"billing": {"globalDependencies: go.work changed", "depends on service orders (affected)"},
			"web":     {"globalDependencies: go.work changed"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := map[string][]string{}
			for _, a := range ix.Affected(tc.paths) {
				got[a.Name] = a.Reasons
			}
			if tc.want == nil {
				tc.want = map[string][]string{}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("affected (-want +got):\n%s", diff)
			}
		})
	}
}

func TestUnaffectedReasons(t *testing.T) {
	ix, err := triggers.NewIndex(append(slices.Clone(monorepo), goRepo...), goRepoGlobal...)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		paths []string
		want  map[string]string // only the services the case is about
	}{
		{"no path", []string{"README.md"}, map[string]string{
			"frontend": "no changed path under src/web/frontend",
			"delivery": "no changed path under src/shipping/delivery, charts/delivery, deploy/*/delivery.yaml or its dependencies (src/shipping/common, service package)",
			"orders":   "no changed path under svc/orders or its dependencies (go.mod, proto/**/*.proto)",
		}},
		{"excluded", []string{"src/shipping/delivery/docs/guide.txt", "web/docs/a.md"}, map[string]string{
			"delivery": "excluded by paths.exclude src/shipping/delivery/docs (changed: src/shipping/delivery/docs/guide.txt)",
			"web":      "excluded by paths.exclude web/docs (changed: web/docs/a.md)",
		}},
		{"excluded by a wildcard", []string{"src/shipping/delivery/api/README.md"}, map[string]string{
			"delivery": "excluded by paths.exclude src/shipping/delivery/**/*.md (changed: src/shipping/delivery/api/README.md)",
		}},
		{"affected services are not listed", []string{"go.mod"}, map[string]string{"orders": "", "billing": ""}},
		{"a global change leaves none out", []string{"go.work"}, map[string]string{"frontend": "", "web": ""}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			affected, unaffected := ix.Decide(tc.paths)
			if len(affected)+len(unaffected) != 7 {
				t.Errorf("%d affected and %d unaffected, want every one of 7 services decided", len(affected), len(unaffected))
			}
			got := map[string]string{}
			for _, u := range unaffected {
				got[u.Name] = u.Reason
			}
			for name, want := range tc.want {
				if got[name] != want {
					t.Errorf("%s: reason %q, want %q", name, got[name], want)
				}
			}
		})
	}
}

func TestSelectUnaffected(t *testing.T) {
	ix := newIndex(t, monorepo)
	cases := []struct {
		name string
		ref  string
		want string // the reason of frontend
	}{
		{"no trigger", "refs/heads/main", "no trigger matches push refs/heads/main"},
		{"release", "refs/heads/release/delivery/v1.0.0", "release branch release/delivery/v1.0.0 releases delivery only"},
		{"feature", "refs/heads/feature/x", "no changed path under src/web/frontend"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sel, err := triggers.Select(rules, ix, triggers.Event{Kind: triggers.Push, Ref: tc.ref}, triggers.Changes{Paths: []string{"src/shipping/delivery/x"}})
			if err != nil {
				t.Fatal(err)
			}
			var got string
			for _, u := range sel.Unaffected {
				if u.Name == "frontend" {
					got = u.Reason
				}
				if u.Name == "delivery" && sel.Trigger != nil {
					t.Errorf("delivery is both selected and unaffected: %s", u.Reason)
				}
			}
			if got != tc.want {
				t.Errorf("frontend: %q, want %q", got, tc.want)
			}
		})
	}
}

func TestNewIndexRejectsServiceAsGlobal(t *testing.T) {
	if _, err := triggers.NewIndex(monorepo, triggers.Dependency{Service: "frontend"}); err == nil {
		t.Error("a service as a global dependency was accepted")
	}
}

func TestAffectedKeepsConfigOrder(t *testing.T) {
	ix := newIndex(t, monorepo)
	var names []string
	for _, a := range ix.Affected([]string{"src/web/gateway/x", "src/shipping/delivery/x", "src/web/frontend/x"}) {
		names = append(names, a.Name)
	}
	if !cmp.Equal(names, []string{"delivery", "frontend", "gateway"}) {
		t.Errorf("order = %v", names)
	}
}

func TestSelect(t *testing.T) {
	ix := newIndex(t, monorepo)
	push := func(ref string) triggers.Event {
		return triggers.Event{Kind: triggers.Push, Ref: ref, Source: "flags"}
	}
	pr := func(base string) triggers.Event {
		return triggers.Event{Kind: triggers.PullRequest, Ref: "refs/heads/feature/x", Base: base, Source: "flags"}
	}
	cases := []struct {
		name     string
		ev       triggers.Event
		paths    []string
		trigger  string
		services []string
		version  string
		reason   string
	}{
		{"feature push", push("refs/heads/feature/login"), []string{"src/web/frontend/a"}, "feature", []string{"frontend", "gateway"}, "",
			"refs/heads/feature/login matches branches"},
		{"excluded branch", push("refs/heads/feature/experimental/x"), []string{"src/web/frontend/a"}, "", nil, "",
			"no trigger matches push refs/heads/feature/experimental/x"},
		{"pr to trunk", pr("refs/heads/main"), []string{"src/shipping/common/x"}, "pr", []string{"delivery"}, "",
			"refs/heads/main matches branches"},
		{"pr to another branch", pr("refs/heads/develop"), []string{"src/shipping/common/x"}, "", nil, "", "no trigger matches pr refs/heads/develop"},
		{"release ignores paths", push("refs/heads/release/delivery/v1.0.2"), nil, "release", []string{"delivery"}, "1.0.2",
			"refs/heads/release/delivery/v1.0.2 matches branches"},
		{"release with prerelease", push("refs/heads/release/package/2.0.0-rc.1+b7"), nil, "release", []string{"package"}, "2.0.0-rc.1+b7", ""},
		{"trigger paths match", push("refs/heads/docs/x"), []string{"docs/guide.md", "src/web/frontend/a"}, "docs", []string{"frontend", "gateway"}, "",
			`refs/heads/docs/x matches branches, docs/guide.md included by "docs"`},
		{"trigger paths exclude", push("refs/heads/docs/x"), []string{"docs/drafts/a.md"}, "", nil, "", "no changed path matches its paths"},
		{"tag push", push("refs/tags/v1.2.0"), nil, "tags", nil, "", "tag v1.2.0 matches tags"},
		{"tags do not match branch filters", push("refs/tags/feature/x"), nil, "", nil, "", "no trigger matches"},
		{"trunk push has no trigger", push("refs/heads/main"), []string{"src/web/frontend/a"}, "", nil, "", "no trigger matches push refs/heads/main"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sel, err := triggers.Select(rules, ix, tc.ev, triggers.Changes{Paths: tc.paths})
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			if sel.Trigger != nil {
				got = sel.Trigger.Name
			}
			if got != tc.trigger {
				t.Errorf("trigger = %q, want %q (%s)", got, tc.trigger, sel.Reason)
			}
			var names []string
			for _, s := range sel.Services {
				names = append(names, s.Name)
			}
			if !cmp.Equal(names, tc.services) {
				t.Errorf("services = %v, want %v", names, tc.services)
			}
			if tc.version != "" && (sel.Release == nil || sel.Release.Version != tc.version) {
				t.Errorf("release = %+v, want version %s", sel.Release, tc.version)
			}
			if !strings.Contains(sel.Reason, tc.reason) {
				t.Errorf("reason = %q, want it to contain %q", sel.Reason, tc.reason)
			}
		})
	}
}

func TestSelectAllAffected(t *testing.T) {
	ix := newIndex(t, monorepo)
	sel, err := triggers.Select(rules, ix, triggers.Event{Kind: triggers.Push, Ref: "refs/heads/feature/x"},
		triggers.Changes{All: true, Reason: "no merge-base with main"})
	if err != nil {
		t.Fatal(err)
	}
	if len(sel.Services) != 4 || sel.Services[0].Reasons[0] != "every service is affected: no merge-base with main" {
		t.Errorf("selection = %+v", sel.Services)
	}
}

func TestReleaseBranchErrors(t *testing.T) {
	ix := newIndex(t, monorepo)
	cases := map[string]string{
		"refs/heads/release/delivery/1.0":    `version "1.0" is not a semantic version`,
		"refs/heads/release/delivery/v1":     `version "v1" is not a semantic version`,
		"refs/heads/release/delivery/latest": `version "latest" is not a semantic version`,
		"refs/heads/release/nosuch/v1.0.0":   `unknown service "nosuch"`,
		"refs/heads/release/v1.0.0":          "expected release/<service>/<semver>",
		"refs/heads/release/a/b/v1.0.0":      "expected release/<service>/<semver>",
	}
	for ref, want := range cases {
		t.Run(ref, func(t *testing.T) {
			_, err := triggers.Select(rules, ix, triggers.Event{Kind: triggers.Push, Ref: ref}, triggers.Changes{})
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("err = %v, want %q", err, want)
			}
		})
	}
}

func TestParseReleaseBranch(t *testing.T) {
	cases := []struct{ ref, service, version, tag string }{
		{"release/delivery/v1.0.2", "delivery", "1.0.2", "1.0.2"},
		{"refs/heads/release/delivery/1.0.2", "delivery", "1.0.2", "1.0.2"},
		{"release/api/v2.0.0-rc.1+build.7", "api", "2.0.0-rc.1+build.7", "2.0.0-rc.1_build.7"},
	}
	for _, tc := range cases {
		r, err := triggers.ParseReleaseBranch(tc.ref)
		if err != nil {
			t.Fatalf("%s: %v", tc.ref, err)
		}
		if r.Service != tc.service || r.Version != tc.version || triggers.ImageTag(r.Version) != tc.tag {
			t.Errorf("%s = %+v tag %s", tc.ref, r, triggers.ImageTag(r.Version))
		}
	}
}

func FuzzParseReleaseBranch(f *testing.F) {
	for _, s := range []string{"release/delivery/v1.0.2", "release/a/1.0", "release//", "release/x/v1.2.3-rc.1+b", "", "refs/heads/release/a/v0.0.0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ref string) {
		r, err := triggers.ParseReleaseBranch(ref)
		if err != nil {
			return
		}
		if r.Service == "" || strings.Contains(r.Service, "/") || r.Version == "" || strings.HasPrefix(r.Version, "v") {
			t.Fatalf("%q parsed as %+v", ref, r)
		}
		if tag := triggers.ImageTag(r.Version); strings.Contains(tag, "+") {
			t.Fatalf("tag %q has a +", tag)
		}
		again, err := triggers.ParseReleaseBranch("release/" + r.Service + "/" + r.Version)
		if err != nil || again.Version != r.Version {
			t.Fatalf("normalised version %q does not parse back: %v", r.Version, err)
		}
	})
}

func TestDetectEvent(t *testing.T) {
	files := map[string]string{
		"/push.json": `{"ref":"refs/heads/feature/x","before":"1111111111111111111111111111111111111111","after":"2222222222222222222222222222222222222222"}`,
		"/pr.json":   `{"pull_request":{"base":{"ref":"main","sha":"3333333333333333333333333333333333333333"},"head":{"ref":"feature/x","sha":"4444444444444444444444444444444444444444"}}}`,
	}
	readFile := func(p string) ([]byte, error) {
		if s, ok := files[p]; ok {
			return []byte(s), nil
		}
		return nil, os.ErrNotExist
	}
	cases := []struct {
		name  string
		env   map[string]string
		flags triggers.EventFlags
		want  triggers.Event
		err   string
	}{
		{"flags only", nil, triggers.EventFlags{Event: "push", Ref: "feature/x", Before: "a", After: "b"},
			triggers.Event{Kind: triggers.Push, Ref: "refs/heads/feature/x", Before: "a", After: "b", Source: "flags"}, ""},
		{"pr flags", nil, triggers.EventFlags{Event: "pr", Base: "main", After: "b"},
			triggers.Event{Kind: triggers.PullRequest, Base: "refs/heads/main", After: "b", Source: "flags"}, ""},
		{"pr without base", nil, triggers.EventFlags{Event: "pr"}, triggers.Event{}, "needs its target branch"},
		{"bad event", nil, triggers.EventFlags{Event: "merge"}, triggers.Event{}, `--event: unknown event "merge"`},
		{"github push", map[string]string{"GITHUB_ACTIONS": "true", "GITHUB_EVENT_NAME": "push", "GITHUB_REF": "refs/heads/feature/x",
			"GITHUB_SHA": "2222222222222222222222222222222222222222", "GITHUB_EVENT_PATH": "/push.json"}, triggers.EventFlags{},
			triggers.Event{Kind: triggers.Push, Ref: "refs/heads/feature/x", Before: "1111111111111111111111111111111111111111",
				After: "2222222222222222222222222222222222222222", Source: "github"}, ""},
		{"github pull_request", map[string]string{"GITHUB_ACTIONS": "true", "GITHUB_EVENT_NAME": "pull_request", "GITHUB_REF": "refs/pull/7/merge",
			"GITHUB_BASE_REF": "main", "GITHUB_HEAD_REF": "feature/x", "GITHUB_EVENT_PATH": "/pr.json"}, triggers.EventFlags{},
			triggers.Event{Kind: triggers.PullRequest, Ref: "refs/heads/feature/x", Base: "refs/heads/main",
				BaseSHA: "3333333333333333333333333333333333333333", After: "4444444444444444444444444444444444444444", Source: "github"}, ""},
		{"flags override github", map[string]string{"GITHUB_ACTIONS": "true", "GITHUB_EVENT_NAME": "push", "GITHUB_REF": "refs/heads/feature/x",
			"GITHUB_EVENT_PATH": "/push.json"}, triggers.EventFlags{Ref: "release/a/v1.0.0"},
			triggers.Event{Kind: triggers.Push, Ref: "refs/heads/release/a/v1.0.0", Before: "1111111111111111111111111111111111111111",
				After: "2222222222222222222222222222222222222222", Source: "github+flags"}, ""},
		{"github payload missing", map[string]string{"GITHUB_ACTIONS": "true", "GITHUB_EVENT_NAME": "push", "GITHUB_EVENT_PATH": "/nope.json"},
			triggers.EventFlags{}, triggers.Event{}, "read GitHub event payload"},
		{"azure ci", map[string]string{"TF_BUILD": "True", "BUILD_REASON": "IndividualCI", "BUILD_SOURCEBRANCH": "refs/heads/feature/x",
			"BUILD_SOURCEVERSION": "5555555555555555555555555555555555555555"}, triggers.EventFlags{},
			triggers.Event{Kind: triggers.Push, Ref: "refs/heads/feature/x", After: "5555555555555555555555555555555555555555", Source: "azure", NoBefore: true}, ""},
		{"azure pr", map[string]string{"TF_BUILD": "True", "BUILD_REASON": "PullRequest", "BUILD_SOURCEBRANCH": "refs/pull/7/merge",
			"BUILD_SOURCEVERSION": "6666666666666666666666666666666666666666", "SYSTEM_PULLREQUEST_TARGETBRANCH": "main",
			"SYSTEM_PULLREQUEST_SOURCEBRANCH": "refs/heads/feature/x"}, triggers.EventFlags{},
			triggers.Event{Kind: triggers.PullRequest, Ref: "refs/heads/feature/x", Base: "refs/heads/main",
				After: "6666666666666666666666666666666666666666", Source: "azure"}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := func(k string) string { return tc.env[k] }
			got, err := triggers.DetectEvent(env, readFile, tc.flags)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("event (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCleanPaths(t *testing.T) {
	got, err := triggers.CleanPaths([]string{" ./src/a.go ", "src\\b.go", "", "src//a.go", "././c", "src/x/../b.go", "d/"})
	if err != nil || !cmp.Equal(got, []string{"c", "d", "src/a.go", "src/b.go"}) {
		t.Errorf("CleanPaths = %v, %v", got, err)
	}
	for _, bad := range []string{"../x", "src/../../x", "/etc/passwd", "C:\\x", ".."} {
		if got, err := triggers.CleanPaths([]string{"a", bad}); err == nil || !strings.Contains(err.Error(), strconv.Quote(bad)) {
			t.Errorf("CleanPaths(%q) = %v, %v: want an error naming it", bad, got, err)
		}
	}
}

// BenchmarkAffected matches 100k changed paths against 1000 services, half of them depending
// on one of 100 shared folders (the target: ≤ 25 ms).
func BenchmarkAffected(b *testing.B) {
	services := make([]triggers.Service, 1000)
	for i := range services {
		services[i] = triggers.Service{Name: fmt.Sprintf("svc-%04d", i), Path: fmt.Sprintf("src/svc-%04d", i)}
		if i%2 == 0 {
			services[i].DependsOn = []triggers.Dependency{{Folder: fmt.Sprintf("libs/lib-%02d", i%100)}}
		}
	}
	ix := newIndex(b, services)
	paths := make([]string, 0, 100_000)
	for i := range 100_000 {
		switch i % 10 {
		case 0:
			paths = append(paths, fmt.Sprintf("libs/lib-%02d/pkg/f%d.go", i%100, i))
		case 1:
			paths = append(paths, fmt.Sprintf("deploy/svc-%04d/f%d.yaml", i%1000, i))
		default:
			paths = append(paths, fmt.Sprintf("src/svc-%04d/internal/pkg/f%d.go", (i/10)%1000, i))
		}
	}
	if got := ix.Affected(paths); len(got) != 1000 {
		b.Fatalf("affected %d services, want 1000", len(got))
	}
	b.ReportAllocs()
	for b.Loop() {
		ix.Affected(paths)
	}
}

func TestReleaseShapes(t *testing.T) {
	cases := []struct {
		shape, name      string
		service, version string
		err              string
	}{
		{"release/{service}/{version}", "release/delivery/v1.0.2", "delivery", "1.0.2", ""},
		{"release/{service}/{version}", "release/delivery/1.0.2", "delivery", "1.0.2", ""},
		{"release/{service}/{version}", "release/delivery/1.0", "", "", `version "1.0" is not a semantic version`},
		{"release/{service}/{version}", "release/a/b/v1.0.0", "", "", "expected release/<service>/<semver>, e.g. release/delivery/v1.0.2"},
		{"release/{service}/{version}", "releases/delivery/v1.0.0", "", "", "expected release/<service>/<semver>"},
		{"{service}/v{version}", "delivery/v1.2.3", "delivery", "1.2.3", ""},
		{"{service}/v{version}", "delivery/v2.0.0-rc.1+b7", "delivery", "2.0.0-rc.1+b7", ""},
		{"{service}/v{version}", "delivery/1.2.3", "", "", "expected <service>/v<semver>, e.g. delivery/v1.0.2"},
		{"{service}/v{version}", "delivery/vv1.2.3", "", "", `version "v1.2.3" is not a semantic version MAJOR.MINOR.PATCH (e.g. 1.0.2)`},
		{"{service}-v{version}", "delivery-v1.2.3", "delivery", "1.2.3", ""},
		{"{service}-v{version}", "delivery-api-v1.2.3", "delivery-api", "1.2.3", ""},
		{"{service}-v{version}", "my-vault-v1.0.0-rc-v2", "my-vault", "1.0.0-rc-v2", ""},
		{"{service}-v{version}", "delivery", "", "", "expected <service>-v<semver>"},
		{"rel/{version}/{service}", "rel/v3.1.4/package", "package", "3.1.4", ""},
		{"releases/{service}@{version}", "releases/web.app@0.0.1", "web.app", "0.0.1", ""},
	}
	for _, tc := range cases {
		t.Run(tc.shape+" "+tc.name, func(t *testing.T) {
			shape, err := triggers.ParseReleaseShape(tc.shape)
			if err != nil {
				t.Fatal(err)
			}
			svc, v, err := shape.Parse(tc.name)
			switch {
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Errorf("err = %v, want %q", err, tc.err)
			case tc.err == "" && err != nil:
				t.Errorf("err = %v", err)
			case svc != tc.service || v != tc.version:
				t.Errorf("= %q %q, want %q %q", svc, v, tc.service, tc.version)
			}
		})
	}
}

func TestBadReleaseShapes(t *testing.T) {
	cases := map[string]string{
		"":                               "empty release shape",
		"release/{service}":              "needs both {service} and {version}",
		"{service}{version}":             "need text between them",
		"{service}/{version}/{service}":  "may appear only once",
		"{service}/{major}/{version}":    "unknown placeholder",
		"refs/heads/{service}/{version}": "without refs/heads/",
		"release/*/{service}/{version}":  "not a valid ref name",
		"release/{service}/{version}/":   "not a valid ref name",
		"{service}//{version}":           "an empty folder",
		"r//{service}/{version}":         "an empty folder",
	}
	for shape, want := range cases {
		if _, err := triggers.ParseReleaseShape(shape); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseReleaseShape(%q) = %v, want %q", shape, err, want)
		}
	}
}

// TestReleaseFromTag selects a release from a tag push when the release rule matches tags and
// a tag shape is set; without one a tag push names no release.
func TestReleaseFromTag(t *testing.T) {
	ix := newIndex(t, monorepo)
	refs := triggers.ReleaseRefs{Tag: triggers.MustReleaseShape("{service}/v{version}")}
	rule := triggers.Rule{Name: "release", Event: triggers.Push, Release: true, ReleaseRefs: refs,
		Branches: triggers.Filter{Include: []string{"release/*"}}, Tags: triggers.Filter{Include: []string{"*/v*"}}}
	sel, err := triggers.Select([]triggers.Rule{rule}, ix, triggers.Event{Kind: triggers.Push, Ref: "refs/tags/delivery/v1.2.3"}, triggers.Changes{})
	if err != nil {
		t.Fatal(err)
	}
	if sel.Release == nil || sel.Release.Service != "delivery" || sel.Release.Version != "1.2.3" || sel.Release.Tag != "delivery/v1.2.3" {
		t.Fatalf("release = %+v", sel.Release)
	}
	if len(sel.Services) != 1 || sel.Services[0].Reasons[0] != "release tag delivery/v1.2.3: version 1.2.3" {
		t.Errorf("services = %+v", sel.Services)
	}
	// Branches keep the default shape.
	if sel, err := triggers.Select([]triggers.Rule{rule}, ix, triggers.Event{Kind: triggers.Push, Ref: "refs/heads/release/package/v2.0.0"}, triggers.Changes{}); err != nil || sel.Release.Service != "package" {
		t.Errorf("branch release = %+v, %v", sel.Release, err)
	}
	if _, err := triggers.Select([]triggers.Rule{rule}, ix, triggers.Event{Kind: triggers.Push, Ref: "refs/tags/nosuch/v1.0.0"}, triggers.Changes{}); err == nil || !strings.Contains(err.Error(), `release tag "nosuch/v1.0.0": unknown service "nosuch"`) {
		t.Errorf("unknown service: %v", err)
	}
	rule.ReleaseRefs = triggers.ReleaseRefs{}
	if _, err := triggers.Select([]triggers.Rule{rule}, ix, triggers.Event{Kind: triggers.Push, Ref: "refs/tags/delivery/v1.2.3"}, triggers.Changes{}); err == nil || !strings.Contains(err.Error(), "no releaseTag shape") {
		t.Errorf("tag without a tag shape: %v", err)
	}
}

func TestCheckReleaseRule(t *testing.T) {
	services := []string{"delivery", "package"}
	tagShape := triggers.ReleaseRefs{Tag: triggers.MustReleaseShape("{service}/v{version}")}
	custom := triggers.ReleaseRefs{Branch: triggers.MustReleaseShape("releases/{service}-{version}")}
	cases := []struct {
		name           string
		refs           triggers.ReleaseRefs
		branches, tags triggers.Filter
		wantB, wantT   string
	}{
		{"default", triggers.ReleaseRefs{}, triggers.Filter{Include: []string{"release/*"}}, triggers.Filter{}, "", ""},
		{"full refs", triggers.ReleaseRefs{}, triggers.Filter{Include: []string{"refs/heads/release/*"}}, triggers.Filter{}, "", ""},
		{"one service", triggers.ReleaseRefs{}, triggers.Filter{Include: []string{"release/delivery/v2.*"}}, triggers.Filter{}, "", ""},
		{"exclude only", triggers.ReleaseRefs{}, triggers.Filter{Exclude: []string{"feature/*"}}, triggers.Filter{}, "", ""},
		{"typo", triggers.ReleaseRefs{}, triggers.Filter{Include: []string{"releases/*"}}, triggers.Filter{}, "release/<service>/<semver>", ""},
		{"unknown service", triggers.ReleaseRefs{}, triggers.Filter{Include: []string{"release/nosuch/*"}}, triggers.Filter{}, "no branch it includes", ""},
		{"trunk", triggers.ReleaseRefs{}, triggers.Filter{Include: []string{"main"}}, triggers.Filter{}, "no branch it includes", ""},
		{"excluded", triggers.ReleaseRefs{}, triggers.Filter{Include: []string{"release/*"}, Exclude: []string{"release/*"}}, triggers.Filter{}, "no branch it includes", ""},
		{"partly excluded", triggers.ReleaseRefs{}, triggers.Filter{Include: []string{"release/*"}, Exclude: []string{"release/package/*"}}, triggers.Filter{}, "", ""},
		{"custom shape", custom, triggers.Filter{Include: []string{"releases/*"}}, triggers.Filter{}, "", ""},
		{"custom shape, old filter", custom, triggers.Filter{Include: []string{"release/*"}}, triggers.Filter{}, "releases/<service>-<semver>", ""},
		{"tags without a shape", triggers.ReleaseRefs{}, triggers.Filter{}, triggers.Filter{Include: []string{"v*"}}, "", "without releaseTag"},
		{"tag refs without a shape", triggers.ReleaseRefs{}, triggers.Filter{Include: []string{"refs/tags/*"}}, triggers.Filter{}, "tags name a release only with releaseTag", ""},
		{"tags", tagShape, triggers.Filter{}, triggers.Filter{Include: []string{"*/v*"}}, "", ""},
		{"tag refs in branches", tagShape, triggers.Filter{Include: []string{"refs/tags/delivery/*"}}, triggers.Filter{}, "", ""},
		{"tags of another shape", tagShape, triggers.Filter{}, triggers.Filter{Include: []string{"v*"}}, "", "no tag it includes is a release tag <service>/v<semver>"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rule := triggers.Rule{Name: "release", Release: true, Branches: tc.branches, Tags: tc.tags}
			b, tg := tc.refs.CheckRule(rule, services)
			if (tc.wantB == "") != (b == "") || !strings.Contains(b, tc.wantB) {
				t.Errorf("branches: %q, want %q", b, tc.wantB)
			}
			if (tc.wantT == "") != (tg == "") || !strings.Contains(tg, tc.wantT) {
				t.Errorf("tags: %q, want %q", tg, tc.wantT)
			}
		})
	}
}
