package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/ferry-ci/ferry/internal/testenv"
)

// TestResumeUsesTheRunsSettings starts a release with --registry and --state on the command
// line and continues it with neither: status, approve and resume must find the run and push
// to the registry it started with; a conflicting --registry is refused; "ferry.yaml changed"
// appears only when the file changed.
func TestResumeUsesTheRunsSettings(t *testing.T) {
	reg := testenv.Registry(t)
	repo := exampleRepo(t)
	cfgPath := filepath.Join(repo, "ferry.yaml")
	data, _ := os.ReadFile(cfgPath)
	text := strings.Replace(string(data), "stages: [build, test, image, scan, push, chart, deploy]}", "stages: [build, test, image, push, promote]}", 1)
	if text == string(data) {
		t.Fatal("the example changed: update this test")
	}
	os.WriteFile(cfgPath, []byte(text), 0o644)
	gitIn(t, repo, "commit", "-qam", "promote without deploy")
	gitIn(t, repo, "checkout", "-q", "-b", "release/delivery/v1.0.2")
	state := t.TempDir()

	r := runFerry(t, repo, nil, "", "run", "--no-progress", "--registry", reg+"/shipping", "--state", state)
	if r.code != exitWaiting {
		t.Fatalf("run: exit %d, want %d (waiting)\n%s\n%s", r.code, exitWaiting, r.stdout, r.stderr)
	}
	entries, _ := os.ReadDir(filepath.Join(state, "runs"))
	if len(entries) != 1 {
		t.Fatalf("runs in --state: %v", entries)
	}
	id := entries[0].Name()

	if r = runFerry(t, repo, nil, "", "status", id); r.code != 0 || !strings.Contains(r.stdout, "waiting") {
		t.Errorf("status without --state: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	r = runFerry(t, repo, nil, "", "approve", id, "--env", "prod", "--key", demoKey(repo, "alice"), "--resume", "--registry", "elsewhere.example.com/x")
	if r.code != exitUsage || !strings.Contains(r.stderr, "was started with --registry "+reg+"/shipping") {
		t.Errorf("conflicting --registry: exit %d\n%s", r.code, r.stderr)
	}
	os.WriteFile(cfgPath, []byte(text+"# edited\n"), 0o644)
	if r = runFerry(t, repo, nil, "", "resume", id); !strings.Contains(r.stderr, "ferry.yaml changed") {
		t.Errorf("resume after editing ferry.yaml: exit %d\n%s", r.code, r.stderr)
	}
	os.WriteFile(cfgPath, []byte(text), 0o644)

	for _, who := range []string{"alice", "bob"} { // prod's quorum is 2
		if r = runFerry(t, repo, nil, "", "approve", id, "--env", "prod", "--key", demoKey(repo, who)); r.code != 0 {
			t.Fatalf("%s's approval without --state: exit %d\n%s", who, r.code, r.stderr)
		}
	}
	r = runFerry(t, repo, nil, "", "resume", id, "--no-progress")
	if r.code != 0 {
		t.Fatalf("resume without --registry/--state: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if _, err := remote.Head(mustRef(t, reg+"/shipping/prod/delivery:1.0.2")); err != nil {
		t.Errorf("prod tag in the run's registry: %v", err)
	}
}
