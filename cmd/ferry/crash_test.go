//go:build linux

package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ferry-ci/ferry/pipeline"
)

// The crash tests run Ferry as a real separate process that can be SIGKILLed: this test binary
// re-executes itself with asFerry=1 and then behaves exactly like the ferry command (main). No
// binary is built, so the tests cost no extra compilation and run under -race when the package
// does.
const asFerry = "FERRY_CRASH_TEST_AS_FERRY"

// killAfterAppend makes the re-executed ferry SIGKILL itself right after its Nth durable
// journal append (a stage boundary).
const killAfterAppend = "FERRY_CRASH_TEST_KILL_AFTER_APPEND"

// killBeforeSucceeded makes the re-executed ferry SIGKILL itself when it is about to journal
// that a stage (deploy:qa) succeeded: after the stage's side effect, before the record.
const killBeforeSucceeded = "FERRY_CRASH_TEST_KILL_BEFORE_SUCCEEDED"

func init() {
	if os.Getenv(asFerry) != "1" {
		return
	}
	var h hooks
	if n, err := strconv.Atoi(os.Getenv(killAfterAppend)); err == nil && n > 0 {
		h.localStore = func(s *pipeline.LocalStore) {
			s.AfterAppend = func(count int) {
				if count == n {
					_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
				}
			}
		}
	}
	if stage := os.Getenv(killBeforeSucceeded); stage != "" {
		h.localStore = func(s *pipeline.LocalStore) {
			s.BeforeAppend = func(recs []pipeline.Record) {
				for _, r := range recs {
					if r.Stage != nil && string(r.Stage.State.ID) == stage && r.Stage.State.Status == pipeline.Succeeded {
						_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
					}
				}
			}
		}
	}
	os.Exit(runMain(h))
}

// crashStages are the stages of the fixture's run, as effect.sh names them.
var crashStages = []string{"a-build", "a-test", "b-build", "b-test", "c-build", "c-test"}

// crashRepo is testdata/crash/repo committed to a fresh git repository on feature/crash, whose
// trigger runs build and test for the three services a, b and c. Every stage runs effect.sh.
type crashRepo struct {
	exe  string
	dir  string
	home string
}

func newCrashRepo(t *testing.T) *crashRepo {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatal("git is required")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	r := &crashRepo{exe: exe, dir: t.TempDir(), home: t.TempDir()}
	if err := os.CopyFS(r.dir, os.DirFS(filepath.Join(testdata, "crash", "repo"))); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"init", "-q", "-b", "feature/crash"}, {"add", "-A"}, {"commit", "-q", "-m", "init"}} {
		cmd := exec.Command("git", args...)
		cmd.Dir = r.dir
		cmd.Env = append(r.baseEnv(), "GIT_AUTHOR_NAME=Ferry", "GIT_AUTHOR_EMAIL=ferry@example.com",
			"GIT_COMMITTER_NAME=Ferry", "GIT_COMMITTER_EMAIL=ferry@example.com",
			"GIT_AUTHOR_DATE=2026-01-02T03:04:05Z", "GIT_COMMITTER_DATE=2026-01-02T03:04:05Z")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	return r
}

