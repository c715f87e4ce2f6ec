package releases

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ferry-ci/ferry/pipeline"
	"github.com/ferry-ci/ferry/triggers"
)

func refs(names ...string) []Ref {
	out := make([]Ref, len(names))
	for i, n := range names {
		out[i] = Ref{Name: n, Commit: strings.Repeat("a", 40)}
	}
	return out
}

func TestFind(t *testing.T) {
	shapes := triggers.ReleaseRefs{Tag: triggers.MustReleaseShape("{service}/v{version}")}
	got := Find(shapes, "delivery", refs(
		"refs/heads/main",
		"refs/heads/release/delivery/v1.2.0",
		"refs/remotes/origin/release/delivery/v1.2.0",
		"refs/remotes/origin/release/delivery/v1.10.0",
		"refs/heads/release/delivery/1.3.0-rc.1", // the v is optional in branch names
		"refs/heads/release/package/v9.0.0",
		"refs/heads/release/delivery/v1.0", // not a complete version: not a release
		"refs/tags/delivery/v1.2.1",
		"refs/tags/v5.0.0",
	))
	var versions []string
	for _, e := range got {
		versions = append(versions, e.Version.String()+" "+strings.Join(e.Refs, ","))
	}
	want := []string{
		"1.2.0 refs/heads/release/delivery/v1.2.0,refs/remotes/origin/release/delivery/v1.2.0",
		"1.2.1 refs/tags/delivery/v1.2.1",
		"1.3.0-rc.1 refs/heads/release/delivery/1.3.0-rc.1",
		"1.10.0 refs/remotes/origin/release/delivery/v1.10.0",
	}
	if d := cmp.Diff(want, versions); d != "" {
		t.Errorf("Find (-want +got):\n%s", d)
	}
	// Without releaseTag, tags name no release.
	if got := Find(triggers.ReleaseRefs{}, "delivery", refs("refs/tags/delivery/v1.2.1")); len(got) != 0 {
		t.Errorf("tags without a tag shape: %v", got)
	}
}

func TestNext(t *testing.T) {
	cases := []struct {
		name     string
		existing []string // branch versions
		req      Request
		want     string
		err      string
	}{
		{"first patch", nil, Request{Bump: Patch}, "0.0.1", ""},
		{"first minor", nil, Request{Bump: Minor}, "0.1.0", ""},
		{"first major", nil, Request{Bump: Major}, "1.0.0", ""},
		{"patch", []string{"1.2.0", "1.1.9"}, Request{Bump: Patch}, "1.2.1", ""},
		{"minor", []string{"1.2.3"}, Request{Bump: Minor}, "1.3.0", ""},
		{"major", []string{"1.2.3"}, Request{Bump: Major}, "2.0.0", ""},
		{"first rc", []string{"1.2.0"}, Request{Bump: Minor, Pre: "rc"}, "1.3.0-rc.1", ""},
		{"rc counts up", []string{"1.2.0", "1.3.0-rc.1"}, Request{Bump: Minor, Pre: "rc"}, "1.3.0-rc.2", ""},
		{"rc counts past gaps", []string{"1.2.0", "1.3.0-rc.1", "1.3.0-rc.7"}, Request{Bump: Minor, Pre: "rc"}, "1.3.0-rc.8", ""},
		{"other identifiers do not count", []string{"1.2.0", "1.3.0-beta.4"}, Request{Bump: Minor, Pre: "rc"}, "1.3.0-rc.1", ""},
		{"final after rcs is the same core", []string{"1.2.0", "1.3.0-rc.1", "1.3.0-rc.2"}, Request{Bump: Minor}, "1.3.0", ""},
		{"explicit", []string{"1.2.0"}, Request{Version: "v2.0.0"}, "2.0.0", ""},
		{"explicit without v", []string{"1.2.0"}, Request{Version: "1.2.1"}, "1.2.1", ""},
		{"explicit with rc", []string{"1.2.0", "2.0.0-rc.1"}, Request{Version: "v2.0.0", Pre: "rc"}, "2.0.0-rc.2", ""},
		{"explicit exists", []string{"1.2.0"}, Request{Version: "v1.2.0"}, "", "version 1.2.0: already exists as refs/heads/release/delivery/v1.2.0"},
		{"explicit lower", []string{"1.2.0"}, Request{Version: "v1.1.5"}, "", "version 1.1.5: not newer than the latest release 1.2.0"},
		{"patch below an rc", []string{"1.2.0", "1.3.0-rc.1"}, Request{Bump: Patch}, "", "version 1.2.1: not newer than the latest release 1.3.0-rc.1"},
		{"rc of a released version", []string{"1.3.0"}, Request{Version: "1.3.0", Pre: "rc"}, "", "version 1.3.0-rc.1: not newer than the latest release 1.3.0"},
		{"not semver", nil, Request{Version: "v1.2"}, "", `--version "v1.2" is not a semantic version`},
		{"bad pre", nil, Request{Bump: Minor, Pre: "7"}, "", `--pre "7"`},
		{"pre twice", nil, Request{Version: "1.0.0-rc.1", Pre: "rc"}, "", "is a pre-release already"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var names []string
			for _, v := range tc.existing {
				names = append(names, "refs/heads/release/delivery/v"+v)
			}
			v, err := Next(Find(triggers.ReleaseRefs{}, "delivery", refs(names...)), tc.req)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Next = %v, %v; want an error with %q", v, err, tc.err)
				}
				return
			}
			if err != nil || v.String() != tc.want {
				t.Fatalf("Next = %v, %v; want %s", v, err, tc.want)
			}
		})
	}
	_, err := Next(Find(triggers.ReleaseRefs{}, "delivery", refs("refs/heads/release/delivery/v1.0.0")), Request{Version: "1.0.0"})
	if !errors.Is(err, ErrExists) {
		t.Errorf("an existing version: %v, want ErrExists", err)
	}
}

