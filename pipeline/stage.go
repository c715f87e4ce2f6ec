package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/ferry-ci/ferry/pipeline/config"
)

// Stage is one kind of step of a pipeline (build, test, image, ...). The engine runs it once per
// service and, for per-environment stages, per environment. A stage must check before it acts
// (already pushed? already deployed for this run?) so that a resumed run repeats nothing.
type Stage interface {
	Name() string
	Run(ctx context.Context, job *Job) error
}

// Skipper is implemented by stages that have nothing to do for some services (no build
// command, no image section). A skipped stage does not stop the pipeline.
type Skipper interface {
	Skip(job *Job) (reason string, skip bool)
}

// Cacheable is implemented by stages whose result depends only on their inputs: the engine
// reuses an earlier result with the same inputs digest instead of running the stage.
type Cacheable interface {
	// Inputs returns what, besides the service's sources and config, the result depends on
	// (tool versions, earlier stages' outputs).
	Inputs(ctx context.Context, job *Job) ([]byte, error)
}

// Verifier is implemented by stages whose outputs live outside the journal (files, image
// layouts). The engine calls it before reusing a cached result, and on resume before a later
// stage depends on the outputs; an error makes the stage run again.
type Verifier interface {
	Verify(ctx context.Context, job *Job, out Outputs) error
}

// DryRunner describes what the stage would do, for --dry-run.
type DryRunner interface {
	DryRun(job *Job) string
}

// SkipError ends a stage as skipped with a reason; it is not a failure.
type SkipError struct{ Reason string }

func (e *SkipError) Error() string { return "skipped: " + e.Reason }

// WaitError ends a stage as waiting (an approval gate that is not passed yet).
type WaitError struct{ Reason string }

func (e *WaitError) Error() string { return "waiting: " + e.Reason }

// ErrPermanent marks a failure that retrying cannot fix (a policy decision, a refused tag move).
var ErrPermanent = errors.New("permanent failure")

// Permanent wraps an error so that retries stop.
func Permanent(err error) error { return fmt.Errorf("%w: %w", ErrPermanent, err) }

// Job is what a stage gets to do its work for one service: the config, the service's run
// state with the outputs of earlier stages, a log and a private folder.
type Job struct {
	Run     *Run
	Config  *config.Config
	Service *config.Service
	// Pipeline is this service's state in the run; read earlier stages' outputs from it.
	Pipeline *ServiceRun
	Stage    StageID
	// Env is the environment of a per-environment stage, nil otherwise.
	Env *config.Environment
	// Outputs are what this stage publishes; the engine journals them when it succeeds.
	Outputs *Outputs
	// Log receives the stage's output (masked, kept with the run).
	Log io.Writer
	// Dir is a folder for the stage's files (image layouts, reports), kept with the run. It
	// does not exist until the stage creates it (most stages need none).
	Dir string
	// RepoRoot is the repository root; ServiceDir is the service's folder in it.
	RepoRoot   string
	ServiceDir string
	// Env vars for commands, secrets included (the masker knows them).
	Environ []string
	Logger  *slog.Logger
	// Attempt counts from 1.
	Attempt int
	// Options from the command line that stages honour.
	Force bool
}

// StageSet is the stages a build of Ferry has, by name.
type StageSet map[string]Stage

// NewStageSet collects stages by their names; a duplicate name is a programming error.
func NewStageSet(stages ...Stage) (StageSet, error) {
	r := StageSet{}
	for _, s := range stages {
		if _, dup := r[s.Name()]; dup {
			return nil, fmt.Errorf("stage %s registered twice", s.Name())
		}
		r[s.Name()] = s
	}
	return r, nil
}
