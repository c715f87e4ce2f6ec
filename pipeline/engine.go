package pipeline

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/ferry-ci/ferry/pipeline/config"
	"github.com/ferry-ci/ferry/triggers"
)

// Masker hides secrets in text and in streams before they reach a log, a renderer or the journal.
type Masker interface {
	Mask(s string) string
	Writer(w io.Writer) io.WriteCloser
}

// Sources gives a content digest of what a service is built from at the run's commit: its
// folder, its paths.include entries and the shared folders it depends on. ErrDirty means the
// work tree differs from the commit there, so no cached result may be used.
type Sources interface {
	Digest(ctx context.Context, svc *config.Service) (string, error)
}

// ErrDirty is returned by Sources when uncommitted changes make a digest meaningless.
var ErrDirty = triggers.ErrDirty

// Engine runs plans: services in parallel (at most Jobs at a time), the stages of each service
// in order, every transition journaled in the Store before the next step.
type Engine struct {
	Config   *config.Config
	Store    Store
	Stages   Registry
	Reporter Reporter
	Masker   Masker
	// Sources enables the content-addressed cache; nil disables it.
	Sources Sources
	// Environ is the environment stage commands get (secrets included: the Masker knows them).
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
	// Finally, when set, runs each time a run stops, whatever its outcome, with the run's
	// final state; its log is logs/finally.log. Its failure is reported, not journaled as a
	// stage: the run's outcome is its stages'.
	Finally func(ctx context.Context, run *Run, log io.Writer) error
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
// planned with.
func ConfigDigest(cfg *config.Config) string {
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
	run := NewRun(NewRunID(e.now()), e.now(), plan, ConfigDigest(e.Config), opts)
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

// state guards a run while services change it concurrently.
type state struct {
	mu       sync.Mutex
	run      *Run
	cancel   context.CancelCauseFunc
	failFast bool
}

// ErrRunBusy is returned when another process is executing the run.
var ErrRunBusy = errors.New("run is being executed by another process")

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
	jobs := run.Options.Jobs
	if jobs <= 0 {
		jobs = 1
	}
	// Workers take services in plan order, so that --jobs 1 runs them one after the other.
	queue := make(chan *ServiceRun, len(run.Services))
	for _, svc := range run.Services {
		queue <- svc
	}
	close(queue)
	var wg sync.WaitGroup
	for range min(jobs, len(run.Services)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for svc := range queue {
				e.runService(runCtx, st, svc)
			}
		}()
	}
	wg.Wait()
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

// runFinally runs the Finally hook with a bounded time, its output masked into a log.
func (e *Engine) runFinally(ctx context.Context, run *Run) error {
	if e.Finally == nil {
		return nil
	}
	path := filepath.Join(e.Store.Dir(run.ID), "logs", "finally.log")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	var log io.Writer = f
	closeMasker := func() error { return nil }
	if e.Masker != nil {
		m := e.Masker.Writer(f)
		log, closeMasker = m, m.Close
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	runErr := e.Finally(ctx, run, log)
	if err := errors.Join(closeMasker(), f.Close()); err != nil && runErr == nil {
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

// append journals a record, assigning its sequence number under the state lock.
func (e *Engine) append(ctx context.Context, st *state, rec Record) error {
	st.mu.Lock()
	rec.Time = e.now()
	if err := st.run.Apply(rec); err != nil {
		st.mu.Unlock()
		return err
	}
	st.mu.Unlock()
	return e.Store.Append(ctx, st.run.ID, rec)
}

// setStage changes a stage's state and journals it.
func (e *Engine) setStage(ctx context.Context, st *state, svc *ServiceRun, s *StageState, change func(*StageState)) error {
	st.mu.Lock()
	next := *s
	change(&next)
	next.Reason = e.mask(next.Reason)
	st.mu.Unlock()
	return e.append(ctx, st, Record{Stage: &StageRecord{Service: svc.Name, State: next}})
}

// prepareResume makes every stage that did not finish pending again, and re-runs succeeded
// stages whose outputs a later stage needs but that can no longer be verified.
func (e *Engine) prepareResume(ctx context.Context, st *state) error {
	run := st.run
	for _, svc := range run.Services {
		first := -1
		for i, s := range svc.Stages {
			if !s.Status.Done() {
				first = i
				break
			}
		}
		if first < 0 {
			continue
		}
		job := e.newJob(run, svc, nil, io.Discard)
		for i := 0; i < first; i++ {
			s := svc.Stages[i]
			v, ok := e.Stages[s.ID.Kind()].(Verifier)
			if !ok || s.Outputs.IsZero() {
				continue
			}
			job.Stage = s.ID
			if err := v.Verify(ctx, job, s.Outputs); err != nil {
				reason := fmt.Sprintf("outputs of %s cannot be used here (%v): running it again", s.ID, err)
				for _, later := range svc.Stages[i:] {
					if err := e.setStage(ctx, st, svc, later, func(n *StageState) {
						n.Status, n.Reason, n.Outputs = Pending, reason, Outputs{}
					}); err != nil {
						return err
					}
				}
				first = i
				break
			}
		}
		for _, s := range svc.Stages[first:] {
			if s.Status == Pending {
				continue
			}
			prev := s.Status
			if err := e.setStage(ctx, st, svc, s, func(n *StageState) {
				n.Status, n.Reason = Pending, fmt.Sprintf("resumed after %s", prev)
			}); err != nil {
				return err
			}
		}
	}
	return nil
}

// runService runs one service's stages in order until one does not succeed.
func (e *Engine) runService(ctx context.Context, st *state, svc *ServiceRun) {
	for _, s := range svc.Stages {
		if s.Status.Done() {
			continue
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

func (e *Engine) finishCancelled(ctx context.Context, st *state, svc *ServiceRun, s *StageState, runCtx context.Context) {
	reason := "cancelled"
	if cause := context.Cause(runCtx); cause != nil && !errors.Is(cause, context.Canceled) {
		reason = "cancelled: " + cause.Error()
	}
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

func (e *Engine) serviceDir(svc *ServiceRun) string {
	if c := e.Config.Service(svc.Name); c != nil {
		return c.Path
	}
	return ""
}

func stageFileName(id StageID) string { return strings.ReplaceAll(string(id), ":", "-") }

// newJob builds the job of a stage; the log is set by the caller.
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
	job.Environ = append(append([]string(nil), e.Environ...),
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

// runStage runs one stage to a final state and journals every step. It returns the state.
func (e *Engine) runStage(ctx context.Context, st *state, svc *ServiceRun, s *StageState) Status {
	run := st.run
	impl := e.Stages[s.ID.Kind()]
	journalCtx := context.WithoutCancel(ctx)
	base := Event{Run: run.ID, Service: svc.Name, Stage: s.ID, ServiceDir: e.serviceDir(svc)}
	// Skips and cache hits create no files: what they say before a log exists is kept here
	// and becomes the start of the log when the stage really runs.
	var early bytes.Buffer
	logRel := ""

	flushLog := func() {}
	finish := func(status Status, reason string, change func(*StageState)) Status {
		flushLog() // renderers read the log file when the stage finishes
		if err := e.setStage(journalCtx, st, svc, s, func(n *StageState) {
			n.Status, n.Reason, n.Log = status, reason, logRel
			if n.Started.IsZero() {
				n.Started = e.now()
			}
			n.Ended = e.now()
			if change != nil {
				change(n)
			}
		}); err != nil {
			// Without a journal the run cannot promise anything: stop everything.
			st.cancel(fmt.Errorf("journal: %w", err))
			e.logger().Error("journal", "err", err)
		}
		ev := base
		ev.Time, ev.Kind, ev.Status, ev.Message, ev.Duration, ev.Attempt = e.now(), StageFinished, status, reason, s.Duration(), s.Attempts
		ev.CachedFrom = s.CachedFrom
		if !s.Outputs.IsZero() {
			out := s.Outputs
			ev.Outputs = &out
		}
		e.report(ev)
		return status
	}

	job := e.newJob(run, svc, s, &early)
	if sk, ok := impl.(Skipper); ok {
		if reason, skip := sk.Skip(job); skip {
			return finish(Skipped, reason, nil)
		}
	}
	digest, cacheable := e.inputsDigest(ctx, job, impl, &early)
	if cacheable && digest != "" && !run.Options.NoCache {
		if entry, ok := e.cacheHit(ctx, job, impl, digest); ok {
			return finish(Skipped, fmt.Sprintf("same inputs as run %s", entry.Run), func(n *StageState) {
				n.InputsDigest, n.CachedFrom, n.Outputs = digest, entry.Run, entry.Outputs
			})
		}
	}

	logRel = filepath.ToSlash(filepath.Join("logs", svc.Name, stageFileName(s.ID)+".log"))
	logPath := filepath.Join(e.Store.Dir(run.ID), filepath.FromSlash(logRel))
	base.LogFile = logPath
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return finish(Failed, fmt.Sprintf("create log: %v", err), nil)
	}
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return finish(Failed, fmt.Sprintf("create log: %v", err), nil)
	}
	lines := &lineReporter{emit: func(line string) {
		ev := base
		ev.Time, ev.Kind, ev.Message = e.now(), StageLog, line
		e.report(ev)
	}}
	var sink io.WriteCloser = nopCloser{io.MultiWriter(logFile, lines)}
	if e.Masker != nil {
		sink = e.Masker.Writer(io.MultiWriter(logFile, lines))
	}
	closeSink := sync.OnceValue(sink.Close)
	flushLog = func() {
		closeSink()
		lines.flush()
	}
	defer func() {
		flushLog()
		logFile.Close()
	}()
	job.Log = sink
	if _, err := sink.Write(early.Bytes()); err != nil {
		return finish(Failed, fmt.Sprintf("write log: %v", err), nil)
	}

	unlock, err := e.lockEnvironment(ctx, job, base)
	if err != nil {
		if ctx.Err() != nil {
			return finish(Cancelled, "cancelled while waiting for the environment lock", nil)
		}
		return finish(Failed, err.Error(), nil)
	}
	if unlock != nil {
		defer unlock()
	}

	started := e.now()
	if err := e.setStage(journalCtx, st, svc, s, func(n *StageState) {
		n.Status, n.Reason, n.Started, n.Ended, n.Log, n.InputsDigest = Running, "", started, time.Time{}, logRel, digest
		n.Attempts++
	}); err != nil {
		return finish(Failed, fmt.Sprintf("journal: %v", err), nil)
	}
	ev := base
	ev.Time, ev.Kind, ev.Status, ev.Attempt = started, StageStarted, Running, s.Attempts
	e.report(ev)
	fmt.Fprintf(sink, "--- %s %s, attempt %d, %s ---\n", svc.Name, s.ID, s.Attempts, started.Format(time.RFC3339))

	runErr := e.attempt(ctx, job, impl, sink)
	switch {
	case runErr == nil:
		out := *job.Outputs
		status := finish(Succeeded, "", func(n *StageState) { n.Outputs = out })
		if cacheable && digest != "" {
			if err := e.Store.SaveCache(journalCtx, CacheEntry{Stage: s.ID.Kind(), Digest: digest, Run: run.ID,
				Service: svc.Name, Outputs: out, Created: e.now()}); err != nil {
				e.logger().Warn("save cache", "err", err)
			}
		}
		return status
	case errors.As(runErr, new(*SkipError)):
		var se *SkipError
		errors.As(runErr, &se)
		return finish(Skipped, se.Reason, func(n *StageState) { n.Outputs = *job.Outputs })
	case errors.As(runErr, new(*WaitError)):
		var we *WaitError
		errors.As(runErr, &we)
		return finish(Waiting, we.Reason, nil)
	case ctx.Err() != nil:
		reason := "cancelled"
		if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
			reason = "cancelled: " + cause.Error()
		}
		return finish(Cancelled, reason, nil)
	default:
		// Outputs of a failed stage (a scan report, its findings) are journaled for people;
		// later stages only read outputs of stages that are done.
		out := *job.Outputs
		return finish(Failed, strings.TrimPrefix(runErr.Error(), ErrPermanent.Error()+": "), func(n *StageState) { n.Outputs = out })
	}
}

// attempt runs the stage with its timeout, retrying retryable stages with exponential backoff.
func (e *Engine) attempt(ctx context.Context, job *Job, impl Stage, log io.Writer) error {
	opts := e.Config.StageOptionsFor(job.Stage.Kind())
	timeout := opts.Timeout
	if timeout == 0 {
		timeout = time.Hour
	}
	retries := 0
	if r, ok := impl.(Retryable); ok && r.Retryable() {
		retries = opts.Retries
	}
	once := func() error {
		actx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		*job.Outputs = Outputs{}
		err := impl.Run(actx, job)
		if err != nil && errors.Is(actx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
			err = fmt.Errorf("timed out after %s: %w", timeout, err)
		}
		return err
	}
	if retries == 0 {
		return once()
	}
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = e.RetryInterval
	if b.InitialInterval == 0 {
		b.InitialInterval = time.Second
	}
	b.MaxInterval = 30 * time.Second
	_, err := backoff.Retry(ctx, func() (struct{}, error) {
		err := once()
		var se *SkipError
		var we *WaitError
		switch {
		case err == nil:
			return struct{}{}, nil
		case errors.Is(err, ErrPermanent), errors.As(err, &se), errors.As(err, &we), ctx.Err() != nil:
			return struct{}{}, backoff.Permanent(err)
		}
		job.Attempt++
		fmt.Fprintf(log, "attempt failed: %v\n", e.mask(err.Error()))
		return struct{}{}, err
	},
		backoff.WithBackOff(b),
		backoff.WithMaxTries(uint(retries+1)),
		backoff.WithMaxElapsedTime(0),
		backoff.WithNotify(func(err error, d time.Duration) { fmt.Fprintf(log, "retrying in %s\n", d.Round(time.Millisecond)) }),
	)
	return err
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

// inputsDigest identifies everything a stage's result depends on. It reports whether the
// stage may use the cache (cacheable, sources clean).
func (e *Engine) inputsDigest(ctx context.Context, job *Job, impl Stage, log io.Writer) (string, bool) {
	if job.Service == nil {
		return "", false
	}
	h := sha256.New()
	write := func(parts ...any) {
		for _, p := range parts {
			data, _ := json.Marshal(p)
			h.Write(data)
			h.Write([]byte{0})
		}
	}
	write("ferry-inputs-v1", job.Stage, job.Service, e.Config.StageOptionsFor(job.Stage.Kind()), job.Pipeline.Version)
	if job.Env != nil {
		write(job.Env)
	}
	cacheable := false
	if e.Sources != nil {
		src, err := e.Sources.Digest(ctx, job.Service)
		switch {
		case err == nil:
			write(src)
			_, cacheable = impl.(Cacheable)
		case errors.Is(err, ErrDirty):
			if _, ok := impl.(Cacheable); ok {
				fmt.Fprintf(log, "not using the cache: %v\n", err)
			}
		default:
			fmt.Fprintf(log, "not using the cache: sources digest: %v\n", err)
		}
	}
	if c, ok := impl.(Cacheable); ok && cacheable {
		extra, err := c.Inputs(ctx, job)
		if err != nil {
			fmt.Fprintf(log, "not using the cache: %v\n", err)
			cacheable = false
		}
		h.Write(extra)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), cacheable
}

func (e *Engine) cacheHit(ctx context.Context, job *Job, impl Stage, digest string) (*CacheEntry, bool) {
	entry, err := e.Store.LookupCache(ctx, job.Stage.Kind(), digest)
	if err != nil {
		return nil, false
	}
	if v, ok := impl.(Verifier); ok {
		if err := v.Verify(ctx, job, entry.Outputs); err != nil {
			fmt.Fprintf(job.Log, "cached result of run %s cannot be used (%v): running\n", entry.Run, err)
			return nil, false
		}
	}
	return entry, true
}

func shortDigest(d string) string {
	d = strings.TrimPrefix(d, "sha256:")
	if len(d) > 12 {
		return d[:12]
	}
	return d
}

// lineReporter turns a byte stream into one call per line.
type lineReporter struct {
	mu   sync.Mutex
	buf  []byte
	emit func(string)
}

func (l *lineReporter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		l.emit(strings.TrimRight(string(l.buf[:i]), "\r"))
		l.buf = l.buf[i+1:]
	}
	return len(p), nil
}

func (l *lineReporter) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) > 0 {
		l.emit(string(l.buf))
		l.buf = nil
	}
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }
