package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/ferry-ci/ferry/pipeline/config"
)

// stageRun is one stage of one service being run: where its events and journal records go.
// Skips and cache hits create no files, so logRel and log stay empty until the stage really
// runs; they are set once, by openLog.
type stageRun struct {
	e   *Engine
	st  *state
	svc *ServiceRun
	s   *StageState
	// base is what every event of the stage starts from.
	base Event
	// logRel is the log relative to the run's folder, as the journal keeps it.
	logRel string
	log    *logSink
}

// runStage runs one stage to a final state and journals every step. It returns the state.
func (e *Engine) runStage(ctx context.Context, st *state, svc *ServiceRun, s *StageState) Status {
	r := &stageRun{e: e, st: st, svc: svc, s: s,
		base: Event{Run: st.run.ID, Service: svc.Name, Stage: s.ID, ServiceDir: e.serviceDir(svc)}}
	impl := e.Stages[s.ID.Kind()]
	// What the skip and cache checks say before a log exists is kept here and becomes the
	// start of the log when the stage really runs.
	var early bytes.Buffer
	job := e.newJob(st.run, svc, s, &early)
	if sk, ok := impl.(Skipper); ok {
		if reason, skip := sk.Skip(job); skip {
			return r.finish(ctx, Skipped, reason, nil)
		}
	}
	key, err := e.inputsDigest(ctx, job, impl, &early)
	if err != nil {
		if ctx.Err() != nil {
			return r.finish(ctx, Cancelled, cancelReason(ctx), nil)
		}
		return r.finish(ctx, Failed, err.Error(), nil)
	}
	digest, cacheable := key.digest, key.cacheable
	if cacheable && digest != "" && !st.run.Options.NoCache {
		if entry, out, restored, ok := e.cacheHit(ctx, job, impl, key); ok {
			took := e.cachedDuration(ctx, entry)
			if entry.Run == st.run.ID {
				// This run did the stage before a resume on another machine, where its outputs
				// were missing: it is this run's own result, restored, not one reused.
				reason := "done earlier in this run"
				if restored != "" {
					reason += " (outputs restored from the cache: " + restored + ")"
				}
				return r.finish(ctx, Succeeded, reason, func(n *StageState) {
					n.InputsDigest, n.Outputs = digest, out
					// It took what it took then, not the time until this resume: durations
					// balance the shards of later plans.
					if took > 0 {
						n.Ended = n.Started.Add(took)
					}
				})
			}
			reason := fmt.Sprintf("same inputs as run %s", entry.Run)
			if restored != "" {
				reason += " (outputs restored from the cache: " + restored + ")"
			}
			return r.finish(ctx, Skipped, reason, func(n *StageState) {
				n.InputsDigest, n.CachedFrom, n.Outputs, n.CachedDuration = digest, entry.Run, out, took
				// A resumed stage keeps the start of its earlier attempt: the hit itself takes no time.
				n.Started = n.Ended
			})
		}
	}
	if err := r.openLog(); err != nil {
		return r.finish(ctx, Failed, fmt.Sprintf("create log: %v", err), nil)
	}
	defer r.log.Close()
	job.Log = r.log
	if _, err := r.log.Write(early.Bytes()); err != nil {
		return r.finish(ctx, Failed, fmt.Sprintf("write log: %v", err), nil)
	}
	unlock, err := e.lockEnvironment(ctx, job, r.base)
	if err != nil {
		if ctx.Err() != nil {
			return r.finish(ctx, Cancelled, "cancelled while waiting for the environment lock", nil)
		}
		return r.finish(ctx, Failed, err.Error(), nil)
	}
	if unlock != nil {
		defer unlock()
	}
	if err := r.start(ctx, digest); err != nil {
		return r.finish(ctx, Failed, fmt.Sprintf("journal: %v", err), nil)
	}
	status, reason := outcome(ctx, e.attempt(ctx, job, impl, r.log))
	var keep func(*StageState)
	if status == Succeeded || status == Skipped || status == Failed || status == Waiting {
		// Outputs of a failed stage (a scan report, its findings) are journaled for people,
		// and a waiting gate's (since when, the verdicts so far) for its next run; later
		// stages only read outputs of stages that are done.
		out := *job.Outputs
		keep = func(n *StageState) { n.Outputs = out }
	}
	r.finish(ctx, status, reason, keep)
	if status == Succeeded && cacheable && digest != "" {
		e.saveCache(context.WithoutCancel(ctx), job, impl, st.run, svc, s, key)
	}
	return status
}