// baseEnv is a minimal environment: nothing from the CI system the tests may run in (Ferry
// would take the event from GITHUB_* and write to GITHUB_STEP_SUMMARY). Under -race, a process
// waits 1s at exit for late race reports unless told otherwise: that would make this file take
// a minute; races are still reported (exit code 66, which fails the test).
func (r *crashRepo) baseEnv() []string {
	return []string{"PATH=" + os.Getenv("PATH"), "HOME=" + r.home, "GIT_CONFIG_NOSYSTEM=1", "LC_ALL=C",
		"GORACE=" + strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0")}
}

// crashCase is one run of the fixture with its own run store and its own side-effect folder.
type crashCase struct {
	t     *testing.T
	repo  *crashRepo
	state string // --state: the run store
	dir   string // CRASH_DIR: effects/, invocations.log, blocked.pid, release
	jobs  int    // --jobs of ferry run
}

func (r *crashRepo) newCase(t *testing.T) *crashCase {
	t.Helper()
	c := &crashCase{t: t, repo: r, state: t.TempDir(), dir: t.TempDir(), jobs: 2}
	if err := os.Mkdir(filepath.Join(c.dir, "effects"), 0o755); err != nil {
		t.Fatal(err)
	}
	return c
}

// runArgs start the fixture's pipeline: all three services, two at a time unless the case says
// otherwise. --no-cache because every run of a case is at the same clean commit: the cache
// would skip the stages whose re-runs the test looks for.
func (c *crashCase) runArgs() []string {
	return []string{"run", "--jobs", strconv.Itoa(c.jobs), "--no-cache", "--log-format", "text", "--no-progress",
		"--changed", "svc/a/README.md", "--changed", "svc/b/README.md", "--changed", "svc/c/README.md",
		"--state", c.state}
}

func (c *crashCase) resumeArgs(id string) []string {
	return []string{"resume", id, "--log-format", "text", "--no-progress", "--state", c.state}
}

// proc is a ferry process.
type proc struct {
	cmd            *exec.Cmd
	args           []string
	stdout, stderr bytes.Buffer
	done           chan struct{}
	code           int            // exit code, -1 when killed by a signal
	signal         syscall.Signal // the signal that killed it
}

func (p *proc) String() string {
	how := fmt.Sprintf("exit %d", p.code)
	if p.signal != 0 {
		how = "killed by " + p.signal.String()
	}
	return fmt.Sprintf("ferry %s (%s)\nstdout:\n%s\nstderr:\n%s",
		strings.Join(p.args, " "), how, p.stdout.String(), p.stderr.String())
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// start starts ferry in the repository with extra environment variables.
func (c *crashCase) start(env []string, args ...string) *proc {
	c.t.Helper()
	p := &proc{args: args, done: make(chan struct{})}
	p.cmd = exec.CommandContext(c.t.Context(), c.repo.exe, args...)
	p.cmd.Dir = c.repo.dir
	p.cmd.Env = append(append(c.repo.baseEnv(), asFerry+"=1", "CRASH_DIR="+c.dir), env...)
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	if err := p.cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	go func() {
		defer close(p.done)
		err := p.cmd.Wait()
		var exit *exec.ExitError
		switch {
		case err == nil:
		case errors.As(err, &exit):
			p.code = exit.ExitCode()
			if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				p.signal = ws.Signal()
			}
		default:
			p.code = -2
			fmt.Fprintf(&p.stderr, "[test: wait: %v]", err)
		}
	}()
	return p
}

func (p *proc) wait() *proc {
	<-p.done
	return p
}

// ferry runs ferry to its end.
func (c *crashCase) ferry(env []string, args ...string) *proc {
	c.t.Helper()
	return c.start(env, args...).wait()
}

// ok runs ferry and fails the test unless it exits 0.
func (c *crashCase) ok(args ...string) *proc {
	c.t.Helper()
	p := c.ferry(nil, args...)
	if p.code != 0 {
		c.t.Fatalf("%v", p)
	}
	return p
}

// runID is the id of the case's only run, as ferry runs lists it.
func (c *crashCase) runID() string {
	c.t.Helper()
	p := c.ok("runs", "-o", "json", "--state", c.state)
	var runs []struct{ ID string }
	if err := json.Unmarshal(p.stdout.Bytes(), &runs); err != nil || len(runs) != 1 {
		c.t.Fatalf("ferry runs: want one run, got %v (%v)", runs, err)
	}
	return runs[0].ID
}

// statusJSON is what ferry status -o json prints.
type statusJSON struct {
	ID       string          `json:"id"`
	Status   pipeline.Status `json:"status"`
	Owner    *pipeline.Owner `json:"owner"`
	Services []struct {
		Name   string                `json:"name"`
		Status pipeline.Status       `json:"status"`
		Stages []pipeline.StageState `json:"stages"`
	} `json:"services"`
}

func (c *crashCase) status(id string) *statusJSON {
	c.t.Helper()
	p := c.ok("status", id, "-o", "json", "--state", c.state)
	var st statusJSON
	if err := json.Unmarshal(p.stdout.Bytes(), &st); err != nil {
		c.t.Fatalf("ferry status -o json: %v\n%s", err, p.stdout.String())
	}
	return &st
}

// stages lists "<service>-<stage>=<status> attempts=<n>" in order.
func (st *statusJSON) stages() []string {
	var out []string
	for _, svc := range st.Services {
		for _, s := range svc.Stages {
			out = append(out, fmt.Sprintf("%s-%s=%s attempts=%d", svc.Name, s.ID, s.Status, s.Attempts))
		}
	}
	return out
}

func runStages(run *pipeline.Run) []string {
	var out []string
	for _, svc := range run.Services {
		for _, s := range svc.Stages {
			out = append(out, fmt.Sprintf("%s-%s=%s attempts=%d", svc.Name, s.ID, s.Status, s.Attempts))
		}
	}
	return out
}

func stageOf(run *pipeline.Run, name string) *pipeline.StageState {
	svc, stage, _ := strings.Cut(name, "-")
	if s := run.Service(svc); s != nil {
		return s.Stage(pipeline.StageID(stage))
	}
	return nil
}

// journal replays the run's journal from the store folder by hand. Every line must be a
// complete record with no unknown field, and the transitions must make sense (see
// checkTransitions). strict also refuses a torn last line: after a process that completed, there
// must be none; right after a SIGKILL, one is allowed (it is what a crash mid-write leaves).
func (c *crashCase) journal(id string, strict bool) (run *pipeline.Run, lines int) {
	c.t.Helper()
	dir := filepath.Join(c.state, "runs", id)
	data, err := os.ReadFile(filepath.Join(dir, "run.json"))
	if err != nil {
		c.t.Fatal(err)
	}
	run = &pipeline.Run{}
	if err := json.Unmarshal(data, run); err != nil {
		c.t.Fatalf("run.json: %v", err)
	}
	data, err = os.ReadFile(filepath.Join(dir, "journal.jsonl"))
	if err != nil {
		c.t.Fatal(err)
	}
	if n := bytes.LastIndexByte(data, '\n') + 1; n != len(data) {
		if strict {
			c.t.Errorf("journal ends with a torn line: %q", data[n:])
		}
		data = data[:n]
	}
	var recs []pipeline.Record
	for i, line := range bytes.SplitAfter(data, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.DisallowUnknownFields()
		var rec pipeline.Record
		if err := dec.Decode(&rec); err != nil {
			c.t.Fatalf("journal line %d does not parse: %v\n%s", i+1, err, line)
		}
		recs = append(recs, rec)
	}
	if err := checkTransitions(run, recs); err != nil {
		c.t.Errorf("inconsistent journal: %v\n%s", err, data)
	}
	return run, len(recs)
}

// checkTransitions replays records over the created run and checks that each is a legal step:
// exactly one change per record; a stage starts (running, one more attempt) only when it is
// not running; it succeeds only from running, in the same attempt; nothing changes a stage
// once it succeeded (these runs have no cache and no verifiable outputs, so nothing may run it
// again); released only clears an owner. Every record is applied, legal or not.
func checkTransitions(run *pipeline.Run, recs []pipeline.Record) error {
	var errs []error
	for i, rec := range recs {
		n := 0
		for _, set := range []bool{rec.Stage != nil, rec.Approval != nil, rec.Cancel, rec.Owner != nil, rec.Released} {
			if set {
				n++
			}
		}
		if n != 1 {
			errs = append(errs, fmt.Errorf("record %d changes %d things: %+v", i+1, n, rec))
		}
		switch {
		case rec.Stage != nil:
			next := rec.Stage.State
			prev := stageOf(run, rec.Stage.Service+"-"+string(next.ID))
			if prev == nil {
				return errors.Join(append(errs, fmt.Errorf("record %d: unknown stage %s %s", i+1, rec.Stage.Service, next.ID))...)
			}
			where := fmt.Sprintf("record %d: %s %s %s (attempt %d) after %s (attempt %d)", i+1,
				rec.Stage.Service, next.ID, next.Status, next.Attempts, prev.Status, prev.Attempts)
			switch {
			case prev.Status == pipeline.Succeeded:
				errs = append(errs, fmt.Errorf("%s: a succeeded stage changed", where))
			case next.Status == pipeline.Running && (prev.Status == pipeline.Running || next.Attempts != prev.Attempts+1):
				errs = append(errs, fmt.Errorf("%s: a start must follow a stop and count one more attempt", where))
			case next.Status == pipeline.Succeeded && (prev.Status != pipeline.Running || next.Attempts != prev.Attempts):
				errs = append(errs, fmt.Errorf("%s: only a running attempt can succeed", where))
			case next.Status != pipeline.Running && next.Attempts != prev.Attempts:
				errs = append(errs, fmt.Errorf("%s: attempts changed without a start", where))
			}
		case rec.Released && run.Owner == nil:
			errs = append(errs, fmt.Errorf("record %d: released a run that had no owner", i+1))
		}
		if err := run.Apply(rec); err != nil {
			return errors.Join(append(errs, fmt.Errorf("record %d: %v", i+1, err))...)
		}
	}
	return errors.Join(errs...)
}

// invocations counts effect.sh invocations by stage.
func (c *crashCase) invocations() map[string]int {
	c.t.Helper()
	data, err := os.ReadFile(filepath.Join(c.dir, "invocations.log"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		c.t.Fatal(err)
	}
	counts := map[string]int{}
	for _, line := range strings.Fields(string(data)) {
		counts[line]++
	}
	return counts
}

// effects lists the effects by stage: the pids of the invocations that made them.
func (c *crashCase) effects() map[string][]string {
	c.t.Helper()
	entries, err := os.ReadDir(filepath.Join(c.dir, "effects"))
	if err != nil {
		c.t.Fatal(err)
	}
	out := map[string][]string{}
	for _, e := range entries {
		name, pid, _ := strings.Cut(e.Name(), ".")
		out[name] = append(out[name], pid)
	}
	return out
}

// checkCompleted checks a run that a resume completed. before is the run as its journal stood
// when the previous process stopped, invBefore the invocations up to then.
func (c *crashCase) checkCompleted(id string, before *pipeline.Run, invBefore map[string]int) {
	c.t.Helper()
	st := c.status(id)
	if st.Status != pipeline.Succeeded || st.Owner != nil {
		c.t.Errorf("ferry status: run %s, owner %+v; want succeeded, no owner\n%s", st.Status, st.Owner, strings.Join(st.stages(), "\n"))
	}
	replayed, _ := c.journal(id, true)
	if diff := cmp.Diff(st.stages(), runStages(replayed)); diff != "" || replayed.Status() != st.Status {
		c.t.Errorf("replaying the journal gives run %s, ferry status %s; stages (-status +journal):\n%s", replayed.Status(), st.Status, diff)
	}
	for _, s := range st.stages() {
		if !strings.Contains(s, "="+string(pipeline.Succeeded)+" ") {
			c.t.Errorf("stage %s, want succeeded", s)
		}
	}
	effects := c.effects()
	inv := c.invocations()
	for _, name := range crashStages {
		if len(effects[name]) != 1 {
			c.t.Errorf("effect of %s happened %d times (by pids %v), want exactly once", name, len(effects[name]), effects[name])
		}
		if s := stageOf(replayed, name); s != nil && inv[name] > s.Attempts {
			c.t.Errorf("%s was invoked %d times but the journal counts %d attempts: an invocation was not journaled first", name, inv[name], s.Attempts)
		}
		if before == nil {
			continue
		}
		if s := stageOf(before, name); s != nil && s.Status == pipeline.Succeeded && inv[name] != invBefore[name] {
			c.t.Errorf("%s was marked succeeded before the crash, yet the resume invoked it again (%d invocations before, %d after)",
				name, invBefore[name], inv[name])
		}
	}
	if len(effects) != len(crashStages) {
		c.t.Errorf("effects = %v, want one for each of %v", effects, crashStages)
	}
}

// resumeAndCheck resumes a stopped run and checks that it completed without repeating anything.
func (c *crashCase) resumeAndCheck(id string) {
	c.t.Helper()
	before, _ := c.journal(id, false)
	invBefore := c.invocations()
	c.ok(c.resumeArgs(id)...)
	c.checkCompleted(id, before, invBefore)
}

// poll waits for cond, checking every 10ms for at most 30s; it fails early when p has exited.
func (c *crashCase) poll(what string, p *proc, cond func() bool) {
	c.t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); {
		if p != nil && p.exited() && !cond() {
			c.t.Fatalf("waiting for %s, but %v", what, p)
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond) // polling, not timing
	}
}

// blocked waits until a stage started with CRASH_BLOCK is blocked, and returns its pid.
func (c *crashCase) blocked(p *proc) int {
	c.t.Helper()
	var pid int
	c.poll("the blocking stage to start", p, func() bool {
		data, err := os.ReadFile(filepath.Join(c.dir, "blocked.pid"))
		if err != nil {
			return false
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(data)))
		return err == nil
	})
	return pid
}