func TestConventional(t *testing.T) {
	cases := []struct {
		msg        string
		want       Conventional
		bump       Bump
		releasable bool
	}{
		{"feat: add tracking", Conventional{Type: "feat"}, Minor, true},
		{"feat(api): add tracking\n\nbody", Conventional{Type: "feat", Scope: "api"}, Minor, true},
		{"Feat: capitalised types count", Conventional{Type: "feat"}, Minor, true},
		{"fix: off by one", Conventional{Type: "fix"}, Patch, true},
		{"perf(db): faster", Conventional{Type: "perf", Scope: "db"}, Patch, true},
		{"fix!: drop v1 API", Conventional{Type: "fix", Breaking: true}, Major, true},
		{"refactor(core)!: new layout", Conventional{Type: "refactor", Scope: "core", Breaking: true}, Major, true},
		{"feat: x\n\nBREAKING CHANGE: the config moved", Conventional{Type: "feat", Breaking: true}, Major, true},
		{"chore: y\n\nRefs: #1\nBREAKING-CHANGE: gone", Conventional{Type: "chore", Breaking: true}, Major, true},
		{"feat: x\n\nbreaking change: lower case is not a footer", Conventional{Type: "feat"}, Minor, true},
		{"docs: readme", Conventional{Type: "docs"}, Patch, false},
		{"chore(deps): bump x", Conventional{Type: "chore", Scope: "deps"}, Patch, false},
		{"Merge branch 'feature/x'", Conventional{}, Patch, false},
		{"feat:no space", Conventional{}, Patch, false},
		{"feat : space before colon", Conventional{}, Patch, false},
		{"update stuff", Conventional{}, Patch, false},
		{"", Conventional{}, Patch, false},
	}
	for _, tc := range cases {
		got := ParseConventional(tc.msg)
		if got != tc.want {
			t.Errorf("ParseConventional(%q) = %+v, want %+v", tc.msg, got, tc.want)
		}
		if b, ok := got.Bump(); b != tc.bump || ok != tc.releasable {
			t.Errorf("%q: bump %s %v, want %s %v", tc.msg, b, ok, tc.bump, tc.releasable)
		}
	}
}

func TestAutoBump(t *testing.T) {
	cases := []struct {
		msgs       []string
		want       Bump
		releasable bool
	}{
		{nil, Patch, false},
		{[]string{"docs: a", "chore: b", "not conventional"}, Patch, false},
		{[]string{"docs: a", "fix: b"}, Patch, true},
		{[]string{"fix: a", "feat: b", "perf: c"}, Minor, true},
		{[]string{"feat: a", "docs!: breaking docs"}, Major, true},
		{[]string{"fix: a\n\nBREAKING CHANGE: x", "feat: b"}, Major, true},
	}
	for _, tc := range cases {
		if b, ok := AutoBump(tc.msgs); b != tc.want || ok != tc.releasable {
			t.Errorf("AutoBump(%q) = %s %v, want %s %v", tc.msgs, b, ok, tc.want, tc.releasable)
		}
	}
}