// outcome is the final state and reason of a stage whose Run returned err.
func outcome(ctx context.Context, err error) (Status, string) {
	var se *SkipError
	var we *WaitError
	switch {
	case err == nil:
		return Succeeded, ""
	case errors.As(err, &se):
		return Skipped, se.Reason
	case errors.As(err, &we):
		return Waiting, we.Reason
	case ctx.Err() != nil:
		return Cancelled, cancelReason(ctx)
	default:
		return Failed, strings.TrimPrefix(err.Error(), ErrPermanent.Error()+": ")
	}
}

// openLog creates the stage's log; from here on the stage's events name the file.
func (r *stageRun) openLog() error {
	r.logRel = filepath.ToSlash(filepath.Join("logs", r.svc.Name, stageFileName(r.s.ID)+".log"))
	path := filepath.Join(r.e.Store.Dir(r.st.run.ID), filepath.FromSlash(r.logRel))
	r.base.LogFile = path
	log, err := r.e.createLog(path, &lineReporter{emit: r.reportLine})
	if err != nil {
		return err
	}
	r.log = log
	return nil
}

// reportLine reports one line of the stage's log.
func (r *stageRun) reportLine(line string) {
	ev := r.base
	ev.Time, ev.Kind, ev.Message = r.e.now(), StageLog, line
	r.e.report(ev)
}

// start journals the stage as running, then says so to the renderers and in the log.
func (r *stageRun) start(ctx context.Context, digest string) error {
	started := r.e.now()
	if err := r.e.setStage(context.WithoutCancel(ctx), r.st, r.svc, r.s, func(n *StageState) {
		n.Status, n.Reason, n.Started, n.Ended, n.Log, n.InputsDigest = Running, "", started, time.Time{}, r.logRel, digest
		n.Attempts++
	}); err != nil {
		return err
	}
	ev := r.base
	ev.Time, ev.Kind, ev.Status, ev.Attempt = started, StageStarted, Running, r.s.Attempts
	r.e.report(ev)
	fmt.Fprintf(r.log, "--- %s %s, attempt %d, %s ---\n", r.svc.Name, r.s.ID, r.s.Attempts, started.Format(time.RFC3339))
	return nil
}

// finish journals the stage's final state once its log is complete, and reports it. change,
// when set, adds to the state (outputs, the cache entry used).
func (r *stageRun) finish(ctx context.Context, status Status, reason string, change func(*StageState)) Status {
	if r.log != nil {
		r.log.flush() // renderers read the log file when the stage finishes
	}
	e := r.e
	if err := e.setStage(context.WithoutCancel(ctx), r.st, r.svc, r.s, func(n *StageState) {
		n.Status, n.Reason, n.Log = status, reason, r.logRel
		if n.Started.IsZero() {
			n.Started = e.now()
		}
		n.Ended = e.now()
		if change != nil {
			change(n)
		}
	}); err != nil {
		// Without a journal the run cannot promise anything: stop everything.
		r.st.cancel(fmt.Errorf("journal: %w", err))
		e.logger().Error("journal", "err", err)
	}
	ev := r.base
	ev.Time, ev.Kind, ev.Status, ev.Message, ev.Duration, ev.Attempt = e.now(), StageFinished, status, reason, r.s.Duration(), r.s.Attempts
	ev.CachedFrom = r.s.CachedFrom
	if !r.s.Outputs.IsZero() {
		out := r.s.Outputs
		ev.Outputs = &out
	}
	e.report(ev)
	return status
}

// lockEnvironment serialises the stages that change an environment (deploy, promote): one per
// service and environment at a time, first come first served. Approvals never take the lock.
func (e *Engine) lockEnvironment(ctx context.Context, job *Job, base Event) (func() error, error) {
	kind := job.Stage.Kind()
	if job.Env == nil || (kind != config.StageDeploy && kind != config.StagePromote) {
		return nil, nil
	}
	name := fmt.Sprintf("env-%s-%s", job.Pipeline.Name, job.Env.Name)
	holder := fmt.Sprintf("run %s (%s %s, pid %d on %s)", job.Run.ID, job.Pipeline.Name, job.Stage, e.PID, e.Host)
	return e.Store.Lock(ctx, name, holder, func(heldBy string) {
		fmt.Fprintf(job.Log, "waiting for environment %s of %s: locked by %s\n", job.Env.Name, job.Pipeline.Name, heldBy)
		ev := base
		ev.Time, ev.Kind, ev.Message = e.now(), StageLog, fmt.Sprintf("waiting for the %s lock held by %s", job.Env.Name, heldBy)
		e.report(ev)
	})
}
