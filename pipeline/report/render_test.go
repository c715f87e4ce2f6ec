package report

import (
	"bytes"
	"flag"
	goldenfile "github.com/ferry-ci/ferry/internal/golden"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-ci/ferry/pipeline"
	"github.com/ferry-ci/ferry/pipeline/mask"
)

// The plan tests may declare -update too; whoever comes first defines it.
func init() {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite the expected outputs in testdata")
	}
}

func updating() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// golden compares got with testdata/run/<name>.golden, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	goldenfile.Check(t, filepath.Join("testdata", "run", name+".golden"), []byte(got), updating())
}

const (
	runID     = "20250102-120000-abc123"
	cachedRun = "20250101-090000-aaaaaa"
)

var t0 = time.Date(2025, 1, 2, 12, 0, 0, 0, time.UTC)

func at(sec float64) time.Time { return t0.Add(secs(sec)) }

// secs converts seconds to a duration in whole milliseconds, without float noise (8.2 s, not
// 8.199999999 s).
func secs(sec float64) time.Duration { return time.Duration(math.Round(sec*1000)) * time.Millisecond }

// scenario is a scripted run of two services. delivery reuses its build from an earlier run
// and goes through test, image, scan and push with outputs; payments has no build command
// (skipped) and fails its tests with a Go test failure pointing at a file of the repository.
type scenario struct {
	tmp    string // replaced by $TMP in goldens
	repo   string
	events []pipeline.Event
}

