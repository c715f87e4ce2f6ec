package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/ferry-ci/ferry/pipeline/config"
)

// The engine lives in rooms, one concern each, read in this order:
//
//	engine.go    the Engine, its dependencies, Start and Resume
//	schedule.go  a run: its lock, the workers that take services in plan order, the end
//	stagerun.go  one stage of one service, from skip to its final journaled state
//	attempt.go   the stage's Run with its timeout and retries
//	cache.go     the inputs digest and the content-addressed cache
//	resume.go    what a resumed run runs again
//	journal.go   every change to the run, journaled before the next step
//	job.go       what a stage gets: the Job
//	logsink.go   stage logs: masked into a file and reported line by line

// Masker hides secrets in text and in streams before they reach a log, a renderer or the journal.
type Masker interface {
	Mask(s string) string
	Writer(w io.Writer) io.WriteCloser
}

// Sources gives a content digest of what a service is built from at the run's commit: its
// folder, its paths.include entries, the shared folders, files and globs it depends on and the
// global dependencies. ErrDirty means the work tree differs from the commit there, so no
// cached result may be used.
type Sources interface {
	Digest(ctx context.Context, service string) (string, error)
}

// ErrDirty is returned by Sources when uncommitted changes make a digest meaningless.
var ErrDirty = errors.New("uncommitted changes")

// Engine runs plans: services in parallel (at most Jobs at a time), the stages of each service
// in order, every transition journaled in the Store before the next step.
type Engine struct {
	Config   *config.Config
	Store    Store
	Stages   StageSet
	Reporter Reporter
	Masker   Masker
	// Sources enables the content-addressed cache; nil disables it.
	Sources Sources
	// Environ is the process environment; stage commands get it without the credential
	// variables (IsCredential) their service does not list in passEnv. Secrets the config
	// names stay: the Masker knows them.
	Environ []string
	Logger  *slog.Logger
	Now     func() time.Time
	// RetryInterval is the first wait between attempts of a retryable stage (default 1s).
	RetryInterval time.Duration
	// Host and PID identify this process in the journal so that cancel can reach it.
	Host string
	PID  int
	// Takeover lets Resume continue a run whose journal says another machine executes it
	// (that machine's job was killed before it could say it stopped).
	Takeover bool
	// StopBeforeEnv, when set, holds the run before that environment: its stages and those of
	// the environments after it stay pending for a later Resume (see hold.go).
	StopBeforeEnv string
	// Finally, when set, runs each time a run stops, whatever its outcome, with the run's
	// final state; its log is logs/finally.log. Its failure is reported, not journaled as a
	// stage: the run's outcome is its stages'.
	Finally func(ctx context.Context, run *Run, log io.Writer) error

	// tools keeps the cache.tools outputs once they ran.
	tools toolOutputs
}

func (e *Engine) now() time.Time {
	if e.Now != nil {
		return e.Now().UTC()
	}
	return time.Now().UTC()
}

func (e *Engine) logger() *slog.Logger {
	if e.Logger != nil {
		return e.Logger
	}
	return slog.New(slog.DiscardHandler)
}

func (e *Engine) mask(s string) string {
	if e.Masker == nil {
		return s
	}
	return e.Masker.Mask(s)
}

func (e *Engine) report(ev Event) {
	if e.Reporter != nil {
		ev.Message = e.mask(ev.Message)
		e.Reporter.Report(ev)
	}
}

// ConfigDigest identifies a config's content, so that a run resumes with the config it was
// planned with: the file's digest, so that command-line overrides (--registry) do not count
// as a change; for a config built in code, its JSON.
func ConfigDigest(cfg *config.Config) string {
	if cfg.Digest != "" {
		return cfg.Digest
	}
	data, _ := json.Marshal(cfg)
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// CheckStages reports the planned stages that have no implementation in this build, before
// anything runs: a run must not stop half way for a missing stage.
func (e *Engine) CheckStages(plan *Plan) error {
	var missing []string
	until := ""
	for _, sp := range plan.Services {
		for i, id := range sp.Stages {
			if _, ok := e.Stages[id.Kind()]; ok || slices.Contains(missing, id.Kind()) {
				continue
			}
			missing = append(missing, id.Kind())
			if until == "" && i > 0 {
				until = string(sp.Stages[i-1])
			}
		}
	}
	if len(missing) == 0 {
		return nil
	}
	err := fmt.Errorf("this Ferry build has no %s stage yet, and the plan needs it", strings.Join(missing, " or "))
	if until != "" {
		err = fmt.Errorf("%w: run the stages before it with --until %s", err, until)
	}
	return err
}

// Start creates a run for the plan and executes it.
func (e *Engine) Start(ctx context.Context, plan *Plan, opts RunOptions) (*Run, error) {
	if err := e.CheckStages(plan); err != nil {
		return nil, err
	}
	run := NewRun(NewRunID(e.now()), e.now(), e.maskPlan(plan), ConfigDigest(e.Config), opts)
	if err := e.Store.Create(ctx, run); err != nil {
		return nil, err
	}
	return run, e.execute(ctx, run, false)
}

// Resume continues a run: stages that did not succeed run again; succeeded stages whose
// outputs are gone (another machine, a cleaned folder) run again too.
func (e *Engine) Resume(ctx context.Context, runID string) (*Run, error) {
	run, err := e.Store.Load(ctx, runID)
	if err != nil {
		return nil, err
	}
	if d := ConfigDigest(e.Config); d != run.ConfigDigest {
		return run, fmt.Errorf("ferry.yaml changed since run %s was planned; start a new run instead", runID)
	}
	if err := e.CheckStages(run.Plan); err != nil {
		return run, err
	}
	return run, e.execute(ctx, run, true)
}