func (c *crashCase) release() {
	c.t.Helper()
	if err := os.WriteFile(filepath.Join(c.dir, "release"), nil, 0o644); err != nil {
		c.t.Fatal(err)
	}
}

// liveGroup lists the live processes of a process group. Zombies count as dead: the init of a
// container may never reap the orphans it inherits.
func liveGroup(pgid int) []int {
	entries, _ := os.ReadDir("/proc")
	var live []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ...; comm may contain spaces and parentheses.
		i := bytes.LastIndexByte(data, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(data[i+1:]))
		if len(f) < 3 || f[0] == "Z" || f[0] == "X" {
			continue
		}
		if g, _ := strconv.Atoi(f[2]); g == pgid {
			live = append(live, pid)
		}
	}
	return live
}

// groupGone waits until the process group of a stage command (its pid: commands lead their own
// group) has no live process.
func (c *crashCase) groupGone(pgid int) {
	c.t.Helper()
	c.poll(fmt.Sprintf("process group %d to end", pgid), nil, func() bool { return len(liveGroup(pgid)) == 0 })
}

// TestCrashAtEveryStageBoundary kills ferry run with SIGKILL right after each durable journal
// append of the run, resumes it, and checks that every side effect happened exactly once and
// that the journal is consistent.
func TestCrashAtEveryStageBoundary(t *testing.T) {
	repo := newCrashRepo(t)

	// A clean run tells how many appends there are: one owner record, running and succeeded
	// for each stage, released.
	clean := repo.newCase(t)
	if p := clean.ferry(nil, clean.runArgs()...); p.code != 0 {
		t.Fatalf("clean run: %v", p)
	}
	id := clean.runID()
	clean.checkCompleted(id, nil, nil)
	_, appends := clean.journal(id, true)
	if want := 2 + 2*len(crashStages); appends != want {
		t.Fatalf("a clean run appends %d records, want %d", appends, want)
	}
	if inv := clean.invocations(); len(inv) != len(crashStages) {
		t.Fatalf("clean run invocations = %v", inv)
	}

	for n := 1; n <= appends; n++ {
		t.Run(fmt.Sprintf("after-append-%02d", n), func(t *testing.T) {
			t.Parallel()
			c := repo.newCase(t)
			p := c.ferry([]string{fmt.Sprintf(killAfterAppend+"=%d", n)}, c.runArgs()...)
			if p.signal != syscall.SIGKILL {
				t.Fatalf("want ferry run killed by SIGKILL after append %d: %v", n, p)
			}
			id := c.runID()
			if _, lines := c.journal(id, false); lines < n {
				t.Fatalf("the journal has %d records after the kill, want at least %d", lines, n)
			}
			c.resumeAndCheck(id)
		})
	}
}