func newScenario(t *testing.T) *scenario {
	t.Helper()
	tmp := t.TempDir()
	s := &scenario{tmp: tmp, repo: filepath.Join(tmp, "repo")}
	for _, f := range []string{
		"services/payments/internal/api/handler.go",
		"services/payments/internal/api/handler_test.go",
		"services/delivery/main.go",
	} {
		writeFile(t, filepath.Join(s.repo, f), "package x\n")
	}
	logs := map[string]string{
		"delivery/build": "same inputs as run " + cachedRun + " (sha256:1234abcd): reusing its result\n",
		"payments/build": "",
		"delivery/test": "--- delivery test, attempt 1, 2025-01-02T12:00:00Z ---\n" +
			"ok  \texample.com/delivery/internal/route\t0.412s\n",
		"payments/test": "--- payments test, attempt 1, 2025-01-02T12:00:00Z ---\n" +
			"2025/01/02 12:00:01 test server listening on http://127.0.0.1:8080/\n" +
			"=== RUN   TestCharge\n" +
			"    handler_test.go:42: charge: got status 500, want 200\n" +
			"--- FAIL: TestCharge (0.01s)\n" +
			"FAIL\n" +
			"FAIL\texample.com/payments/internal/api\t0.015s\n" +
			"FAIL\n",
		"delivery/image": "building image with ko\n",
		"delivery/scan":  "0 vulnerabilities at or above HIGH\n",
		"delivery/push":  "pushed registry.example.com/delivery@sha256:bbbb\n",
	}
	logFile := func(svc, stage string) string {
		p := filepath.Join(tmp, "run", "logs", svc, stage+".log")
		writeFile(t, p, logs[svc+"/"+stage])
		return p
	}
	ev := func(sec float64, kind pipeline.EventKind, svc, stage string) pipeline.Event {
		e := pipeline.Event{Time: at(sec), Kind: kind, Run: runID, Service: svc, Stage: pipeline.StageID(stage)}
		if svc != "" {
			e.ServiceDir = "services/" + svc
		}
		if kind == pipeline.StageStarted {
			e.Status, e.Attempt = pipeline.Running, 1
		}
		return e
	}
	done := func(sec float64, svc, stage string, st pipeline.Status, d float64, msg string, out *pipeline.Outputs) pipeline.Event {
		e := ev(sec, pipeline.StageFinished, svc, stage)
		e.Status, e.Duration, e.Message, e.Outputs, e.LogFile = st, secs(d), msg, out, logFile(svc, stage)
		if st != pipeline.Skipped {
			e.Attempt = 1
		}
		return e
	}
	logLine := func(sec float64, svc, stage, line string) pipeline.Event {
		e := ev(sec, pipeline.StageLog, svc, stage)
		e.Message = line
		return e
	}

	build := &pipeline.Outputs{Build: &pipeline.BuildOutput{Files: map[string]string{"bin/delivery": "sha256:0a0a", "bin/migrate": "sha256:0b0b"}}}
	image := &pipeline.Outputs{Image: &pipeline.ImageOutput{Digest: "sha256:aaaa1111", Layout: "work/delivery/image/layout", Builder: "ko"}}
	scan := &pipeline.Outputs{Scan: &pipeline.ScanOutput{Passed: true, Counts: map[string]int{"LOW": 2}, Scanner: "trivy"}}
	push := &pipeline.Outputs{Push: &pipeline.PushOutput{Ref: "registry.example.com/delivery:1.4.0", Digest: "sha256:bbbb2222", Tags: []string{"1.4.0"}}}

	started := ev(0, pipeline.RunStarted, "", "")
	started.State = s.state(false)
	finished := ev(23.1, pipeline.RunFinished, "", "")
	finished.Status, finished.Duration, finished.Message, finished.State = pipeline.Failed, secs(23.1), "1 succeeded, 1 failed", s.state(true)

	s.events = []pipeline.Event{
		started,
		done(0.1, "delivery", "build", pipeline.Skipped, 1.3, "same inputs as run "+cachedRun, build),
		done(0.1, "payments", "build", pipeline.Skipped, 0, "no build command", nil),
		ev(0.2, pipeline.StageStarted, "delivery", "test"),
		ev(0.2, pipeline.StageStarted, "payments", "test"),
		logLine(0.2, "delivery", "test", "--- delivery test, attempt 1, 2025-01-02T12:00:00Z ---"),
		logLine(0.2, "payments", "test", "--- payments test, attempt 1, 2025-01-02T12:00:00Z ---"),
		logLine(1.0, "payments", "test", "2025/01/02 12:00:01 test server listening on http://127.0.0.1:8080/"),
		logLine(1.0, "payments", "test", "=== RUN   TestCharge"),
		logLine(1.5, "delivery", "test", "ok  \texample.com/delivery/internal/route\t0.412s"),
		done(3.4, "delivery", "test", pipeline.Succeeded, 3.2, "", nil),
		ev(3.5, pipeline.StageStarted, "delivery", "image"),
		logLine(3.6, "delivery", "image", "building image with ko"),
		logLine(8.4, "payments", "test", "    handler_test.go:42: charge: got status 500, want 200"),
		logLine(8.4, "payments", "test", "--- FAIL: TestCharge (0.01s)"),
		logLine(8.4, "payments", "test", "FAIL"),
		logLine(8.4, "payments", "test", "FAIL\texample.com/payments/internal/api\t0.015s"),
		logLine(8.4, "payments", "test", "FAIL"),
		done(8.4, "payments", "test", pipeline.Failed, 8.2, "test command failed: exit status 1", nil),
		done(12.0, "delivery", "image", pipeline.Succeeded, 8.5, "", image),
		ev(12.1, pipeline.StageStarted, "delivery", "scan"),
		logLine(21.0, "delivery", "scan", "0 vulnerabilities at or above HIGH"),
		done(21.2, "delivery", "scan", pipeline.Succeeded, 9.1, "", scan),
		ev(21.3, pipeline.StageStarted, "delivery", "push"),
		logLine(22.9, "delivery", "push", "pushed registry.example.com/delivery@sha256:bbbb"),
		done(23.0, "delivery", "push", pipeline.Succeeded, 1.7, "", push),
		finished,
	}
	return s
}

