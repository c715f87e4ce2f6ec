package releases

import (
	"slices"
	"strings"

	"github.com/Masterminds/semver/v3"

	"github.com/ferry-ci/ferry/pipeline"
	"github.com/ferry-ci/ferry/pipeline/config"
	"github.com/ferry-ci/ferry/triggers"
)

// State is how far a release got.
type State string

// The states, in the order a release moves through them.
const (
	BranchCut  State = "branch cut" // a release ref, and no pushed image yet
	Built      State = "built"      // its image is in the registry
	InEnv      State = "in "        // deployed to an environment before the last: "in qa"
	Waiting    State = "waiting for approval"
	Production State = "in production" // deployed to the last environment
	Rejected   State = "rejected"
)

// Entry is one release version of a service.
type Entry struct {
	Version string `json:"version"`
	State   string `json:"state"`
	// Env is the environment of the state: where it is deployed, waits or was rejected.
	Env  string   `json:"env,omitempty"`
	Refs []string `json:"refs"`
	// Runs are the ids of the runs of this version's release pipeline, newest first; the
	// state and digests are the newest run's.
	Runs   []string `json:"runs"`
	Status string   `json:"status,omitempty"`
	// Image and Chart are the pushed digests (REGISTRY/<svc>@sha256:…); Promoted the images
	// promoted into environments' registry namespaces.
	Image    string   `json:"image,omitempty"`
	Chart    string   `json:"chart,omitempty"`
	Promoted []string `json:"promoted,omitempty"`
	// ImageTag and ChartTag report the version's tags in the registry (nil: not checked).
	ImageTag *bool `json:"imageTag,omitempty"`
	ChartTag *bool `json:"chartTag,omitempty"`
}

// Tags are the registry's tags of the service's image and chart; nil when not asked.
type Tags struct {
	Image, Chart []string
}

// List describes every release of a service, newest version first: those that refs name,
// those runs ran and those whose image or chart tag is in the registry. runs are the store's
// runs (any order); envs the names of the config's environments, in order.
func List(service string, existing []Existing, runs []*pipeline.Run, envs []string, tags *Tags) []Entry {
	byVersion := map[string]*Entry{}
	versions := map[string]*semver.Version{}
	entry := func(v *semver.Version) *Entry {
		if e := byVersion[v.String()]; e != nil {
			return e
		}
		e := &Entry{Version: v.String(), State: string(BranchCut), Refs: []string{}, Runs: []string{}}
		byVersion[v.String()], versions[v.String()] = e, v
		return e
	}
	for _, x := range existing {
		entry(x.Version).Refs = x.Refs
	}
	sorted := slices.Clone(runs)
	slices.SortStableFunc(sorted, func(a, b *pipeline.Run) int { return b.Created.Compare(a.Created) })
	for _, run := range sorted {
		svc := run.Service(service)
		if svc == nil || run.Plan == nil || run.Plan.Service(service) == nil || !run.Plan.Service(service).Release || svc.Version == "" {
			continue
		}
		v, err := semver.StrictNewVersion(svc.Version)
		if err != nil {
			continue
		}
		e := entry(v)
		if len(e.Runs) == 0 {
			describeRun(e, run, svc, envs)
		}
		e.Runs = append(e.Runs, run.ID)
	}
	if tags != nil {
		for _, list := range [][]string{tags.Image, tags.Chart} {
			for _, t := range list {
				if v, err := semver.StrictNewVersion(strings.ReplaceAll(t, "_", "+")); err == nil {
					entry(v)
				}
			}
		}
		for k, e := range byVersion {
			img := slices.Contains(tags.Image, triggers.ImageTag(k))
			chart := slices.Contains(tags.Chart, triggers.ImageTag(k))
			e.ImageTag, e.ChartTag = &img, &chart
			if img && e.State == string(BranchCut) {
				e.State = string(Built)
			}
		}
	}
	out := make([]Entry, 0, len(byVersion))
	for _, e := range byVersion {
		out = append(out, *e)
	}
	slices.SortFunc(out, func(a, b Entry) int { return versions[b.Version].Compare(versions[a.Version]) })
	return out
}

// describeRun sets the state and digests from a run of the version.
func describeRun(e *Entry, run *pipeline.Run, svc *pipeline.ServiceRun, envs []string) {
	e.Status = string(svc.Status())
	if out, ok := svc.Output(config.StagePush); ok && out.Push != nil {
		e.Image = out.Push.Ref
		e.State = string(Built)
	}
	if out, ok := svc.Output(config.StageChart); ok && out.Chart != nil {
		e.Chart = out.Chart.Ref
	}
	for i, env := range envs {
		if st := svc.Stage(pipeline.NewStageID(config.StagePromote, env)); st != nil && st.Status == pipeline.Succeeded && st.Outputs.Promote != nil {
			e.Promoted = append(e.Promoted, st.Outputs.Promote.Ref)
		}
		if st := svc.Stage(pipeline.NewStageID(config.StageApprove, env)); st != nil {
			switch {
			case st.Status == pipeline.Waiting:
				e.State, e.Env = string(Waiting), env
				return
			case st.Status == pipeline.Failed && rejected(run, svc.Name, env):
				e.State, e.Env = string(Rejected), env
				return
			}
		}
		if st := svc.Stage(pipeline.NewStageID(config.StageDeploy, env)); st != nil && st.Status == pipeline.Succeeded {
			e.State, e.Env = string(InEnv)+env, env
			if i == len(envs)-1 {
				e.State = string(Production)
			}
		}
	}
}

// rejected reports a rejection of the service in the environment among the run's decisions.
func rejected(run *pipeline.Run, service, env string) bool {
	for _, a := range run.ApprovalsFor(env) {
		if a.Decision == "reject" && (a.Service == "" || a.Service == service) {
			return true
		}
	}
	return false
}