// TestCrashInTheMiddleOfAStage kills ferry run while a stage's command runs, before and after
// the command's effect: the command must die with ferry (parent-death signal), and the resumed
// run must run the stage again, which sees its effect if it happened.
func TestCrashInTheMiddleOfAStage(t *testing.T) {
	repo := newCrashRepo(t)
	cases := []struct {
		stage  string
		before bool // killed before the effect
	}{
		{"b-build", true},
		{"b-build", false},
		{"c-test", true},
		{"c-test", false},
	}
	for _, tc := range cases {
		where := map[bool]string{true: "before", false: "after"}[tc.before]
		t.Run(tc.stage+"-"+where+"-effect", func(t *testing.T) {
			t.Parallel()
			c := repo.newCase(t)
			p := c.start([]string{"CRASH_BLOCK=" + tc.stage + ":" + where}, c.runArgs()...)
			pid := c.blocked(p)
			if err := p.cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			if p.wait(); p.signal != syscall.SIGKILL {
				t.Fatalf("want ferry killed by SIGKILL: %v", p)
			}
			c.groupGone(pid)
			c.release()

			id := c.runID()
			stopped, _ := c.journal(id, false)
			if s := stageOf(stopped, tc.stage); s.Status != pipeline.Running {
				t.Fatalf("%s is %s in the journal after the kill, want running", tc.stage, s.Status)
			}
			c.resumeAndCheck(id)

			if n := c.invocations()[tc.stage]; n != 2 {
				t.Errorf("%s invoked %d times, want 2 (killed, resumed)", tc.stage, n)
			}
			madeBy := c.effects()[tc.stage]
			if first := slices.Contains(madeBy, strconv.Itoa(pid)); first == tc.before {
				t.Errorf("the effect of %s was made by %v; the killed invocation (pid %d) was %s it", tc.stage, madeBy, pid, where)
			}
			if !tc.before {
				svc, stage, _ := strings.Cut(tc.stage, "-")
				logs := c.ok("logs", id, "--service", svc, "--stage", stage, "--state", c.state)
				if !strings.Contains(logs.stdout.String(), tc.stage+": already done") {
					t.Errorf("the resumed %s did not find its effect:\n%s", tc.stage, logs.stdout.String())
				}
			}
		})
	}
}

