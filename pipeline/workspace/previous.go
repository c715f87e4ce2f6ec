package workspace

import (
	"context"

	"github.com/ferry-ci/ferry/pipeline"
	"github.com/ferry-ci/ferry/triggers"
	"github.com/ferry-ci/ferry/triggers/changes"
	"github.com/ferry-ci/ferry/triggers/cibuilds"
)

// previousSources are where a push without a before commit starts, in order: the last
// commit Ferry ran for the branch, then (in Azure Pipelines) the pipeline's last successful
// build of the branch.
func previousSources(ev triggers.Event, o PlanOptions) []changes.Previous {
	var out []changes.Previous
	if o.Runs != nil {
		out = append(out, changes.Previous{Name: "the run store", Find: func(ctx context.Context) (string, string, error) {
			store, err := o.Runs(ctx)
			if err != nil {
				return "", "", err
			}
			return lastRunOf(ctx, store, ev)
		}})
	}
	if ev.Source == triggers.SourceAzure || triggers.CISystem(o.Env) == triggers.SourceAzure {
		api := cibuilds.AzureLastSucceeded{Env: o.Env, Client: o.HTTP}
		out = append(out, changes.Previous{Name: "the Azure Pipelines REST API", Find: func(ctx context.Context) (string, string, error) {
			return api.Find(ctx, ev.Ref)
		}})
	}
	return out
}

// lastRunOf finds the newest commit of the branch whose runs all succeeded: a failed service
// must run again, so a commit with a failed run is not a base. Runs of other branches, of pull
// requests and of the same commit do not count.
func lastRunOf(ctx context.Context, store pipeline.Store, ev triggers.Event) (sha, what string, err error) {
	runs, err := store.List(ctx)
	if err != nil {
		return "", "", err
	}
	failed := map[string]bool{}
	for _, run := range runs { // newest first
		e := run.Event
		if e.Kind != triggers.Push || e.Ref != ev.Ref || e.After == "" || e.After == ev.After {
			continue
		}
		if run.Status() != pipeline.Succeeded {
			failed[e.After] = true
			continue
		}
		if !failed[e.After] {
			return e.After, "run " + run.ID, nil
		}
	}
	return "", "", nil
}
