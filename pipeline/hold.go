package pipeline

import (
	"slices"

	"github.com/ferry-ci/ferry/pipeline/config"
)

// A hold stops a run before an environment without an approval: the stages of that
// environment and of every later one stay pending, and the run ends as pending. A CI job
// bound to the environment (a GitHub environment, an Azure deployment job) then continues it
// with ferry resume, so that each environment's deploy runs where that environment's
// credentials and checks are, while the journal stays one run.

// holds reports whether the engine's hold keeps the stage pending: it belongs to the held
// environment or to one after it in the config's order.
func (e *Engine) holds(id StageID) bool {
	if e.StopBeforeEnv == "" || id.Env() == "" {
		return false
	}
	return e.envIndex(id.Env()) >= e.envIndex(e.StopBeforeEnv)
}

// envIndex is an environment's position in the config; an unknown one sorts last, so that
// a hold never lets a stage of an environment it cannot place run.
func (e *Engine) envIndex(name string) int {
	i := slices.IndexFunc(e.Config.Environments, func(en *config.Environment) bool { return en.Name == name })
	if i < 0 {
		return len(e.Config.Environments)
	}
	return i
}

// Held reports whether the run stopped at the engine's hold and nowhere else: each service
// is done or its first unfinished stage is a held, pending one, and at least one is held.
func (e *Engine) Held(run *Run) bool {
	held := false
	for _, svc := range run.Services {
		i := firstUndone(svc)
		if i < 0 {
			continue
		}
		s := svc.Stages[i]
		if s.Status != Pending || !e.holds(s.ID) {
			return false
		}
		held = true
	}
	return held
}