// TestCancelWhileAStageRuns cancels a run whose stage blocks, with SIGINT (Ctrl-C) and with
// ferry cancel from another process (SIGTERM): the stage's process group is stopped, the run
// and the stage are journaled cancelled, ferry exits 130, and ferry resume completes the run.
func TestCancelWhileAStageRuns(t *testing.T) {
	repo := newCrashRepo(t)
	cases := []struct {
		name   string
		cancel func(c *crashCase, p *proc, id string)
	}{
		{"SIGINT", func(c *crashCase, p *proc, id string) {
			if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
				c.t.Fatal(err)
			}
		}},
		{"ferry-cancel", func(c *crashCase, p *proc, id string) {
			out := c.ok("cancel", id, "--state", c.state)
			if want := fmt.Sprintf("sent SIGTERM to pid %d", p.cmd.Process.Pid); !strings.Contains(out.stdout.String(), want) {
				c.t.Errorf("ferry cancel said %q, want %q", out.stdout.String(), want)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := repo.newCase(t)
			p := c.start([]string{"CRASH_BLOCK=b-build:before"}, c.runArgs()...)
			pid := c.blocked(p)
			id := c.runID()
			tc.cancel(c, p, id)
			if p.wait(); p.code != exitCanceled {
				t.Fatalf("want exit %d: %v", exitCanceled, p)
			}
			c.groupGone(pid)

			st := c.status(id)
			stopped, _ := c.journal(id, true)
			if diff := cmp.Diff(st.stages(), runStages(stopped)); diff != "" {
				t.Errorf("journal and status differ (-status +journal):\n%s", diff)
			}
			if st.Status != pipeline.Cancelled || st.Owner != nil {
				t.Errorf("run %s with owner %+v, want cancelled and released", st.Status, st.Owner)
			}
			if s := stageOf(stopped, "b-build"); s.Status != pipeline.Cancelled {
				t.Errorf("b-build is %s (%s), want cancelled", s.Status, s.Reason)
			}
			for _, s := range st.stages() {
				if strings.Contains(s, "="+string(pipeline.Running)+" ") || strings.Contains(s, "="+string(pipeline.Failed)+" ") {
					t.Errorf("after cancel: %s", s)
				}
			}
			c.release()
			c.resumeAndCheck(id)
		})
	}
}

