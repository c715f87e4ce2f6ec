package pipeline_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ferry-ci/ferry/pipeline"
	"github.com/ferry-ci/ferry/pipeline/config"
	"github.com/ferry-ci/ferry/pipeline/mask"
	"github.com/ferry-ci/ferry/triggers"
)

// fakeStage records its calls and behaves as its function says.
type fakeStage struct {
	name   string
	mu     sync.Mutex
	calls  []string // "service/stage"
	run    func(ctx context.Context, job *pipeline.Job) error
	verify func(out pipeline.Outputs) error
}

func (f *fakeStage) Name() string { return f.name }

func (f *fakeStage) Run(ctx context.Context, job *pipeline.Job) error {
	f.mu.Lock()
	f.calls = append(f.calls, job.Pipeline.Name+"/"+string(job.Stage))
	f.mu.Unlock()
	fmt.Fprintf(job.Log, "running %s for %s\n", job.Stage, job.Pipeline.Name)
	if f.run != nil {
		return f.run(ctx, job)
	}
	return nil
}

func (f *fakeStage) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

type cacheableStage struct{ *fakeStage }

func (c cacheableStage) Inputs(ctx context.Context, job *pipeline.Job) ([]byte, error) {
	return []byte("v1"), nil
}

func (c cacheableStage) Verify(ctx context.Context, job *pipeline.Job, out pipeline.Outputs) error {
	if c.verify != nil {
		return c.verify(out)
	}
	return nil
}

// fixedSources gives every service the same sources digest, as a clean checkout would.
type fixedSources struct{ digest string }

func (f fixedSources) Digest(ctx context.Context, service string) (string, error) {
	return f.digest, nil
}

const testConfig = `
version: 1
registry: registry.example.com
services:
  a: {path: src/a}
  b: {path: src/b}
  c: {path: src/c}
triggers:
  feature: {branches: {include: ['feature/*']}, stages: [build, test]}
  release: {branches: {include: ['release/*']}, stages: [build, test, image, scan, push, chart, deploy]}
environments:
  - {name: qa, namespace: qa}
  - {name: prod, namespace: prod, registryNamespace: prod, approval: {signed: false, approvers: [alice@example.com, bob@example.com], minApprovals: 2}}
stages:
  image: {retries: 2}
  build: {timeout: 1s}
`

func loadConfig(t *testing.T, data string) *config.Config {
	t.Helper()
	cfg, err := config.Parse("ferry.yaml", "", []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Root = t.TempDir()
	return cfg
}

type harness struct {
	cfg    *config.Config
	store  *pipeline.LocalStore
	engine *pipeline.Engine
	stages map[string]*fakeStage
	events *eventLog
}

type eventLog struct {
	mu     sync.Mutex
	events []pipeline.Event
}

func (l *eventLog) Report(e pipeline.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e)
}

func newHarness(t *testing.T, cfgText string, wrap map[string]func(*fakeStage) pipeline.Stage) *harness {
	t.Helper()
	cfg := loadConfig(t, cfgText)
	store, err := pipeline.NewLocalStore(filepath.Join(cfg.Root, ".ferry"))
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{cfg: cfg, store: store, stages: map[string]*fakeStage{}, events: &eventLog{}}
	var impls []pipeline.Stage
	for _, name := range config.AllStages() {
		f := &fakeStage{name: name}
		h.stages[name] = f
		var s pipeline.Stage = f
		if w, ok := wrap[name]; ok {
			s = w(f)
		}
		impls = append(impls, s)
	}
	stages, err := pipeline.NewStageSet(impls...)
	if err != nil {
		t.Fatal(err)
	}
	h.engine = &pipeline.Engine{Config: cfg, Store: store, Stages: stages, Reporter: h.events,
		RetryInterval: time.Millisecond, Host: "test", PID: os.Getpid()}
	return h
}

func (h *harness) plan(t *testing.T, ref string, changed ...string) *pipeline.Plan {
	t.Helper()
	ev := triggers.Event{Kind: triggers.Push, Ref: ref, After: "abc", Source: "flags"}
	plan, err := pipeline.NewPlan(h.cfg, ev, triggers.Changes{Paths: changed})
	if err != nil {
		t.Fatal(err)
	}
	return plan
}

// statuses lists service/stage=status of a run, in order.
func statuses(run *pipeline.Run) []string {
	var out []string
	for _, s := range run.Services {
		for _, st := range s.Stages {
			out = append(out, fmt.Sprintf("%s/%s=%s", s.Name, st.ID, st.Status))
		}
	}
	return out
}

