package cigen

import (
	"strings"
	"testing"

	"github.com/ferry-ci/ferry/pipeline/config"
	"github.com/ferry-ci/ferry/triggers"
	"github.com/ferry-ci/ferry/triggers/azure"
	"github.com/ferry-ci/ferry/triggers/github"
)

func TestGitHubPattern(t *testing.T) {
	cases := []struct {
		azure, want string
		exact       bool
	}{
		{"main", "main", true},
		{"feature/*", "feature/**", true},
		{"release/**", "release/**", true},
		{"v?.*", "v**.**", false},
		{"c++/*", `c\+\+/**`, true},
		{"!weird", `\!weird`, true},
		{"[x]", `\[x\]`, true},
	}
	for _, tc := range cases {
		got, exact := githubPattern(tc.azure)
		if got != tc.want || exact != tc.exact {
			t.Errorf("githubPattern(%q) = %q, %v; want %q, %v", tc.azure, got, exact, tc.want, tc.exact)
		}
	}
}

// ferryWants reports whether one of the config's triggers for the event matches the ref with
// Ferry's own filters, as triggers.Select decides before it looks at paths.
func ferryWants(t *testing.T, cfg *config.Config, pr bool, ref string) bool {
	t.Helper()
	for _, tr := range cfg.Triggers {
		if (tr.Event == "pr") != pr {
			continue
		}
		if len(tr.Branches.Include)+len(tr.Branches.Exclude) > 0 {
			f, err := azure.NewBranchFilter(tr.Branches.Include, tr.Branches.Exclude)
			if err != nil {
				t.Fatal(err)
			}
			if f.Match(ref) {
				return true
			}
		}
		if strings.HasPrefix(ref, "refs/tags/") && len(tr.Tags.Include)+len(tr.Tags.Exclude) > 0 {
			f, err := azure.NewTagFilter(tr.Tags.Include, tr.Tags.Exclude)
			if err != nil {
				t.Fatal(err)
			}
			if f.Match(triggers.ShortRef(ref)) {
				return true
			}
		}
	}
	return false
}

var mirrorRefs = []string{
	"refs/heads/main", "refs/heads/mainline", "refs/heads/feature/x", "refs/heads/feature/a/b",
	"refs/heads/feature/experimental/x", "refs/heads/feature/experimental", "refs/heads/release/delivery/v1.0.2",
	"refs/heads/release/x", "refs/heads/release/old/x", "refs/heads/hotfix/y", "refs/heads/dev", "refs/heads/releases",
	"refs/tags/v1.0.0", "refs/tags/x",
}

// TestTriggersMirrorFerry checks the mirrors against Ferry's own trigger filters on many
// refs: the CI file must start whenever a trigger of ferry.yaml matches (it may start more
// often), and for the example, whose filters both vendors can say, exactly then.
func TestTriggersMirrorFerry(t *testing.T) {
	type tcase struct {
		name  string
		cfg   *config.Config
		exact bool
	}
	cases := []tcase{{"example", exampleConfig(t), true}}
	for _, lc := range lintConfigs {
		cases = append(cases, tcase{lc.name, parseConfig(t, lc.text), false})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ghData, _, err := GitHub(tc.cfg, Options{})
			if err != nil {
				t.Fatal(err)
			}
			wf, err := github.ParseWorkflow("ferry.yml", ghData)
			if err != nil {
				t.Fatal(err)
			}
			azData, _, err := Azure(tc.cfg, Options{})
			if err != nil {
				t.Fatal(err)
			}
			pl, err := azure.ParsePipeline("azure-pipelines.yml", azData)
			if err != nil {
				t.Fatal(err)
			}
			for _, ref := range mirrorRefs {
				for _, pr := range []bool{false, true} {
					if pr && strings.HasPrefix(ref, "refs/tags/") {
						continue
					}
					want := ferryWants(t, tc.cfg, pr, ref)
					name := "push"
					if pr {
						name = "pull_request"
					}
					gh := wf.Evaluate(github.Event{Name: name, Ref: ref})
					az := pl.Evaluate(azure.Event{PullRequest: pr, Ref: ref}, azure.EvalOptions{})
					if want && !gh.Triggered {
						t.Errorf("GitHub, %s %s: not triggered (%s) but ferry.yaml has a trigger for it", name, ref, gh.Reason)
					}
					if want && !az.Triggered {
						t.Errorf("Azure, %s %s: not triggered (%s) but ferry.yaml has a trigger for it", name, ref, az.Reason)
					}
					if tc.exact && (gh.Triggered != want || az.Triggered != want) {
						t.Errorf("%s %s: GitHub %v (%s), Azure %v (%s); ferry.yaml %v", name, ref, gh.Triggered, gh.Reason, az.Triggered, az.Reason, want)
					}
				}
			}
		})
	}
}

// TestOverlappingExcludeIsDropped: one trigger's exclude must not take away what another
// trigger includes; the mirror is then wider than the first trigger alone.
func TestOverlappingExcludeIsDropped(t *testing.T) {
	tr := func(name string, inc, exc []string) *config.Trigger {
		return &config.Trigger{Name: name, Event: "push", Branches: config.RefFilter{Include: inc, Exclude: exc}}
	}
	ts := []*config.Trigger{
		tr("feature", []string{"feature/*"}, []string{"feature/experimental/*", "feature/old"}),
		tr("lab", []string{"feature/experimental/lab"}, nil),
	}
	got := githubRefs(ts, false)
	want := []string{"feature/**", "!feature/old", "feature/experimental/lab"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("githubRefs = %v, want %v", got, want)
	}
	inc, exc := azureRefs(ts, false)
	if strings.Join(inc, " ") != "feature/* feature/experimental/lab" || strings.Join(exc, " ") != "feature/old" {
		t.Errorf("azureRefs = %v, %v", inc, exc)
	}
}