// TestSecondSignalEndsAtOnce interrupts a run whose stage ignores SIGTERM: the first SIGINT
// asks the stage to stop, the second ends Ferry at once and kills the stage's process group.
// The journal is left as after a crash, and resume completes the run.
func TestSecondSignalEndsAtOnce(t *testing.T) {
	c := newCrashRepo(t).newCase(t)
	p := c.start([]string{"CRASH_BLOCK=b-build:before", "CRASH_IGNORE_TERM=1"}, c.runArgs()...)
	pid := c.blocked(p)
	id := c.runID()
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	c.poll("the stage to get SIGTERM", p, func() bool {
		_, err := os.Stat(filepath.Join(c.dir, "got-term"))
		return err == nil
	})
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if p.wait(); p.code != exitCanceled || !strings.Contains(p.stderr.String(), "second signal") {
		t.Fatalf("want exit %d after saying so: %v", exitCanceled, p)
	}
	c.groupGone(pid)
	c.release()
	c.resumeAndCheck(id)
}

// TestConcurrentResumesOfOneRun starts two ferry resume of one crashed run at once: exactly one
// executes it, the other exits 2 and names the process that does.
func TestConcurrentResumesOfOneRun(t *testing.T) {
	repo := newCrashRepo(t)
	c := repo.newCase(t)
	if p := c.ferry([]string{killAfterAppend + "=1"}, c.runArgs()...); p.signal != syscall.SIGKILL {
		t.Fatalf("want the run killed: %v", p)
	}
	id := c.runID()
	before, _ := c.journal(id, false)
	invBefore := c.invocations()

	// The winner blocks in a-build until released, so the loser always finds it running.
	env := []string{"CRASH_BLOCK=a-build:before"}
	procs := []*proc{c.start(env, c.resumeArgs(id)...), c.start(env, c.resumeArgs(id)...)}
	var loser, winner *proc
	select {
	case <-procs[0].done:
		loser, winner = procs[0], procs[1]
	case <-procs[1].done:
		loser, winner = procs[1], procs[0]
	case <-time.After(30 * time.Second):
		t.Fatalf("neither resume stopped:\n%v\n%v", procs[0], procs[1])
	}
	want := fmt.Sprintf("being executed by another process (run %s, pid %d on ", id, winner.cmd.Process.Pid)
	if loser.code != exitUsage || !strings.Contains(loser.stderr.String(), want) {
		t.Errorf("the second resume: want exit %d and %q: %v", exitUsage, want, loser)
	}
	c.blocked(winner)
	c.release()
	if winner.wait(); winner.code != 0 {
		t.Fatalf("the first resume: %v", winner)
	}
	c.checkCompleted(id, before, invBefore)
	if n := c.invocations()["a-build"]; n != 1 {
		t.Errorf("a-build invoked %d times, want once", n)
	}
}