func TestEngineRunsEveryServiceAndJournalsIt(t *testing.T) {
	h := newHarness(t, testConfig, nil)
	h.stages["build"].run = func(ctx context.Context, job *pipeline.Job) error {
		job.Outputs.Build = &pipeline.BuildOutput{Files: map[string]string{"bin/" + job.Pipeline.Name: "sha256:1"}}
		return nil
	}
	var sawBuild atomic.Int32
	h.stages["test"].run = func(ctx context.Context, job *pipeline.Job) error {
		if out, ok := job.Pipeline.Output("build"); ok && out.Build.Files["bin/"+job.Pipeline.Name] != "" {
			sawBuild.Add(1)
		}
		return nil
	}
	plan := h.plan(t, "refs/heads/feature/x", "src/a/main.go", "src/b/main.go")
	run, err := h.engine.Start(t.Context(), plan, pipeline.RunOptions{Jobs: 2})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"a/build=succeeded", "a/test=succeeded", "b/build=succeeded", "b/test=succeeded"}
	if diff := cmp.Diff(want, statuses(run)); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
	if sawBuild.Load() != 2 {
		t.Errorf("test stages saw the build outputs %d times, want 2", sawBuild.Load())
	}
	loaded, err := h.store.Load(t.Context(), run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(statuses(run), statuses(loaded)); diff != "" {
		t.Errorf("journal replay differs from the run (-run +journal):\n%s", diff)
	}
	if loaded.Owner != nil {
		t.Errorf("owner still set after the run: %+v", loaded.Owner)
	}
	if got := loaded.Service("a").Stage("build").Outputs.Build; got == nil || got.Files["bin/a"] != "sha256:1" {
		t.Errorf("outputs not journaled: %+v", got)
	}
	log, err := os.ReadFile(filepath.Join(h.store.Dir(run.ID), loaded.Service("b").Stage("test").Log))
	if err != nil || !strings.Contains(string(log), "running test for b") {
		t.Errorf("stage log = %q, %v", log, err)
	}
}

func TestFailureStopsOnlyItsService(t *testing.T) {
	for _, failFast := range []bool{false, true} {
		t.Run(fmt.Sprintf("failFast=%v", failFast), func(t *testing.T) {
			h := newHarness(t, testConfig, nil)
			release := make(chan struct{})
			h.stages["build"].run = func(ctx context.Context, job *pipeline.Job) error {
				if job.Pipeline.Name == "a" {
					return errors.New("compile error")
				}
				select { // b is still building when a fails
				case <-release:
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(200 * time.Millisecond):
				}
				return nil
			}
			plan := h.plan(t, "refs/heads/feature/x", "src/a/x", "src/b/x")
			run, err := h.engine.Start(t.Context(), plan, pipeline.RunOptions{Jobs: 2, FailFast: failFast})
			close(release)
			if err != nil {
				t.Fatal(err)
			}
			a := run.Service("a")
			if a.Status() != pipeline.Failed || a.Stage("build").Reason != "compile error" {
				t.Errorf("a = %v %q", a.Status(), a.Stage("build").Reason)
			}
			if a.Stage("test").Status != pipeline.Pending {
				t.Errorf("a/test ran after a failed build")
			}
			b := run.Service("b")
			wantB := pipeline.Succeeded
			if failFast {
				wantB = pipeline.Cancelled
			}
			if b.Status() != wantB {
				t.Errorf("b = %v, want %v (%q)", b.Status(), wantB, b.Stage("build").Reason)
			}
			if run.Status() != pipeline.Failed {
				t.Errorf("run status = %v", run.Status())
			}
		})
	}
}

