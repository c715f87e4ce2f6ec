package pipeline

import (
	"fmt"
	"io"
)

// DryRunStep says what one stage of one service would do.
type DryRunStep struct {
	Service string  `json:"service"`
	Stage   StageID `json:"stage"`
	Action  string  `json:"action"`
}

// DryRun describes what each planned stage would do, without running anything; it needs no
// store (e.Store may be nil). The actions are masked.
func DryRun(e *Engine, plan *Plan) []DryRunStep {
	run := NewRun("dry-run", e.now(), plan, "", RunOptions{DryRun: true})
	var steps []DryRunStep
	for _, svc := range run.Services {
		for _, s := range svc.Stages {
			step := DryRunStep{Service: svc.Name, Stage: s.ID}
			impl, ok := e.Stages[s.ID.Kind()]
			job := e.newJob(run, svc, s, io.Discard)
			switch {
			case !ok:
				step.Action = "not available in this Ferry build"
			default:
				if sk, ok := impl.(Skipper); ok {
					if reason, skip := sk.Skip(job); skip {
						step.Action = "skip: " + reason
						break
					}
				}
				if d, ok := impl.(DryRunner); ok {
					step.Action = d.DryRun(job)
				} else {
					step.Action = fmt.Sprintf("run %s", s.ID)
				}
			}
			step.Action = e.mask(step.Action) // a command line may hold a secret
			steps = append(steps, step)
		}
	}
	return steps
}
