package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSecretsNeverReachAnySink puts the registry password (raw, base64 and URL-escaped) and a
// secret the config names into a failing stage's reason (its command line), into a stage's
// outputs (the files a build creates), into --dry-run text, into a top-level error and into a
// plan's outputs, and runs ferry as GitHub Actions and as Azure Pipelines run it: stdout,
// stderr, every file of the run store (journal, run record, logs, cache), $GITHUB_STEP_SUMMARY,
// $GITHUB_OUTPUT and the Azure summary must hold none of them.
func TestSecretsNeverReachAnySink(t *testing.T) {
	repo := exampleRepo(t)
	const secret = "s3cr3t-value@x!"
	const npmToken = "npm-t0ken-abc"
	b64 := base64.StdEncoding.EncodeToString([]byte(secret))
	escaped := url.QueryEscape(secret)
	forms := []string{secret, b64, escaped, npmToken}

	cfgPath := filepath.Join(repo, "ferry.yaml")
	data, _ := os.ReadFile(cfgPath)
	text := strings.Replace(string(data), "build: go build -trimpath -buildvcs=false -o bin/delivery .",
		`build: 'test "`+b64+`" = "`+escaped+`" || test x = "`+secret+`"'`, 1)
	text = strings.Replace(text, "build: go build -trimpath -buildvcs=false -o bin/dronescheduler .",
		`build: 'touch "`+secret+`.bin" "`+b64+`.b64" "`+escaped+`.url"'`, 1)
	text = strings.Replace(text, "scan:\n", "secrets: [NPM_TOKEN]\nscan:\n", 1)
	os.WriteFile(cfgPath, []byte(text), 0o644)
	gitIn(t, repo, "commit", "-qam", "commands that hold secrets")

	tmp := t.TempDir()
	summary, outputs := filepath.Join(tmp, "step_summary"), filepath.Join(tmp, "github_output")
	event := filepath.Join(tmp, "event.json")
	sha := strings.TrimSpace(gitOut(t, repo, "rev-parse", "HEAD"))
	os.WriteFile(event, []byte(`{"ref":"refs/heads/feature/tracking","before":"`+strings.TrimSpace(gitOut(t, repo, "rev-parse", "HEAD^"))+`","after":"`+sha+`"}`), 0o644)
	github := map[string]string{"GITHUB_ACTIONS": "true", "GITHUB_EVENT_NAME": "push", "GITHUB_REF": "refs/heads/feature/tracking",
		"GITHUB_SHA": sha, "GITHUB_EVENT_PATH": event, "GITHUB_STEP_SUMMARY": summary, "GITHUB_OUTPUT": outputs,
		"FERRY_REGISTRY_PASSWORD": secret, "NPM_TOKEN": npmToken}
	azureDir := filepath.Join(tmp, "agent")
	azure := map[string]string{"TF_BUILD": "True", "BUILD_REASON": "IndividualCI", "BUILD_SOURCEBRANCH": "refs/heads/feature/tracking",
		"BUILD_SOURCEVERSION": sha, "AGENT_TEMPDIRECTORY": azureDir, "FERRY_REGISTRY_PASSWORD": secret, "NPM_TOKEN": npmToken}

	var printed []string // every stdout and stderr
	ferry := func(env map[string]string, wantCode int, args ...string) result {
		t.Helper()
		r := runFerry(t, repo, env, "", args...)
		if r.code != wantCode {
			t.Fatalf("ferry %v: exit %d, want %d\n%s\n%s", args, r.code, wantCode, r.stdout, r.stderr)
		}
		printed = append(printed, r.stdout, r.stderr)
		return r
	}
	build := []string{"run", "--service", "delivery", "--service", "dronescheduler", "--stage", "build", "--changed", "src/shipping/common/common.go"}

	// A failing stage whose reason holds the secrets, and a stage whose outputs do.
	r := ferry(github, 1, build...)
	if !strings.Contains(r.stdout, "***") {
		t.Errorf("no masked value in the GitHub log:\n%s", r.stdout)
	}
	dry := ferry(github, 0, append(build, "--dry-run")...)
	if !strings.Contains(dry.stdout, `test \"***\" = \"***\" || test x = \"***\"`) || !strings.Contains(dry.stdout, "touch ***.bin ***.b64 ***.url") {
		t.Errorf("--dry-run does not show the masked command:\n%s", dry.stdout)
	}
	runs := ferry(nil, 0, "runs", "-o", "json")
	var list []struct{ ID string }
	if err := json.Unmarshal([]byte(runs.stdout), &list); err != nil || len(list) != 1 {
		t.Fatalf("runs: %v %s", err, runs.stdout)
	}
	status := ferry(nil, 0, "status", list[0].ID)
	if !strings.Contains(status.stdout, "***") {
		t.Errorf("ferry status shows no masked reason:\n%s", status.stdout)
	}
	ferry(nil, 0, "status", list[0].ID, "-o", "json")
	ferry(nil, 0, "logs", list[0].ID)
	// Top-level errors, printed by main.
	e := ferry(github, 2, "run", "--service", secret, "--changed", "src/shipping/common/common.go")
	if !strings.Contains(e.stderr, "--service ***: not in the plan") {
		t.Errorf("the error is not there, masked:\n%s", e.stderr)
	}
	ferry(github, 2, "status", b64)
	// A plan whose outputs ($GITHUB_OUTPUT's matrix, the version) hold the config's secret.
	p := ferry(github, 0, "plan", "--ref", "release/delivery/v1.0.0-"+npmToken, "-o", "json")
	if !strings.Contains(p.stdout, `"version": "1.0.0-***"`) {
		t.Errorf("plan does not show the masked version:\n%s", p.stdout)
	}
	// As Azure Pipelines runs it: logging commands on stdout and a summary file.
	ferry(azure, 1, build...)
	azureSummaries, _ := filepath.Glob(filepath.Join(azureDir, "*.md"))
	if len(azureSummaries) != 1 {
		t.Fatalf("Azure summaries: %v", azureSummaries)
	}

	sinks := map[string]string{}
	for i, s := range printed {
		sinks[fmt.Sprintf("ferry call %d's %s", i/2+1, [...]string{"stdout", "stderr"}[i%2])] = s
	}
	for _, f := range append([]string{summary, outputs}, azureSummaries...) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sinks[f] = string(data)
	}
	var store []string
	filepath.WalkDir(filepath.Join(repo, ".ferry"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			data, _ := os.ReadFile(p)
			sinks[p] = string(data)
			store = append(store, p)
		}
		return nil
	})
	for name, content := range sinks {
		for _, form := range forms {
			if strings.Contains(content, form) {
				t.Errorf("%s holds the secret form %q:\n%s", name, form, content)
			}
		}
	}
	// The sinks did get the texts, masked: the check above is not vacuous.
	for _, f := range []string{summary, azureSummaries[0]} {
		if !strings.Contains(sinks[f], "***") {
			t.Errorf("%s has no masked reason:\n%s", f, sinks[f])
		}
	}
	if !strings.Contains(sinks[outputs], "1.0.0-***") {
		t.Errorf("GITHUB_OUTPUT has no masked version:\n%s", sinks[outputs])
	}
	var journal, record string
	for _, p := range store {
		switch filepath.Base(p) {
		case "journal.jsonl":
			journal += sinks[p]
		case "run.json":
			record += sinks[p]
		}
	}
	if !strings.Contains(journal, `***.bin`) || !strings.Contains(journal, `***.b64`) || !strings.Contains(journal, `***.url`) {
		t.Errorf("the journal does not keep the build's outputs, masked:\n%s", journal)
	}
	if record == "" {
		t.Errorf("no run record among %v", store)
	}
}