// releaseRun is a run of delivery's release pipeline at a version with stage statuses.
func releaseRun(id, version string, created time.Time, stages map[pipeline.StageID]pipeline.Status) *pipeline.Run {
	ids := []pipeline.StageID{"build", "push", "chart", "deploy:qa", "approve:prod", "promote:prod", "deploy:prod"}
	plan := &pipeline.Plan{Services: []pipeline.ServicePlan{{Name: "delivery", Pipeline: "release", Release: true, Version: version, Stages: ids}}}
	run := pipeline.NewRun(id, created, plan, "", pipeline.RunOptions{})
	svc := run.Service("delivery")
	for id, st := range stages {
		s := svc.Stage(id)
		s.Status = st
		if id == "push" && st == pipeline.Succeeded {
			s.Outputs.Push = &pipeline.PushOutput{Ref: "r/delivery@sha256:" + version}
		}
	}
	return run
}

func TestList(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ok := pipeline.Succeeded
	runs := []*pipeline.Run{
		releaseRun("r1", "1.0.0", t0, map[pipeline.StageID]pipeline.Status{"build": ok, "push": ok, "deploy:qa": ok, "approve:prod": ok, "promote:prod": ok, "deploy:prod": ok}),
		releaseRun("r2", "1.1.0", t0.Add(time.Hour), map[pipeline.StageID]pipeline.Status{"build": ok, "push": ok, "deploy:qa": ok, "approve:prod": pipeline.Waiting}),
		releaseRun("r3", "1.2.0", t0.Add(2*time.Hour), map[pipeline.StageID]pipeline.Status{"build": ok, "push": ok, "deploy:qa": ok}),
		releaseRun("r4", "1.3.0", t0.Add(3*time.Hour), map[pipeline.StageID]pipeline.Status{"build": ok, "push": ok}),
		releaseRun("r5", "1.4.0", t0.Add(4*time.Hour), map[pipeline.StageID]pipeline.Status{"build": ok, "push": ok, "deploy:qa": ok, "approve:prod": pipeline.Failed}),
		releaseRun("r6", "1.5.0", t0.Add(5*time.Hour), map[pipeline.StageID]pipeline.Status{"build": pipeline.Failed}),
		// An older run of 1.3.0 that failed: the newest run decides.
		releaseRun("r0", "1.3.0", t0.Add(-time.Hour), map[pipeline.StageID]pipeline.Status{"build": pipeline.Failed}),
	}
	runs[4].Approvals = append(runs[4].Approvals, pipeline.Approval{Env: "prod", By: "bob", Service: "delivery", Decision: "reject"})
	existing := Find(triggers.ReleaseRefs{}, "delivery", refs("refs/heads/release/delivery/v1.5.0", "refs/heads/release/delivery/v1.6.0"))
	tags := &Tags{Image: []string{"1.0.0", "1.7.0", "0123456789abcdef0123456789abcdef01234567"}, Chart: []string{"1.0.0"}}
	got := List("delivery", existing, runs, []string{"qa", "prod"}, tags)
	var lines []string
	for _, e := range got {
		lines = append(lines, strings.Join([]string{e.Version, e.State, e.Env, strings.Join(e.Runs, ","), e.Image, strings.Join(e.Refs, ",")}, "|"))
	}
	want := []string{
		"1.7.0|built||||", // only its image tag is in the registry
		"1.6.0|branch cut||||refs/heads/release/delivery/v1.6.0",
		"1.5.0|branch cut||r6||refs/heads/release/delivery/v1.5.0",
		"1.4.0|rejected|prod|r5|r/delivery@sha256:1.4.0|",
		"1.3.0|built||r4,r0|r/delivery@sha256:1.3.0|",
		"1.2.0|in qa|qa|r3|r/delivery@sha256:1.2.0|",
		"1.1.0|waiting for approval|prod|r2|r/delivery@sha256:1.1.0|",
		"1.0.0|in production|prod|r1|r/delivery@sha256:1.0.0|",
	}
	if d := cmp.Diff(want, lines); d != "" {
		t.Errorf("List (-want +got):\n%s", d)
	}
	if e := got[len(got)-1]; e.ImageTag == nil || !*e.ImageTag || !*e.ChartTag {
		t.Errorf("1.0.0's tags in the registry: %+v", e)
	}
}
