package pipeline

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
)

// state guards a run while services change it concurrently.
type state struct {
	mu       sync.Mutex
	run      *Run
	cancel   context.CancelCauseFunc
	failFast bool
}

// ErrRunBusy is returned when another process is executing the run.
var ErrRunBusy = errors.New("run is being executed by another process")

// execute runs a created or resumed run under its lock: the owner is journaled, workers take
// the services in plan order, and when they are done the finally hook runs and the owner is
// cleared.
func (e *Engine) execute(ctx context.Context, run *Run, resume bool) (err error) {
	unlock, err := e.lockRun(ctx, run.ID)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, unlock()) }()
	if resume {
		// Reload under the lock: the journal may have grown while we waited.
		if run2, lerr := e.Store.Load(ctx, run.ID); lerr == nil {
			*run = *run2
		}
		// Locks exclude processes of one machine; the journal tells about the others.
		if o := run.Owner; o != nil && o.Host != e.Host && !e.Takeover {
			return fmt.Errorf("run %s: %w (pid %d on %s; if that job is gone, resume with --takeover)", run.ID, ErrRunBusy, o.PID, o.Host)
		}
	}
	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	st := &state{run: run, cancel: cancel, failFast: run.Options.FailFast}

	if err := e.append(ctx, st, Record{Owner: &Owner{Host: e.Host, PID: e.PID}}); err != nil {
		return err
	}
	e.report(Event{Time: e.now(), Kind: RunStarted, Run: run.ID, State: run})
	if resume {
		if err := e.prepareResume(ctx, st); err != nil {
			return err
		}
	}
	e.runServices(runCtx, st)
	// The owner record is cleared with a context that survives cancellation: a cancelled run
	// must still be journaled as stopped.
	stopCtx := context.WithoutCancel(ctx)
	message := summary(run)
	if err := e.runFinally(stopCtx, run); err != nil {
		message += "; finally: " + err.Error()
	}
	appendErr := e.append(stopCtx, st, Record{Released: true})
	syncErr := e.Store.Sync(stopCtx, run.ID)
	e.report(Event{Time: e.now(), Kind: RunFinished, Run: run.ID, Status: run.Status(), State: run,
		Message: message})
	return errors.Join(appendErr, syncErr)
}

func (e *Engine) lockRun(ctx context.Context, runID string) (func() error, error) {
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var heldBy string
	unlock, err := e.Store.Lock(lctx, "run-"+runID, e.holder(runID), func(h string) { heldBy = h; cancel() })
	if err != nil {
		if heldBy != "" {
			return nil, fmt.Errorf("run %s: %w (%s)", runID, ErrRunBusy, heldBy)
		}
		return nil, err
	}
	return unlock, nil
}

func (e *Engine) holder(runID string) string {
	return fmt.Sprintf(holderFormat, runID, e.PID, e.Host)
}

// runServices runs the services, at most Jobs at a time. Workers take services in plan
// order, so that --jobs 1 runs them one after the other.
func (e *Engine) runServices(ctx context.Context, st *state) {
	jobs := st.run.Options.Jobs
	if jobs <= 0 {
		jobs = 1
	}
	queue := make(chan *ServiceRun, len(st.run.Services))
	for _, svc := range st.run.Services {
		queue <- svc
	}
	close(queue)
	var wg sync.WaitGroup
	for range min(jobs, len(st.run.Services)) {
		wg.Go(func() {
			for svc := range queue {
				e.runService(ctx, st, svc)
			}
		})
	}
	wg.Wait()
}

// runService runs one service's stages in order until one does not succeed.
func (e *Engine) runService(ctx context.Context, st *state, svc *ServiceRun) {
	for _, s := range svc.Stages {
		if s.Status.Done() {
			continue
		}
		if e.holds(s.ID) {
			return // pending until a resume past the hold
		}
		if ctx.Err() != nil {
			e.finishCancelled(context.WithoutCancel(ctx), st, svc, s, ctx)
			return
		}
		status := e.runStage(ctx, st, svc, s)
		switch status {
		case Succeeded, Skipped:
			continue
		case Failed:
			if st.failFast {
				st.cancel(fmt.Errorf("--fail-fast: %s %s failed", svc.Name, s.ID))
			}
		}
		return
	}
}

// finishCancelled journals a stage that the run's cancellation stopped before it started.
func (e *Engine) finishCancelled(ctx context.Context, st *state, svc *ServiceRun, s *StageState, runCtx context.Context) {
	reason := cancelReason(runCtx)
	if err := e.setStage(ctx, st, svc, s, func(n *StageState) {
		n.Status, n.Reason = Cancelled, reason
		if n.Ended.IsZero() && !n.Started.IsZero() {
			n.Ended = e.now()
		}
	}); err != nil {
		e.logger().Error("journal cancelled stage", "run", st.run.ID, "service", svc.Name, "stage", s.ID, "err", err)
	}
	e.report(Event{Time: e.now(), Kind: StageFinished, Run: st.run.ID, Service: svc.Name, Stage: s.ID,
		Status: Cancelled, Message: reason, Duration: s.Duration(), ServiceDir: e.serviceDir(svc)})
}

// cancelReason says why a cancelled context was cancelled, when someone said (--fail-fast,
// a lost journal).
func cancelReason(ctx context.Context) string {
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		return "cancelled: " + cause.Error()
	}
	return "cancelled"
}

// runFinally runs the Finally hook within the config's finally timeout (5 minutes unless
// finally.timeout says otherwise), its output masked into a log.
func (e *Engine) runFinally(ctx context.Context, run *Run) error {
	if e.Finally == nil {
		return nil
	}
	log, err := e.createLog(filepath.Join(e.Store.Dir(run.ID), "logs", "finally.log"), nil)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, e.Config.Finally.TimeLimit())
	defer cancel()
	runErr := e.Finally(ctx, run, log)
	if err := log.Close(); err != nil && runErr == nil {
		runErr = err
	}
	return runErr
}

func summary(run *Run) string {
	counts := map[Status]int{}
	for _, s := range run.Services {
		counts[s.Status()]++
	}
	var parts []string
	for _, st := range []Status{Succeeded, Failed, Waiting, Cancelled, Pending} {
		if counts[st] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[st], st))
		}
	}
	return strings.Join(parts, ", ")
}
