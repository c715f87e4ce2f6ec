package command

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ferry-ci/ferry/pipeline"
	"github.com/ferry-ci/ferry/pipeline/config"
)

func TestPrepare(t *testing.T) {
	cases := []struct {
		line  string
		args  []string
		shell bool
	}{
		{"go build ./...", []string{"go", "build", "./..."}, false},
		{"go  test   -run 'Test A' \"./pkg\"", []string{"go", "test", "-run", "Test A", "./pkg"}, false},
		{"make build-linux", []string{"make", "build-linux"}, false},
		{"go test ./... | tee out.txt", nil, true},
		{"make && make test", nil, true},
		{"go build; go vet", nil, true},
		{"go build > log", nil, true},
		{"CGO_ENABLED=0 go build", nil, true},
		{"echo $HOME", nil, true},
		{"echo \"$HOME\"", nil, true},
		{"echo $(date)", nil, true},
		{"ls *.go", nil, true},
		{"cat ~/.netrc", nil, true},
		{"echo a\\ b", nil, true},
		{"echo {a,b}", nil, true},
		{"! false", nil, true},
		{"sleep 1 &", nil, true},
		{"if true; then echo x; fi", nil, true},
		{"cd sub", nil, true},
		{". ./env.sh", nil, true},
		{"source env.sh", nil, true},
		{"export GOFLAGS=-mod=mod", nil, true},
		{"exit 3", nil, true},
		{"set -x", nil, true},
	}
	for _, tc := range cases {
		t.Run(tc.line, func(t *testing.T) {
			p, err := Prepare(&config.Command{Line: tc.line})
			if err != nil {
				t.Fatal(err)
			}
			if p.Shell != tc.shell {
				t.Fatalf("shell = %v, want %v (%v)", p.Shell, tc.shell, p.Args)
			}
			if tc.shell {
				if !cmp.Equal(p.Args, []string{"sh", "-c", tc.line}) {
					t.Errorf("args = %q", p.Args)
				}
				return
			}
			if !cmp.Equal(p.Args, tc.args) {
				t.Errorf("args = %q, want %q", p.Args, tc.args)
			}
		})
	}
	if p, _ := Prepare(&config.Command{Args: []string{"echo", "$HOME", "|"}}); p.Shell || !cmp.Equal(p.Args, []string{"echo", "$HOME", "|"}) {
		t.Errorf("list form = %+v, want it run as given", p)
	}
	if _, err := Prepare(&config.Command{Line: "echo 'unterminated"}); err == nil {
		t.Error("want a parse error for an unterminated quote")
	}
}

func TestRunStreamsAndFails(t *testing.T) {
	var log bytes.Buffer
	err := Run(t.Context(), Plan{Args: []string{"sh", "-c", "echo out; echo err >&2; exit 3"}, Shell: true}, t.TempDir(), nil, &log, time.Second)
	if err == nil || !strings.Contains(err.Error(), "exit status 3") {
		t.Errorf("err = %v", err)
	}
	if got := log.String(); !strings.Contains(got, "out\n") || !strings.Contains(got, "err\n") {
		t.Errorf("log = %q", got)
	}
	err = Run(t.Context(), Plan{Args: []string{"no-such-program-ferry"}}, t.TempDir(), nil, &log, time.Second)
	if err == nil || !strings.Contains(err.Error(), "start no-such-program-ferry") {
		t.Errorf("err = %v", err)
	}
}

// TestBuiltinsRun runs shell builtins as a user writes them: each must work, not fail with
// "executable file not found".
func TestBuiltinsRun(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "env.sh"), []byte("X=1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"cd sub", ". ./env.sh", "export A=1", "set -e", "exit 0", ":"} {
		t.Run(line, func(t *testing.T) {
			p, err := Prepare(&config.Command{Line: line})
			if err != nil {
				t.Fatal(err)
			}
			var log bytes.Buffer
			if err := Run(t.Context(), p, dir, os.Environ(), &log, time.Second); err != nil {
				t.Errorf("%s: %v\n%s", line, err, log.String())
			}
		})
	}
}