func TestResumeRunsOnlyWhatDidNotSucceed(t *testing.T) {
	h := newHarness(t, testConfig, nil)
	fail := true
	h.stages["test"].run = func(ctx context.Context, job *pipeline.Job) error {
		if fail && job.Pipeline.Name == "b" {
			return errors.New("flaky test")
		}
		return nil
	}
	plan := h.plan(t, "refs/heads/feature/x", "src/a/x", "src/b/x")
	run, err := h.engine.Start(t.Context(), plan, pipeline.RunOptions{Jobs: 1})
	if err != nil {
		t.Fatal(err)
	}
	if run.Status() != pipeline.Failed {
		t.Fatalf("status = %v", run.Status())
	}
	fail = false
	before := len(h.stages["build"].Calls())
	run, err = h.engine.Resume(t.Context(), run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if run.Status() != pipeline.Succeeded {
		t.Fatalf("after resume: %v", statuses(run))
	}
	if n := len(h.stages["build"].Calls()); n != before {
		t.Errorf("resume re-ran %d succeeded builds", n-before)
	}
	if got := h.stages["test"].Calls(); !cmp.Equal(got, []string{"a/test", "b/test", "b/test"}) {
		t.Errorf("test calls = %v", got)
	}
	st := run.Service("b").Stage("test")
	if st.Attempts != 2 {
		t.Errorf("b/test attempts = %d, want 2", st.Attempts)
	}
}

func TestCacheReusesResultsWithSameInputs(t *testing.T) {
	wrap := map[string]func(*fakeStage) pipeline.Stage{
		"build": func(f *fakeStage) pipeline.Stage { return cacheableStage{f} },
	}
	h := newHarness(t, testConfig, wrap)
	h.engine.Sources = fixedSources{"tree-1"}
	h.stages["build"].run = func(ctx context.Context, job *pipeline.Job) error {
		job.Outputs.Build = &pipeline.BuildOutput{Files: map[string]string{"out": "sha256:x"}}
		return nil
	}
	plan := h.plan(t, "refs/heads/feature/x", "src/a/x")
	first, err := h.engine.Start(t.Context(), plan, pipeline.RunOptions{Jobs: 1})
	if err != nil {
		t.Fatal(err)
	}
	second, err := h.engine.Start(t.Context(), plan, pipeline.RunOptions{Jobs: 1})
	if err != nil {
		t.Fatal(err)
	}
	st := second.Service("a").Stage("build")
	if st.Status != pipeline.Skipped || st.CachedFrom != first.ID || st.Reason != "same inputs as run "+first.ID {
		t.Errorf("second build = %+v", st)
	}
	if st.Outputs.Build == nil || st.Outputs.Build.Files["out"] != "sha256:x" {
		t.Errorf("cached outputs not reused: %+v", st.Outputs)
	}
	if n := len(h.stages["build"].Calls()); n != 1 {
		t.Errorf("build ran %d times, want 1", n)
	}
	if n := len(h.stages["test"].Calls()); n != 2 {
		t.Errorf("the non-cacheable test stage ran %d times, want 2", n)
	}

	t.Run("no-cache", func(t *testing.T) {
		if _, err := h.engine.Start(t.Context(), plan, pipeline.RunOptions{Jobs: 1, NoCache: true}); err != nil {
			t.Fatal(err)
		}
		if n := len(h.stages["build"].Calls()); n != 2 {
			t.Errorf("build ran %d times, want 2", n)
		}
	})
	t.Run("outputs gone", func(t *testing.T) {
		h.stages["build"].verify = func(pipeline.Outputs) error { return errors.New("out is gone") }
		defer func() { h.stages["build"].verify = nil }()
		run, err := h.engine.Start(t.Context(), plan, pipeline.RunOptions{Jobs: 1})
		if err != nil {
			t.Fatal(err)
		}
		if st := run.Service("a").Stage("build"); st.Status != pipeline.Succeeded || st.CachedFrom != "" {
			t.Errorf("build = %+v, want a real run", st)
		}
	})
	t.Run("changed sources", func(t *testing.T) {
		h.engine.Sources = fixedSources{"tree-2"}
		n := len(h.stages["build"].Calls())
		if _, err := h.engine.Start(t.Context(), plan, pipeline.RunOptions{Jobs: 1}); err != nil {
			t.Fatal(err)
		}
		if len(h.stages["build"].Calls()) != n+1 {
			t.Errorf("build did not run for new sources")
		}
	})
}

func TestRetriesOnlyRetryableStages(t *testing.T) {
	cases := []struct {
		name      string
		stage     string
		errs      []error
		wantCalls int
		want      pipeline.Status
	}{
		{"transient then ok", "image", []error{errors.New("503"), errors.New("reset")}, 3, pipeline.Succeeded},
		{"retries exhausted", "image", []error{errors.New("503"), errors.New("503"), errors.New("503")}, 3, pipeline.Failed},
		{"permanent", "image", []error{pipeline.Permanent(errors.New("tag moved"))}, 1, pipeline.Failed},
		{"tests never retried", "test", []error{errors.New("flaky")}, 1, pipeline.Failed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, testConfig, nil)
			var n atomic.Int32
			h.stages[tc.stage].run = func(ctx context.Context, job *pipeline.Job) error {
				i := int(n.Add(1)) - 1
				if i < len(tc.errs) {
					return tc.errs[i]
				}
				return nil
			}
			plan := h.plan(t, "refs/heads/release/a/v1.0.0")
			if err := plan.Filter(nil, "", "image"); err != nil {
				t.Fatal(err)
			}
			run, err := h.engine.Start(t.Context(), plan, pipeline.RunOptions{Jobs: 1})
			if err != nil {
				t.Fatal(err)
			}
			if int(n.Load()) != tc.wantCalls {
				t.Errorf("calls = %d, want %d", n.Load(), tc.wantCalls)
			}
			st := run.Service("a").Stage(pipeline.StageID(tc.stage))
			if st.Status != tc.want {
				t.Errorf("status = %v (%s), want %v", st.Status, st.Reason, tc.want)
			}
			if tc.name == "permanent" && st.Reason != "tag moved" {
				t.Errorf("reason = %q", st.Reason)
			}
		})
	}
}

