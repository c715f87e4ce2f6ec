package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
)

// CacheForecast is what the cache would do for one service of a plan, a line per stage.
type CacheForecast struct {
	Service string
	Lines   []string
}

// ForecastCache says, for each service of the plan, which stages the cache would serve and
// why the first one it would not serve runs (for ferry plan --explain). It runs no stage and
// writes nothing: so it stops at the first stage that would run, and at the first hit whose
// files would have to be restored first, since the keys of the stages after it (the image's
// build context) are made of those files.
func (e *Engine) ForecastCache(ctx context.Context, plan *Plan) []CacheForecast {
	run := NewRun("plan", e.now(), plan, "", RunOptions{})
	var out []CacheForecast
	for _, svc := range run.Services {
		f := CacheForecast{Service: svc.Name}
		for _, s := range svc.Stages {
			line, goOn := e.forecastStage(ctx, run, svc, s)
			if line != "" {
				f.Lines = append(f.Lines, string(s.ID)+": "+e.mask(line))
			}
			if !goOn {
				break
			}
		}
		out = append(out, f)
	}
	return out
}

// forecastStage is the line for one stage, and whether the stages after it can be foreseen.
// A stage served from the cache gets the entry's outputs, as the run would give it.
func (e *Engine) forecastStage(ctx context.Context, run *Run, svc *ServiceRun, s *StageState) (string, bool) {
	impl := e.Stages[s.ID.Kind()]
	if impl == nil {
		return "", false
	}
	var log bytes.Buffer
	job := e.newJob(run, svc, s, &log)
	if sk, ok := impl.(Skipper); ok {
		if reason, skip := sk.Skip(job); skip {
			s.Status = Skipped
			return "skipped (" + reason + ")", true
		}
	}
	if _, ok := impl.(Cacheable); !ok {
		return "", false // not cached: it and what follows run
	}
	k, err := e.inputsDigest(ctx, job, impl, &log)
	if err != nil {
		return "runs — " + err.Error(), false
	}
	if !k.cacheable {
		first, _, _ := strings.Cut(strings.TrimSpace(log.String()), "\n")
		return "runs — " + strings.TrimPrefix(first, "not using the cache: "), false
	}
	entry, err := e.Store.LookupCache(ctx, s.ID.Kind(), k.digest)
	switch {
	case errors.Is(err, ErrCacheMiss):
		return "runs — " + e.explainMiss(ctx, job, k), false
	case err != nil:
		return "runs — " + err.Error(), false
	}
	var verr error
	if v, ok := impl.(Verifier); ok {
		verr = v.Verify(ctx, job, entry.Outputs)
	}
	if verr == nil {
		s.Status, s.Outputs = Succeeded, entry.Outputs
		return fmt.Sprintf("cached (run %s)", entry.Run), true
	}
	_, restorer := e.Store.(CacheRestorer)
	if _, declares := impl.(FileOutputs); restorer && declares && len(entry.Files) > 0 {
		return fmt.Sprintf("cached (run %s), its output files restored from the store when it runs; the stages after it are decided then", entry.Run), false
	}
	return fmt.Sprintf("runs — the cached result of run %s cannot be used here (%v)", entry.Run, verr), false
}