// state is the run as the journal has it at the start (all pending) or at the end.
func (s *scenario) state(end bool) *pipeline.Run {
	stage := func(id string, st pipeline.Status, from, to float64, reason string) *pipeline.StageState {
		if !end {
			return &pipeline.StageState{ID: pipeline.StageID(id), Status: pipeline.Pending}
		}
		ss := &pipeline.StageState{ID: pipeline.StageID(id), Status: st, Reason: reason}
		if st != pipeline.Pending {
			ss.Started, ss.Ended = at(from), at(to)
		}
		return ss
	}
	build := stage("build", pipeline.Skipped, 0.1, 0.1, "same inputs as run "+cachedRun)
	if end {
		build.CachedFrom, build.CachedDuration = cachedRun, secs(1.3) // how long it took in cachedRun
		build.Outputs = pipeline.Outputs{Build: &pipeline.BuildOutput{Files: map[string]string{"bin/delivery": "sha256:0a0a", "bin/migrate": "sha256:0b0b"}}}
	}
	delivery := &pipeline.ServiceRun{Name: "delivery", Pipeline: "service", Version: "1.4.0", Stages: []*pipeline.StageState{
		build,
		stage("test", pipeline.Succeeded, 0.2, 3.4, ""),
		stage("image", pipeline.Succeeded, 3.5, 12.0, ""),
		stage("scan", pipeline.Succeeded, 12.1, 21.2, ""),
		stage("push", pipeline.Succeeded, 21.3, 23.0, ""),
	}}
	if end {
		delivery.Stages[2].Outputs = pipeline.Outputs{Image: &pipeline.ImageOutput{Digest: "sha256:aaaa1111", Layout: "work/delivery/image/layout", Builder: "ko"}}
		delivery.Stages[3].Outputs = pipeline.Outputs{Scan: &pipeline.ScanOutput{Passed: true, Counts: map[string]int{"LOW": 2}, Scanner: "trivy"}}
		delivery.Stages[4].Outputs = pipeline.Outputs{Push: &pipeline.PushOutput{Ref: "registry.example.com/delivery:1.4.0", Digest: "sha256:bbbb2222", Tags: []string{"1.4.0"}}}
	}
	payments := &pipeline.ServiceRun{Name: "payments", Pipeline: "service", Version: "2.0.1", Stages: []*pipeline.StageState{
		stage("build", pipeline.Skipped, 0.1, 0.1, "no build command"),
		stage("test", pipeline.Failed, 0.2, 8.4, "test command failed: exit status 1"),
		stage("image", pipeline.Pending, 0, 0, ""),
		stage("scan", pipeline.Pending, 0, 0, ""),
		stage("push", pipeline.Pending, 0, 0, ""),
	}}
	return &pipeline.Run{ID: runID, Created: t0, Services: []*pipeline.ServiceRun{delivery, payments}}
}

func (s *scenario) play(r pipeline.Reporter) {
	for _, e := range s.events {
		r.Report(e)
	}
}

// stable replaces the temporary folder in an output.
func (s *scenario) stable(out string) string {
	return strings.ReplaceAll(out, s.tmp, "$TMP")
}