// TestCrashDuringResume kills the resume of a crashed run after each of its own journal
// appends, then resumes again: a crash while recovering is recovered from like any other.
// The run has --jobs 1, so that every crashed run is the same and so is every resume.
func TestCrashDuringResume(t *testing.T) {
	repo := newCrashRepo(t)
	const firstKill = 6 // owner, a-build and a-test done, b-build running
	crashed := func(t *testing.T) (*crashCase, string) {
		t.Helper()
		c := repo.newCase(t)
		c.jobs = 1
		if p := c.ferry([]string{fmt.Sprintf(killAfterAppend+"=%d", firstKill)}, c.runArgs()...); p.signal != syscall.SIGKILL {
			t.Fatalf("want the run killed: %v", p)
		}
		return c, c.runID()
	}

	// How many appends a resume of such a run makes.
	c, id := crashed(t)
	_, before := c.journal(id, false)
	c.resumeAndCheck(id)
	_, after := c.journal(id, true)
	appends := after - before
	if appends < 2 {
		t.Fatalf("the resume appended %d records", appends)
	}

	for n := 1; n <= appends; n++ {
		t.Run(fmt.Sprintf("after-append-%02d", n), func(t *testing.T) {
			t.Parallel()
			c, id := crashed(t)
			p := c.ferry([]string{fmt.Sprintf(killAfterAppend+"=%d", n)}, c.resumeArgs(id)...)
			if p.signal != syscall.SIGKILL {
				t.Fatalf("want the resume killed after its append %d: %v", n, p)
			}
			c.resumeAndCheck(id)
		})
	}
}

