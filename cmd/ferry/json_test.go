package main

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestJSONOutputParsesInEveryCIMode runs every command that prints JSON in each place Ferry
// runs (a terminal, GitHub Actions, Azure Pipelines) and parses stdout: logging commands and
// progress must never corrupt the document.
func TestJSONOutputParsesInEveryCIMode(t *testing.T) {
	repo := exampleRepo(t)
	state := t.TempDir()
	head := strings.TrimSpace(gitOut(t, repo, "rev-parse", "HEAD"))
	modes := map[string]map[string]string{
		"terminal": {},
		"github": {"GITHUB_ACTIONS": "true", "GITHUB_EVENT_NAME": "push", "GITHUB_REF": "refs/heads/feature/tracking",
			"GITHUB_SHA": head, "GITHUB_OUTPUT": t.TempDir() + "/out", "GITHUB_STEP_SUMMARY": t.TempDir() + "/summary"},
		"azure": {"TF_BUILD": "True", "BUILD_REASON": "IndividualCI", "BUILD_SOURCEBRANCH": "refs/heads/feature/tracking",
			"BUILD_SOURCEVERSION": head, "AGENT_TEMPDIRECTORY": t.TempDir()},
	}
	workflow := filepath.Join(t.TempDir(), "ci.yml")
	if err := os.WriteFile(workflow, []byte("on: {push: {branches: [main]}}\njobs: {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	changed := []string{"--changed", "src/shipping/package/main.go", "--ref", "feature/tracking"}
	first := runFerry(t, repo, nil, "", append([]string{"run", "--state", state, "--log-format", "json", "--service", "package", "--stage", "build"}, changed...)...)
	if first.code != 0 {
		t.Fatalf("run: exit %d: %s", first.code, first.stderr)
	}
	id := lastRunID(t, first.stdout)
	commands := [][]string{
		append([]string{"plan", "-o", "json"}, changed...),
		append([]string{"plan", "-o", "github-matrix"}, changed...),
		append([]string{"plan", "-o", "azure-matrix"}, changed...),
		{"runs", "-o", "json", "--state", state},
		{"status", id, "-o", "json", "--state", state},
		{"logs", id, "-o", "json", "--state", state},
		{"triggers", "eval", "--github", workflow, "--event", "push", "--ref", "main", "-o", "json"},
	}
	for mode, env := range modes {
		for _, args := range commands {
			t.Run(mode+"/"+strings.Join(args[:2], " ")+" "+args[2], func(t *testing.T) {
				r := runFerry(t, repo, env, "", args...)
				var v any
				if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
					t.Errorf("exit %d, stdout is not one JSON document (%v):\n%s\nstderr:\n%s", r.code, err, r.stdout, r.stderr)
				}
			})
		}
		t.Run(mode+"/run --log-format json", func(t *testing.T) {
			args := append([]string{"run", "--state", t.TempDir(), "--log-format", "json", "--no-cache", "--service", "package", "--stage", "build"}, changed...)
			r := runFerry(t, repo, env, "", args...)
			sc := bufio.NewScanner(strings.NewReader(r.stdout))
			for sc.Scan() {
				var v any
				if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
					t.Errorf("line %q is not JSON: %v", sc.Text(), err)
				}
			}
		})
	}
}

// lastRunID reads the run id from ferry run's JSON lines.
func lastRunID(t *testing.T, jsonl string) string {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(jsonl))
	for sc.Scan() {
		var ev struct {
			Run string `json:"run"`
		}
		if json.Unmarshal(sc.Bytes(), &ev) == nil && ev.Run != "" {
			return ev.Run
		}
	}
	t.Fatalf("no run id in:\n%s", jsonl)
	return ""
}