func writeFile(t *testing.T, name, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func fixedNow() time.Time { return at(30) }

func TestTerminalPlain(t *testing.T) {
	tests := []struct {
		name string
		opt  TerminalOptions
	}{
		{"terminal", TerminalOptions{}},
		{"terminal-verbose", TerminalOptions{Verbose: true}},
		// A TTY without progress (--no-progress) is plain too.
		{"terminal-no-progress", TerminalOptions{TTY: true, Progress: false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newScenario(t)
			var out bytes.Buffer
			tt.opt.Now = fixedNow
			r := NewTerminal(&out, tt.opt)
			s.play(r)
			if err := r.Close(); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(out.String(), "\x1b") {
				t.Errorf("plain output has escape sequences:\n%q", out.String())
			}
			name := tt.name
			if name == "terminal-no-progress" {
				name = "terminal" // same output as without a TTY
			}
			golden(t, name, s.stable(out.String()))
		})
	}
}

func TestTerminalColor(t *testing.T) {
	s := newScenario(t)
	var out bytes.Buffer
	r := NewTerminal(&out, TerminalOptions{Color: true, Now: fixedNow})
	s.play(r)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{ansiRed + "failed" + ansiReset, ansiGreen + "succeeded" + ansiReset} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
	// Colored and plain summaries align the same way.
	plain := stripANSI(out.String())
	var ref bytes.Buffer
	r2 := NewTerminal(&ref, TerminalOptions{Now: fixedNow})
	newScenario(t).play(r2)
	_ = r2.Close()
	if summaryOf(plain) != summaryOf(ref.String()) {
		t.Errorf("colored summary is not aligned like the plain one:\n%s\nwant\n%s", summaryOf(plain), summaryOf(ref.String()))
	}
}

func TestTerminalLive(t *testing.T) {
	s := newScenario(t)
	var out bytes.Buffer
	r := NewTerminal(&out, TerminalOptions{TTY: true, Progress: true, Now: fixedNow, Width: 100})
	s.play(r)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	// mpb moves the cursor up over the previous frame and erases it before drawing the next.
	if !strings.Contains(got, "\x1b[") || !strings.Contains(got, "A\x1b[J") {
		t.Errorf("live output has no cursor movement:\n%q", got)
	}
	for _, want := range []string{"delivery", "payments", "test 8.2s failed", "12:00:08 payments  test   failed 8.2s"} {
		if !strings.Contains(got, want) {
			t.Errorf("live output lacks %q:\n%s", want, got)
		}
	}
	var plain bytes.Buffer
	r2 := NewTerminal(&plain, TerminalOptions{Now: fixedNow})
	newScenario(t).play(r2)
	_ = r2.Close()
	if want := summaryOf(plain.String()); !strings.HasSuffix(got, want) {
		t.Errorf("live output does not end with the summary:\n%q\nwant suffix\n%q", got[max(0, len(got)-len(want)-200):], want)
	}
}

// summaryOf is the summary table at the end of a terminal output.
func summaryOf(out string) string {
	i := strings.LastIndex(out, "SERVICE ")
	if i < 0 {
		return ""
	}
	return out[i:]
}

func stripANSI(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == 0x1b && i+1 < len(s) && s[i+1] == '[' {
			j := i + 2
			for j < len(s) && (s[j] < '@' || s[j] > '~') {
				j++
			}
			i = j
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func TestGitHub(t *testing.T) {
	s := newScenario(t)
	var out, summary, outputs bytes.Buffer
	r := NewGitHub(&out, GitHubOptions{StepSummary: &summary, Outputs: &outputs, RepoRoot: s.repo})
	s.play(r)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	golden(t, "github", s.stable(out.String()+"\n--- GITHUB_STEP_SUMMARY ---\n"+summary.String()+"\n--- GITHUB_OUTPUT ---\n"+outputs.String()))
}

func TestAzure(t *testing.T) {
	s := newScenario(t)
	var out bytes.Buffer
	dir := filepath.Join(s.tmp, "agent-temp")
	r := NewAzure(&out, AzureOptions{SummaryDir: dir, RepoRoot: s.repo})
	s.play(r)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(dir, "ferry-summary-"+runID+".md"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "task.complete") {
		t.Error("the renderer sets the task result; the exit code must decide it")
	}
	golden(t, "azure", s.stable(out.String()+"\n--- ferry-summary-"+runID+".md ---\n"+string(md)))
}

func TestJSONLines(t *testing.T) {
	s := newScenario(t)
	var out bytes.Buffer
	r := NewJSONLines(&out)
	s.play(r)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out.String(), "\n"); n != len(s.events) {
		t.Errorf("%d lines for %d events", n, len(s.events))
	}
	golden(t, "jsonl", s.stable(out.String()))
}

// TestConcurrentReports sends the events of both services from their own goroutines, as the
// engine's workers would without pipeline.Reporters: run with -race.
func TestConcurrentReports(t *testing.T) {
	renderers := map[string]func(s *scenario, w *goldenfile.SyncBuffer) interface {
		pipeline.Reporter
		Close() error
	}{
		"terminal": func(s *scenario, w *goldenfile.SyncBuffer) interface {
			pipeline.Reporter
			Close() error
		} {
			return NewTerminal(w, TerminalOptions{Verbose: true, Now: fixedNow})
		},
		"terminal live": func(s *scenario, w *goldenfile.SyncBuffer) interface {
			pipeline.Reporter
			Close() error
		} {
			return NewTerminal(w, TerminalOptions{TTY: true, Progress: true, Now: fixedNow})
		},
		"github": func(s *scenario, w *goldenfile.SyncBuffer) interface {
			pipeline.Reporter
			Close() error
		} {
			return NewGitHub(w, GitHubOptions{StepSummary: w, Outputs: w, RepoRoot: s.repo})
		},
		"azure": func(s *scenario, w *goldenfile.SyncBuffer) interface {
			pipeline.Reporter
			Close() error
		} {
			return NewAzure(w, AzureOptions{SummaryDir: s.tmp, RepoRoot: s.repo})
		},
		"jsonl": func(s *scenario, w *goldenfile.SyncBuffer) interface {
			pipeline.Reporter
			Close() error
		} {
			return NewJSONLines(w)
		},
	}
	for name, mk := range renderers {
		t.Run(name, func(t *testing.T) {
			s := newScenario(t)
			var w goldenfile.SyncBuffer
			r := mk(s, &w)
			first, last := s.events[0], s.events[len(s.events)-1]
			r.Report(first)
			var wg sync.WaitGroup
			for _, svc := range []string{"delivery", "payments"} {
				wg.Go(func() {
					for _, e := range s.events[1 : len(s.events)-1] {
						if e.Service == svc {
							r.Report(e)
						}
					}
				})
			}
			wg.Wait()
			r.Report(last)
			if err := r.Close(); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(w.String(), "payments") {
				t.Errorf("output lacks the services:\n%s", w.String())
			}
		})
	}
}

// TestCloseWithoutEvents closes renderers that saw nothing (a run refused before it started),
// twice: nothing hangs, nothing fails.
func TestCloseWithoutEvents(t *testing.T) {
	renderers := map[string]interface {
		pipeline.Reporter
		Close() error
	}{
		"terminal":      NewTerminal(&bytes.Buffer{}, TerminalOptions{}),
		"terminal live": NewTerminal(&bytes.Buffer{}, TerminalOptions{TTY: true, Progress: true}),
		"github":        NewGitHub(&bytes.Buffer{}, GitHubOptions{}),
		"azure":         NewAzure(&bytes.Buffer{}, AzureOptions{}),
		"jsonl":         NewJSONLines(&bytes.Buffer{}),
	}
	for name, r := range renderers {
		t.Run(name, func(t *testing.T) {
			for range 2 {
				if err := r.Close(); err != nil {
					t.Fatal(err)
				}
			}
			r.Report(pipeline.Event{Kind: pipeline.RunStarted, Run: "late"}) // ignored after Close
		})
	}
}

// TestRunStatusCachedDuration checks that ferry status shows a cached stage with the duration
// it took in the run it was reused from.
func TestRunStatusCachedDuration(t *testing.T) {
	s := newScenario(t)
	var out bytes.Buffer
	if err := WriteRunStatus(&out, s.state(true), "text"); err != nil {
		t.Fatal(err)
	}
	var line string
	for l := range strings.Lines(out.String()) {
		if strings.HasPrefix(l, "delivery  build") {
			line = l
		}
	}
	if fields := strings.Fields(line); len(fields) < 4 || fields[2] != "skipped" || fields[3] != "1.3s" {
		t.Errorf("cached build in ferry status: %q, want skipped 1.3s\n%s", line, out.String())
	}
}

// TestTerminalLiveBehindMasker draws the live display through the line-buffered masker the CLI
// puts in front of stdout: frames end in newlines, so nothing waits in the masker once the
// renderer is closed, and the masked secret never shows.
func TestTerminalLiveBehindMasker(t *testing.T) {
	s := newScenario(t)
	var out bytes.Buffer
	masked := mask.New("TestCharge").Writer(&out)
	r := NewTerminal(masked, TerminalOptions{TTY: true, Progress: true, Now: fixedNow, Width: 100})
	s.play(r)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	before := out.Len()
	if err := masked.Close(); err != nil {
		t.Fatal(err)
	}
	if out.Len() != before {
		t.Errorf("the masker held %q back after the renderer closed", out.String()[before:])
	}
	if got := out.String(); strings.Contains(got, "TestCharge") || !strings.Contains(got, "--- FAIL: *** (0.01s)") || !strings.Contains(got, "SERVICE ") {
		t.Errorf("live output through the masker:\n%s", got)
	}
}