// TestCancelAfterACrashSignalsNoStranger: after ferry run was killed, its journal still names
// its pid as the owner. When that pid is reused by an unrelated process of the same machine,
// ferry cancel must not signal it: nothing executes the run (its run lock is free), so cancel
// should mark the run cancelled itself.
func TestCancelAfterACrashSignalsNoStranger(t *testing.T) {
	repo := newCrashRepo(t)
	c := repo.newCase(t)
	if p := c.ferry([]string{killAfterAppend + "=1"}, c.runArgs()...); p.signal != syscall.SIGKILL {
		t.Fatalf("want the run killed: %v", p)
	}
	id := c.runID()

	// The stranger: a process that got the dead owner's pid. Rather than waiting for the kernel
	// to reuse that pid, the journal is made to name the stranger's.
	stranger := exec.CommandContext(t.Context(), "sleep", "60")
	if err := stranger.Start(); err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	rec, _ := json.Marshal(pipeline.Record{Time: time.Now().UTC(), Owner: &pipeline.Owner{Host: host, PID: stranger.Process.Pid}})
	f, err := os.OpenFile(filepath.Join(c.state, "runs", id, "journal.jsonl"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(append(rec, '\n')); err != nil {
		t.Fatal(err)
	}
	f.Close()

	p := c.ferry(nil, "cancel", id, "--state", c.state)
	// A signal sent by ferry cancel was delivered before it exited: a SIGTERM reported after
	// this SIGKILL came from ferry cancel.
	_ = stranger.Process.Kill()
	if err := stranger.Wait(); err != nil && strings.Contains(err.Error(), "terminated") {
		t.Errorf("ferry cancel sent SIGTERM to pid %d, which does not execute the run:\n%v", stranger.Process.Pid, p)
	}
	if st := c.status(id); p.code != 0 || st.Status != pipeline.Cancelled {
		t.Errorf("after ferry cancel the run is %s, want cancelled:\n%v", st.Status, p)
	}
}

// ferryProcess runs ferry as its own process (this test binary re-executed, see crash_test.go)
// in dir, with a clean environment: PATH, HOME, LC_ALL and env.
func ferryProcess(t *testing.T, dir string, env map[string]string, args ...string) result {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), exe, args...)
	cmd.Dir = dir
	cmd.Env = []string{asFerry + "=1", "PATH=" + os.Getenv("PATH"), "HOME=" + dir, "GIT_CONFIG_NOSYSTEM=1", "LC_ALL=C",
		"GORACE=" + strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	var exit *exec.ExitError
	if err := cmd.Run(); err != nil && !errors.As(err, &exit) {
		t.Fatalf("ferry %v: %v", args, err)
	}
	return result{cmd.ProcessState.ExitCode(), out.String(), errOut.String()}
}