func TestStageTimeout(t *testing.T) {
	h := newHarness(t, testConfig, nil)
	h.stages["build"].run = func(ctx context.Context, job *pipeline.Job) error {
		<-ctx.Done()
		return ctx.Err()
	}
	run, err := h.engine.Start(t.Context(), h.plan(t, "refs/heads/feature/x", "src/a/x"), pipeline.RunOptions{Jobs: 1})
	if err != nil {
		t.Fatal(err)
	}
	st := run.Service("a").Stage("build")
	if st.Status != pipeline.Failed || !strings.Contains(st.Reason, "timed out after 1s") {
		t.Errorf("build = %v %q", st.Status, st.Reason)
	}
}

func TestCancelRecordsCancelled(t *testing.T) {
	h := newHarness(t, testConfig, nil)
	ctx, cancel := context.WithCancel(t.Context())
	started := make(chan struct{})
	h.stages["build"].run = func(c context.Context, job *pipeline.Job) error {
		close(started)
		<-c.Done()
		return c.Err()
	}
	go func() { <-started; cancel() }()
	run, err := h.engine.Start(ctx, h.plan(t, "refs/heads/feature/x", "src/a/x"), pipeline.RunOptions{Jobs: 1})
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := h.store.Load(t.Context(), run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if loaded.Status() != pipeline.Cancelled || loaded.Service("a").Stage("build").Status != pipeline.Cancelled {
		t.Errorf("journal = %v", statuses(loaded))
	}
}

func TestApprovalGate(t *testing.T) {
	h := newHarness(t, testConfig, nil)
	h.stages["approve"].run = func(ctx context.Context, job *pipeline.Job) error {
		got := job.Run.ApprovalsFor(job.Env.Name)
		if len(got) < job.Env.Approval.MinApprovals {
			return &pipeline.WaitError{Reason: fmt.Sprintf("%d of %d approvals", len(got), job.Env.Approval.MinApprovals)}
		}
		return nil
	}
	plan := h.plan(t, "refs/heads/release/a/v1.2.3")
	if got := plan.Services[0].Stages; !cmp.Equal(got, []pipeline.StageID{"build", "test", "image", "scan", "push", "chart",
		"deploy:qa", "approve:prod", "promote:prod", "deploy:prod"}) {
		t.Fatalf("release stages = %v", got)
	}
	run, err := h.engine.Start(t.Context(), plan, pipeline.RunOptions{Jobs: 1})
	if err != nil {
		t.Fatal(err)
	}
	if run.Status() != pipeline.Waiting || run.Service("a").Stage("approve:prod").Reason != "0 of 2 approvals" {
		t.Fatalf("run = %v", statuses(run))
	}
	now := time.Now()
	if _, err := pipeline.Approve(t.Context(), h.store, h.cfg, run.ID, "prod", "test", advisory("prod", "mallory@example.com", "", now), nil); err == nil {
		t.Errorf("a non-approver approved")
	}
	if _, err := pipeline.Approve(t.Context(), h.store, h.cfg, run.ID, "qa", "test", advisory("qa", "alice@example.com", "", now), nil); err == nil {
		t.Errorf("approved an environment without a gate")
	}
	if _, err := pipeline.Approve(t.Context(), h.store, h.cfg, run.ID, "prod", "test", advisory("prod", "alice@example.com", "ok", now), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := pipeline.Approve(t.Context(), h.store, h.cfg, run.ID, "prod", "test", advisory("prod", "alice@example.com", "again", now), nil); err == nil {
		t.Errorf("the same person approved twice")
	}
	run, err = h.engine.Resume(t.Context(), run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if run.Status() != pipeline.Waiting || run.Service("a").Stage("approve:prod").Reason != "1 of 2 approvals" {
		t.Fatalf("after one approval = %v", statuses(run))
	}
	if _, err := pipeline.Approve(t.Context(), h.store, h.cfg, run.ID, "prod", "test", advisory("prod", "bob@example.com", "", now), nil); err != nil {
		t.Fatal(err)
	}
	run, err = h.engine.Resume(t.Context(), run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if run.Status() != pipeline.Succeeded {
		t.Fatalf("after two approvals = %v", statuses(run))
	}
	if n := len(h.stages["deploy"].Calls()); n != 2 {
		t.Errorf("deploy ran %d times, want 2 (qa once, prod once)", n)
	}
}

func TestEnvironmentLockSerialisesDeploys(t *testing.T) {
	h := newHarness(t, testConfig, nil)
	var active, maxActive atomic.Int32
	entered := make(chan string, 2)
	h.stages["deploy"].run = func(ctx context.Context, job *pipeline.Job) error {
		n := active.Add(1)
		defer active.Add(-1)
		for {
			m := maxActive.Load()
			if n <= m || maxActive.CompareAndSwap(m, n) {
				break
			}
		}
		entered <- job.Run.ID
		select {
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
		}
		return nil
	}
	plan := h.plan(t, "refs/heads/release/a/v1.0.0")
	if err := plan.Filter(nil, "deploy:qa", ""); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	runs := make([]*pipeline.Run, 2)
	for i := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			runs[i], err = h.engine.Start(t.Context(), plan, pipeline.RunOptions{Jobs: 1})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if maxActive.Load() != 1 {
		t.Errorf("%d deploys of a/qa ran at once", maxActive.Load())
	}
	first, second := <-entered, <-entered
	if first == second {
		t.Fatalf("one run deployed twice")
	}
	var waited bool
	for _, r := range runs {
		if r.ID != second {
			continue
		}
		log, _ := os.ReadFile(filepath.Join(h.store.Dir(r.ID), r.Service("a").Stage("deploy:qa").Log))
		waited = strings.Contains(string(log), "locked by run "+first)
	}
	if !waited {
		t.Errorf("the second run did not say whose lock it waited for")
	}
}

func TestTornJournalLineIsIgnored(t *testing.T) {
	h := newHarness(t, testConfig, nil)
	run, err := h.engine.Start(t.Context(), h.plan(t, "refs/heads/feature/x", "src/a/x"), pipeline.RunOptions{Jobs: 1})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(h.store.Dir(run.ID), "journal.jsonl")
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"time":"2026-01-01T00:00:00Z","stage":{"service":"a","state":{"id":"build","sta`)
	f.Close()
	store2, _ := pipeline.NewLocalStore(h.store.Root())
	loaded, err := store2.Load(t.Context(), run.ID)
	if err != nil {
		t.Fatalf("a torn last line made the journal unreadable: %v", err)
	}
	if diff := cmp.Diff(statuses(run), statuses(loaded)); diff != "" {
		t.Errorf("state differs (-want +got):\n%s", diff)
	}
	// The next append cuts the torn tail first, so the journal stays parseable.
	if err := store2.Append(t.Context(), run.ID, pipeline.Record{Cancel: true}); err != nil {
		t.Fatal(err)
	}
	if loaded, err = store2.Load(t.Context(), run.ID); err != nil || !loaded.CancelRequested {
		t.Fatalf("after repair: %v, cancel=%v", err, loaded != nil && loaded.CancelRequested)
	}
}

func TestMissingStageImplementationFailsBeforeStarting(t *testing.T) {
	h := newHarness(t, testConfig, nil)
	delete(h.engine.Stages, "chart")
	delete(h.engine.Stages, "deploy")
	_, err := h.engine.Start(t.Context(), h.plan(t, "refs/heads/release/a/v1.0.0"), pipeline.RunOptions{Jobs: 1})
	if err == nil || err.Error() != "this Ferry build has no chart or deploy stage yet, and the plan needs it: run the stages before it with --until push" {
		t.Fatalf("err = %v", err)
	}
	runs, _ := h.store.List(t.Context())
	if len(runs) != 0 {
		t.Errorf("a run was created: %d", len(runs))
	}
	if n := len(h.stages["build"].Calls()); n != 0 {
		t.Errorf("build ran %d times", n)
	}
}

func TestCancelSignalsOnlyTheLockHolder(t *testing.T) {
	h := newHarness(t, testConfig, nil)
	started, release := make(chan struct{}), make(chan struct{})
	h.stages["build"].run = func(ctx context.Context, job *pipeline.Job) error {
		close(started)
		<-release
		return nil
	}
	h.stages["test"].run = func(ctx context.Context, job *pipeline.Job) error {
		return &pipeline.WaitError{Reason: "stopped here"}
	}
	done := make(chan *pipeline.Run)
	go func() {
		run, err := h.engine.Start(t.Context(), h.plan(t, "refs/heads/feature/x", "src/a/x"), pipeline.RunOptions{Jobs: 1})
		if err != nil {
			t.Error(err)
		}
		done <- run
	}()
	<-started
	runs, _ := h.store.List(t.Context())
	var signalled []int
	signal := func(pid int) error { signalled = append(signalled, pid); return nil }
	_, pid, err := pipeline.Cancel(t.Context(), h.store, runs[0].ID, "test", signal, time.Now())
	if err != nil || pid != os.Getpid() || len(signalled) != 1 {
		t.Errorf("cancel of an executing run: pid %d, signalled %v, err %v", pid, signalled, err)
	}
	close(release)
	run := <-done

	// Stopped now, with a stale owner record if it had crashed: nobody holds the lock, so
	// nobody is signalled and the journal records the cancellation.
	signalled = nil
	if err := h.store.Append(t.Context(), run.ID, pipeline.Record{Owner: &pipeline.Owner{Host: "test", PID: 1}}); err != nil {
		t.Fatal(err)
	}
	got, pid, err := pipeline.Cancel(t.Context(), h.store, run.ID, "test", signal, time.Now())
	if err != nil || pid != 0 || len(signalled) != 0 {
		t.Fatalf("cancel of a stopped run: pid %d, signalled %v, err %v", pid, signalled, err)
	}
	if !got.CancelRequested || got.Service("a").Stage("test").Status != pipeline.Cancelled {
		t.Errorf("journal = %v", statuses(got))
	}
}

func TestFinallyRunsWhateverTheOutcome(t *testing.T) {
	h := newHarness(t, testConfig, nil)
	h.stages["build"].run = func(ctx context.Context, job *pipeline.Job) error { return errors.New("broken") }
	var saw []pipeline.Status
	h.engine.Finally = func(ctx context.Context, run *pipeline.Run, log io.Writer) error {
		saw = append(saw, run.Status())
		fmt.Fprintln(log, "notified")
		return errors.New("webhook down")
	}
	run, err := h.engine.Start(t.Context(), h.plan(t, "refs/heads/feature/x", "src/a/x"), pipeline.RunOptions{Jobs: 1})
	if err != nil {
		t.Fatal(err)
	}
	if !cmp.Equal(saw, []pipeline.Status{pipeline.Failed}) {
		t.Errorf("finally saw %v, want [failed]", saw)
	}
	if run.Status() != pipeline.Failed {
		t.Errorf("a failing finally changed the run to %s", run.Status())
	}
	log, err := os.ReadFile(filepath.Join(h.store.Dir(run.ID), "logs", "finally.log"))
	if err != nil || string(log) != "notified\n" {
		t.Errorf("finally.log = %q, %v", log, err)
	}
	var msg string
	for _, e := range h.events.events {
		if e.Kind == pipeline.RunFinished {
			msg = e.Message
		}
	}
	if !strings.Contains(msg, "finally: webhook down") {
		t.Errorf("run-finished message = %q", msg)
	}
}

func TestExpandStages(t *testing.T) {
	cfg := loadConfig(t, testConfig)
	cases := []struct {
		stages []string
		want   []pipeline.StageID
	}{
		{[]string{"build", "test"}, []pipeline.StageID{"build", "test"}},
		{[]string{"build", "image", "push", "promote"}, []pipeline.StageID{"build", "image", "push", "approve:prod", "promote:prod"}},
		{[]string{"build", "image", "push", "chart", "deploy"}, []pipeline.StageID{"build", "image", "push", "chart",
			"deploy:qa", "approve:prod", "promote:prod", "deploy:prod"}},
		{[]string{"build", "image", "push", "promote", "chart", "deploy"}, []pipeline.StageID{"build", "image", "push", "chart",
			"deploy:qa", "approve:prod", "promote:prod", "deploy:prod"}},
	}
	for _, tc := range cases {
		if got := pipeline.ExpandStages(cfg, tc.stages); !cmp.Equal(got, tc.want) {
			t.Errorf("ExpandStages(%v) = %v, want %v", tc.stages, got, tc.want)
		}
	}
}

// TestFinallyTimeout bounds the finally hook by finally.timeout, and by five minutes when the
// config sets none.
func TestFinallyTimeout(t *testing.T) {
	cases := []struct {
		finally string
		want    time.Duration
	}{
		{"finally: ./notify.sh\n", config.DefaultFinallyTimeout},
		{"finally: {run: ./notify.sh, timeout: 2m}\n", 2 * time.Minute},
		{"", config.DefaultFinallyTimeout},
	}
	for _, tc := range cases {
		h := newHarness(t, testConfig+tc.finally, nil)
		var limit time.Duration
		h.engine.Finally = func(ctx context.Context, run *pipeline.Run, log io.Writer) error {
			deadline, ok := ctx.Deadline()
			if !ok {
				return errors.New("no deadline")
			}
			limit = time.Until(deadline)
			return nil
		}
		if _, err := h.engine.Start(t.Context(), h.plan(t, "refs/heads/feature/x", "src/a/x"), pipeline.RunOptions{Jobs: 1}); err != nil {
			t.Fatal(err)
		}
		if limit > tc.want || limit < tc.want-time.Minute/2 {
			t.Errorf("%q: the hook had %v, want about %v", tc.finally, limit, tc.want)
		}
	}
}

// TestCachedStageShowsItsOwnDuration checks that a stage served from the cache, in a new run or
// in a resumed one, shows how long it took in the run it was cached from, not the moment the
// lookup took nor the time since an earlier attempt of the resumed run.
func TestCachedStageShowsItsOwnDuration(t *testing.T) {
	wrap := map[string]func(*fakeStage) pipeline.Stage{
		"build": func(f *fakeStage) pipeline.Stage { return cacheableStage{f} },
	}
	h := newHarness(t, testConfig, wrap)
	h.engine.Sources = fixedSources{"tree-1"}
	fail := false
	h.stages["build"].run = func(ctx context.Context, job *pipeline.Job) error {
		if fail {
			return errors.New("broken tree")
		}
		time.Sleep(80 * time.Millisecond)
		job.Outputs.Build = &pipeline.BuildOutput{Files: map[string]string{"out": "sha256:x"}}
		return nil
	}
	plan := h.plan(t, "refs/heads/feature/x", "src/a/x")
	first, err := h.engine.Start(t.Context(), plan, pipeline.RunOptions{Jobs: 1})
	if err != nil {
		t.Fatal(err)
	}
	took := first.Service("a").Stage("build").Duration()
	if took < 80*time.Millisecond {
		t.Fatalf("first build took %v", took)
	}
	check := func(name string, run *pipeline.Run) {
		t.Helper()
		st := run.Service("a").Stage("build")
		if st.CachedFrom != first.ID {
			t.Fatalf("%s: build not served from the cache: %+v", name, st)
		}
		if st.Duration() != took || st.CachedDuration != took {
			t.Errorf("%s: cached build shows %v (cachedDuration %v), want the original %v", name, st.Duration(), st.CachedDuration, took)
		}
		loaded, err := h.store.Load(t.Context(), run.ID)
		if err != nil {
			t.Fatal(err)
		}
		if d := loaded.Service("a").Stage("build").Duration(); d != took {
			t.Errorf("%s: the journal says %v, want %v", name, d, took)
		}
		for _, e := range h.events.events {
			if e.Run == run.ID && e.Kind == pipeline.StageFinished && e.Status == pipeline.Skipped && e.Service == "a" && e.Stage == "build" && e.Duration != took {
				t.Errorf("%s: stage-finished event says %v, want %v", name, e.Duration, took)
			}
		}
	}

	second, err := h.engine.Start(t.Context(), plan, pipeline.RunOptions{Jobs: 1})
	if err != nil {
		t.Fatal(err)
	}
	check("new run", second)

	// A run whose build failed on other sources, resumed once the tree is back: its build's
	// first attempt started long before the hit.
	h.engine.Sources, fail = fixedSources{"tree-2"}, true
	failed, err := h.engine.Start(t.Context(), plan, pipeline.RunOptions{Jobs: 1})
	if err != nil || failed.Status() != pipeline.Failed {
		t.Fatalf("run on tree-2: %v %v", statuses(failed), err)
	}
	time.Sleep(150 * time.Millisecond)
	h.engine.Sources, fail = fixedSources{"tree-1"}, false
	resumed, err := h.engine.Resume(t.Context(), failed.ID)
	if err != nil {
		t.Fatal(err)
	}
	check("resumed run", resumed)

	// Cache entries written before they kept the duration: it comes from the original run.
	entries, _ := filepath.Glob(filepath.Join(h.cfg.Root, ".ferry", "cache", "build", "*.json"))
	if len(entries) == 0 {
		t.Fatal("no cache entries")
	}
	for _, p := range entries {
		data, _ := os.ReadFile(p)
		old := regexp.MustCompile(`,"duration":\d+`).ReplaceAll(data, nil)
		if string(old) == string(data) {
			t.Fatalf("cache entry %s has no duration: %s", p, data)
		}
		os.WriteFile(p, old, 0o644)
	}
	third, err := h.engine.Start(t.Context(), plan, pipeline.RunOptions{Jobs: 1})
	if err != nil {
		t.Fatal(err)
	}
	check("old cache entry", third)
}

// TestSecretsNeverReachTheJournal gives a stage outputs and an error that hold a secret in
// several forms, and a plan whose changed paths do: neither the journal, the run's record,
// the cache, the replayed run nor the events may hold any of them.
func TestSecretsNeverReachTheJournal(t *testing.T) {
	const secret = "s3cr3t-value@x!"
	forms := []string{secret, base64.StdEncoding.EncodeToString([]byte(secret)), url.QueryEscape(secret)}
	wrap := map[string]func(*fakeStage) pipeline.Stage{
		"build": func(f *fakeStage) pipeline.Stage { return cacheableStage{f} },
	}
	h := newHarness(t, testConfig, wrap)
	h.engine.Masker = mask.New(secret)
	h.engine.Sources = fixedSources{"tree-1"}
	h.stages["build"].run = func(ctx context.Context, job *pipeline.Job) error {
		job.Outputs.Build = &pipeline.BuildOutput{Files: map[string]string{"bin/" + secret: "sha256:1", "bin/" + forms[2]: "sha256:2"}}
		return nil
	}
	h.stages["test"].run = func(ctx context.Context, job *pipeline.Job) error {
		if job.Pipeline.Name == "a" {
			job.Outputs.Scan = &pipeline.ScanOutput{Failing: []string{"CVE-1 in " + forms[1]}, Report: "/tmp/" + secret}
			return fmt.Errorf("login with %s failed (token %s)", forms[2], forms[1])
		}
		return nil
	}
	plan := h.plan(t, "refs/heads/feature/"+forms[1], "src/a/"+secret, "src/b/x")
	run, err := h.engine.Start(t.Context(), plan, pipeline.RunOptions{Jobs: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.engine.Start(t.Context(), plan, pipeline.RunOptions{Jobs: 1}); err != nil { // a cache hit
		t.Fatal(err)
	}
	if st := run.Service("a").Stage("test"); st.Status != pipeline.Failed || !strings.Contains(st.Reason, "login with *** failed (token ***)") {
		t.Errorf("a/test = %s %q", st.Status, st.Reason)
	}
	if files := run.Service("a").Stage("build").Outputs.Build.Files; files["bin/***"] == "" {
		t.Errorf("build outputs = %v, want the secret's file masked", files)
	}
	check := func(what, text string) {
		t.Helper()
		for _, f := range forms {
			if strings.Contains(text, f) {
				t.Errorf("%s holds %q:\n%s", what, f, text)
			}
		}
	}
	filepath.WalkDir(filepath.Join(h.cfg.Root, ".ferry"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			data, _ := os.ReadFile(p)
			check(p, string(data))
		}
		return nil
	})
	loaded, err := h.store.Load(t.Context(), run.ID)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(loaded)
	check("the replayed run", string(data))
	if !strings.Contains(string(data), "***") {
		t.Errorf("nothing masked in the run: %s", data)
	}
	data, _ = json.Marshal(h.events.events)
	check("the events", string(data))
}

// advisory records an unsigned approval by who, as ferry approve does for signed: false.
func advisory(env, who, comment string, at time.Time) func(*pipeline.Run) ([]pipeline.Approval, error) {
	return func(*pipeline.Run) ([]pipeline.Approval, error) {
		return []pipeline.Approval{{Env: env, By: who, At: at, Comment: comment, Decision: "approve"}}, nil
	}
}