// TestCancelKillsTheProcessGroup starts a command that leaves a grandchild running and checks
// that cancelling kills both.
func TestCancelKillsTheProcessGroup(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "grandchild.pid")
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	script := "sleep 300 & echo $! > " + pidFile + "; wait"
	go func() {
		done <- Run(ctx, Plan{Args: []string{"sh", "-c", script}, Shell: true}, dir, nil, &bytes.Buffer{}, time.Second)
	}()
	var pid int
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		if data, err := os.ReadFile(pidFile); err == nil && len(bytes.TrimSpace(data)) > 0 {
			pid, _ = strconv.Atoi(string(bytes.TrimSpace(data)))
			break
		}
		time.Sleep(10 * time.Millisecond) // polling for the child to start, not timing an assertion
	}
	if pid == 0 {
		t.Fatal("the command did not start its grandchild")
	}
	cancel()
	err := <-done
	if err == nil || !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want it to wrap context.Canceled", err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; {
		if syscall.Kill(pid, 0) != nil {
			break // gone
		}
		if time.Now().After(deadline) {
			t.Fatalf("grandchild %d still alive after cancel", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func newJob(t *testing.T, svc *config.Service) *pipeline.Job {
	t.Helper()
	dir := t.TempDir()
	run := &pipeline.Run{ID: "r1"}
	sr := &pipeline.ServiceRun{Name: svc.Name}
	return &pipeline.Job{Run: run, Service: svc, Pipeline: sr, Outputs: &pipeline.Outputs{}, Log: &bytes.Buffer{},
		ServiceDir: dir, Environ: os.Environ()}
}

func TestBuildRecordsAndVerifiesItsOutputs(t *testing.T) {
	svc := &config.Service{Name: "a", Build: &config.Command{Line: "mkdir -p bin && echo v1 > bin/app"}}
	job := newJob(t, svc)
	os.WriteFile(filepath.Join(job.ServiceDir, "main.go"), []byte("package main"), 0o644)
	st := Build()
	if reason, skip := st.Skip(job); skip {
		t.Fatalf("skipped: %s", reason)
	}
	if err := st.Run(t.Context(), job); err != nil {
		t.Fatal(err)
	}
	out := *job.Outputs
	if out.Build == nil || len(out.Build.Files) != 1 || out.Build.Files["bin/app"] == "" {
		t.Fatalf("outputs = %+v, want exactly bin/app (main.go was there before)", out.Build)
	}
	if err := st.Verify(t.Context(), job, out); err != nil {
		t.Errorf("verify right after the build: %v", err)
	}
	os.WriteFile(filepath.Join(job.ServiceDir, "bin/app"), []byte("v2\n"), 0o644)
	if err := st.Verify(t.Context(), job, out); err == nil || !strings.Contains(err.Error(), "bin/app changed") {
		t.Errorf("verify after a change = %v", err)
	}
	os.Remove(filepath.Join(job.ServiceDir, "bin/app"))
	if err := st.Verify(t.Context(), job, out); err == nil || !strings.Contains(err.Error(), "bin/app is gone") {
		t.Errorf("verify after removal = %v", err)
	}
}

func TestSkipWithoutCommand(t *testing.T) {
	job := newJob(t, &config.Service{Name: "a"})
	if reason, skip := Test().Skip(job); !skip || reason != "no test command" {
		t.Errorf("skip = %v %q", skip, reason)
	}
}

func TestInputsChangeWithTheCommand(t *testing.T) {
	a := newJob(t, &config.Service{Name: "a", Test: &config.Command{Line: "go test ./..."}})
	b := newJob(t, &config.Service{Name: "a", Test: &config.Command{Line: "go test -race ./..."}})
	ia, err := Test().Inputs(t.Context(), a)
	if err != nil {
		t.Fatal(err)
	}
	ib, _ := Test().Inputs(t.Context(), b)
	if bytes.Equal(ia, ib) {
		t.Error("different commands gave the same inputs")
	}
}
