package pipeline

import (
	"io"
	"maps"
	"path/filepath"
	"slices"
	"strings"
)

// newJob builds the job of a stage (s is nil for checks that concern the whole service); the
// log is set by the caller.
func (e *Engine) newJob(run *Run, svc *ServiceRun, s *StageState, log io.Writer) *Job {
	cfgSvc := e.Config.Service(svc.Name)
	job := &Job{
		Run: run, Config: e.Config, Service: cfgSvc, Pipeline: svc, Outputs: &Outputs{}, Log: log,
		RepoRoot: e.Config.Root, Logger: e.logger().With("run", run.ID, "service", svc.Name),
		Force: run.Options.Force,
	}
	if cfgSvc != nil {
		job.ServiceDir = filepath.Join(e.Config.Root, filepath.FromSlash(cfgSvc.Path))
	}
	if s != nil {
		job.Stage = s.ID
		if e.Store != nil { // a dry run has none
			job.Dir = filepath.Join(e.Store.Dir(run.ID), "work", svc.Name, stageFileName(s.ID))
		}
		job.Logger = job.Logger.With("stage", string(s.ID))
		if env := s.ID.Env(); env != "" {
			for _, en := range e.Config.Environments {
				if en.Name == env {
					job.Env = en
				}
			}
		}
	}
	var pass []string
	if cfgSvc != nil {
		pass = cfgSvc.PassEnv
	}
	job.Environ = append(ScrubCredentials(e.Environ, pass),
		"FERRY_RUN_ID="+run.ID,
		"FERRY_SERVICE="+svc.Name,
		"FERRY_PIPELINE="+svc.Pipeline,
		"FERRY_VERSION="+svc.Version,
		"FERRY_COMMIT="+run.Event.After,
	)
	if s != nil {
		job.Environ = append(job.Environ, "FERRY_STAGE="+string(s.ID))
	}
	if cfgSvc != nil {
		for _, k := range slices.Sorted(maps.Keys(cfgSvc.Env)) {
			job.Environ = append(job.Environ, k+"="+cfgSvc.Env[k])
		}
	}
	return job
}

// serviceDir is the service's folder relative to the repository root, for renderers.
func (e *Engine) serviceDir(svc *ServiceRun) string {
	if c := e.Config.Service(svc.Name); c != nil {
		return c.Path
	}
	return ""
}

// stageFileName is a stage ID as a file name: deploy:qa is deploy-qa.
func stageFileName(id StageID) string { return strings.ReplaceAll(string(id), ":", "-") }
