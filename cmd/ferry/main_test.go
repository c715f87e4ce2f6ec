package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	goldenfile "github.com/ferry-ci/ferry/internal/golden"
	"github.com/ferry-ci/ferry/internal/testenv"
	"github.com/ferry-ci/ferry/pipeline"
)

var update = flag.Bool("update", false, "rewrite golden files")

// testdata is absolute: tests change the working directory to run ferry in a repository.
var testdata string

func TestMain(m *testing.M) {
	wd, err := os.Getwd()
	if err != nil {
		panic(err)
	}
	testdata = filepath.Join(wd, "testdata")
	code := m.Run()
	testenv.StopCluster()
	os.Exit(code)
}

// exampleRepo copies the bundled example into a git repository with a fixed history, so that
// commit ids in golden files never change:
//
//	main:             init
//	feature/tracking: init → "change common" (src/shipping/common/common.go)
func exampleRepo(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatal("git is required")
	}
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(filepath.Join(testdata, "../../../examples/shipping"))); err != nil {
		t.Fatal(err)
	}
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=Ferry", "GIT_AUTHOR_EMAIL=ferry@example.com",
			"GIT_COMMITTER_NAME=Ferry", "GIT_COMMITTER_EMAIL=ferry@example.com",
			"GIT_AUTHOR_DATE=2026-01-02T03:04:05Z", "GIT_COMMITTER_DATE=2026-01-02T03:04:05Z",
			"GIT_CONFIG_NOSYSTEM=1", "HOME="+dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	git("init", "-q", "-b", "main")
	git("add", "-A")
	git("commit", "-q", "-m", "init")
	git("checkout", "-q", "-b", "feature/tracking")
	f, err := os.OpenFile(filepath.Join(dir, "src/shipping/common/common.go"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("\n// Regions lists where we ship.\nvar Regions = []string{\"eu\", \"us\"}\n")
	f.Close()
	git("commit", "-q", "-am", "change common")
	return dir
}

type result struct {
	code           int
	stdout, stderr string
}

func runFerry(t *testing.T, dir string, env map[string]string, stdin string, args ...string) result {
	t.Helper()
	t.Chdir(dir)
	var out, errOut bytes.Buffer
	code := Main(t.Context(), args, Streams{In: strings.NewReader(stdin), Out: &out, Err: &errOut}, func(k string) string { return env[k] })
	return result{code, out.String(), errOut.String()}
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	goldenfile.Check(t, filepath.Join(testdata, name), []byte(got), *update)
}

func TestPlanGolden(t *testing.T) {
	repo := exampleRepo(t)
	cases := []struct {
		name string
		args []string
	}{
		{"feature-text", []string{"plan"}},
		{"feature-json", []string{"plan", "--output", "json"}},
		{"feature-github-matrix", []string{"plan", "-o", "github-matrix"}},
		{"feature-azure-matrix", []string{"plan", "-o", "azure-matrix"}},
		{"feature-go-git", []string{"plan", "--git", "go-git"}},
		{"pr-json", []string{"plan", "--event", "pr", "--base", "main", "-o", "json"}},
		{"pr-github-matrix", []string{"plan", "--event", "pr", "--base", "main", "-o", "github-matrix"}},
		{"release-text", []string{"plan", "--ref", "release/delivery/v1.0.2", "--changed", "README.md"}},
		{"release-json", []string{"plan", "--ref", "release/delivery/v1.0.2", "--changed", "README.md", "-o", "json"}},
		{"no-trigger-text", []string{"plan", "--ref", "main", "--changed", "src/web/frontend/main.go"}},
		{"no-trigger-github-matrix", []string{"plan", "--ref", "main", "--changed", "src/web/frontend/main.go", "-o", "github-matrix"}},
		{"no-trigger-azure-matrix", []string{"plan", "--ref", "main", "--changed", "src/web/frontend/main.go", "-o", "azure-matrix"}},
		{"changed-docs-excluded", []string{"plan", "--changed", "src/shipping/delivery/docs/README.md", "--changed", "charts/delivery/values.yaml"}},
		{"explain-text", []string{"plan", "--explain", "--changed", "src/shipping/delivery/main.go", "--changed", "src/shipping/package/docs/README.md"}},
		{"explain-json", []string{"plan", "-o", "json", "--changed", "src/shipping/delivery/main.go", "--changed", "src/shipping/package/docs/README.md"}},
		{"explain-go-mod", []string{"plan", "--explain", "--changed", "go.mod"}},
		{"explain-no-trigger", []string{"plan", "--explain", "--ref", "main", "--changed", "go.mod"}},
		{"explain-release", []string{"plan", "--explain", "--ref", "release/delivery/v1.0.2", "--changed", "README.md"}},
		// Five services, at most two jobs: two shards, balanced by count (no runs yet).
		{"sharded-github-matrix", []string{"plan", "--changed", "go.mod", "--max-jobs", "2", "-o", "github-matrix"}},
		{"sharded-azure-matrix", []string{"plan", "--changed", "go.mod", "--max-jobs", "2", "-o", "azure-matrix"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := runFerry(t, repo, nil, "", tc.args...)
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			golden(t, "plan/"+tc.name+".golden", r.stdout)
		})
	}
}

func TestPlanChangedFromStdin(t *testing.T) {
	repo := exampleRepo(t)
	r := runFerry(t, repo, nil, "src/web/frontend/main.go\n./src/web/frontend/x.go\n\n", "plan", "--changed-from", "-", "-o", "github-matrix")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	want := `{"include":[{"service":"frontend","services":"frontend","pipeline":"feature","version":"","stages":"build,test"}]}`
	if got := strings.Join(strings.Fields(r.stdout), ""); got != strings.ReplaceAll(want, " ", "") {
		t.Errorf("matrix = %s", r.stdout)
	}
}

func TestPlanInGitHubActions(t *testing.T) {
	repo := exampleRepo(t)
	out := filepath.Join(t.TempDir(), "github_output")
	event := filepath.Join(t.TempDir(), "event.json")
	sha := strings.TrimSpace(gitOut(t, repo, "rev-parse", "HEAD"))
	before := strings.TrimSpace(gitOut(t, repo, "rev-parse", "HEAD^"))
	os.WriteFile(event, []byte(`{"ref":"refs/heads/feature/tracking","before":"`+before+`","after":"`+sha+`"}`), 0o644)
	env := map[string]string{"GITHUB_ACTIONS": "true", "GITHUB_EVENT_NAME": "push", "GITHUB_REF": "refs/heads/feature/tracking",
		"GITHUB_SHA": sha, "GITHUB_EVENT_PATH": event, "GITHUB_OUTPUT": out}
	r := runFerry(t, repo, env, "", "plan", "-o", "json")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, `"source": "github"`) || !strings.Contains(r.stdout, `"reason": "diff `) {
		t.Errorf("plan did not use the GitHub event:\n%s", r.stdout)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "plan/github-output.golden", string(data))

	// No affected service: an empty matrix and count=0, never a broken value.
	os.Remove(out)
	r = runFerry(t, repo, env, "", "plan", "--changed", "README.md")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	data, _ = os.ReadFile(out)
	if got := string(data); got != "count=0\nmatrix={\"include\":[]}\nservices=[]\n" {
		t.Errorf("GITHUB_OUTPUT = %q", got)
	}
}

// TestPlanOutputsSharded: the matrix ferry plan exports to GitHub is sharded like -o
// github-matrix, while count stays the number of services.
func TestPlanOutputsSharded(t *testing.T) {
	repo := exampleRepo(t)
	out := filepath.Join(t.TempDir(), "github_output")
	env := map[string]string{"GITHUB_ACTIONS": "true", "GITHUB_EVENT_NAME": "push", "GITHUB_REF": "refs/heads/feature/tracking",
		"GITHUB_SHA": strings.TrimSpace(gitOut(t, repo, "rev-parse", "HEAD")), "GITHUB_OUTPUT": out}
	r := runFerry(t, repo, env, "", "plan", "--changed", "go.mod", "--max-jobs", "2")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	data, _ := os.ReadFile(out)
	want := "count=5\n" +
		`matrix={"include":[{"service":"shard-1","services":"delivery package workflow","pipeline":"feature","version":"","stages":"build,test"},` +
		`{"service":"shard-2","services":"dronescheduler frontend","pipeline":"feature","version":"","stages":"build,test"}]}` + "\n" +
		`services=["delivery","package","workflow","dronescheduler","frontend"]` + "\n"
	if string(data) != want {
		t.Errorf("GITHUB_OUTPUT =\n%s\nwant\n%s", data, want)
	}
}

func TestPlanInAzurePipelines(t *testing.T) {
	repo := exampleRepo(t)
	env := map[string]string{"TF_BUILD": "True", "BUILD_REASON": "PullRequest", "BUILD_SOURCEBRANCH": "refs/pull/7/merge",
		"BUILD_SOURCEVERSION": strings.TrimSpace(gitOut(t, repo, "rev-parse", "HEAD")), "SYSTEM_PULLREQUEST_TARGETBRANCH": "refs/heads/main",
		"SYSTEM_PULLREQUEST_SOURCEBRANCH": "refs/heads/feature/tracking"}
	r := runFerry(t, repo, env, "", "plan", "-o", "azure-matrix")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	// The logging commands go to stderr, which the agent reads too, so that stdout stays JSON.
	golden(t, "plan/azure-pr.golden", "stderr:\n"+r.stderr+"stdout:\n"+r.stdout)
}

func gitOut(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git %v: %v", args, err)
	}
	return string(out)
}

func TestValidate(t *testing.T) {
	repo := exampleRepo(t)
	r := runFerry(t, repo, nil, "", "validate")
	if r.code != 0 || r.stdout != "ferry.yaml: ok (5 services, 3 triggers, 2 environments)\n" {
		t.Errorf("exit %d: %q %q", r.code, r.stdout, r.stderr)
	}
	os.WriteFile(filepath.Join(repo, "ferry.yaml"), []byte("version: 1\nservices:\n  a: {path: src/nosuch, buidl: x}\ntriggers: {}\n"), 0o644)
	r = runFerry(t, repo, nil, "", "validate")
	if r.code != 1 {
		t.Errorf("exit %d, want 1", r.code)
	}
	golden(t, "validate-errors.golden", r.stdout)
	r = runFerry(t, repo, nil, "", "plan")
	if r.code != 2 || !strings.Contains(r.stderr, "ferry.yaml:3:25: services.a: unknown key \"buidl\"") {
		t.Errorf("plan with a bad config: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestUsageErrors(t *testing.T) {
	repo := exampleRepo(t)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"plan", "--output", "yaml"}, `--output "yaml": expected one of: text, json, github-matrix, azure-matrix`},
		{[]string{"plan", "--nope"}, "unknown flag: --nope"},
		{[]string{"plan", "--event", "merge"}, `--event: unknown event "merge"`},
		{[]string{"plan", "--event", "pr"}, "pass --base"},
		{[]string{"plan", "--ref", "release/delivery/1.0"}, `version "1.0" is not a semantic version`},
		{[]string{"plan", "--ref", "release/nosuch/v1.0.0"}, `unknown service "nosuch"`},
		{[]string{"plan", "--changed", "a", "--changed-from", "-"}, "cannot be combined"},
		{[]string{"plan", "--config", "nosuch.yaml"}, "no config at nosuch.yaml"},
		{[]string{"run", "--jobs", "0"}, "--jobs must be at least 1"},
		{[]string{"plan", "--max-jobs", "0"}, "--max-jobs must be at least 1"},
		{[]string{"status", "nosuch"}, "run not found"},
		{[]string{"triggers", "eval", "--event", "push", "--ref", "main"}, "pass --azure FILE or --github FILE"},
		{[]string{"triggers", "eval", "--azure", "ferry.yaml", "--event", "bogus", "--ref", "main"}, `--event: unknown event "bogus"`},
		{[]string{"approve", "nosuch", "--env", "prod", "--as", "mallory@example.com"}, "run not found"},
		{[]string{"resume", "nosuch"}, "run not found"},
		{[]string{"logs", "nosuch"}, "run not found"},
		{[]string{"cancel", "nosuch"}, "run not found"},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			r := runFerry(t, repo, nil, "", tc.args...)
			if r.code != 2 || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", r.code, r.stderr, tc.want)
			}
		})
	}
}

func TestTriggersEval(t *testing.T) {
	dir := t.TempDir()
	azure := filepath.Join(dir, "azure-pipelines.yml")
	os.WriteFile(azure, []byte("trigger:\n  branches:\n    include: ['releases/*']\n    exclude: ['releases/old*']\n  paths:\n    include: [src]\n"), 0o644)
	gh := filepath.Join(dir, "ci.yml")
	os.WriteFile(gh, []byte("on:\n  pull_request:\n    branches: [main]\n    paths: ['**.go', '!docs/**']\n"), 0o644)
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--azure", azure, "--event", "push", "--ref", "refs/heads/releases/v2", "--changed", "src/app.go"}, 0, `{"triggered":true,`},
		{[]string{"--azure", azure, "--event", "push", "--ref", "refs/heads/releases/old-1", "--changed", "src/app.go"}, 0, `{"triggered":false,`},
		{[]string{"--azure", azure, "--event", "push", "--ref", "refs/heads/releases/v2", "--changed", "docs/a.md"}, 0, `{"triggered":false,`},
		{[]string{"--github", gh, "--event", "pr", "--ref", "main", "--changed", "cmd/x.go"}, 0, `{"triggered":true,`},
		{[]string{"--github", gh, "--event", "pull_request", "--ref", "develop", "--changed", "cmd/x.go"}, 0, `{"triggered":false,`},
		{[]string{"--github", gh, "--event", "push", "--ref", "main", "--changed", "cmd/x.go"}, 0, `{"triggered":false,`},
		{[]string{"--github", filepath.Join(dir, "nosuch.yml"), "--event", "push", "--ref", "main"}, 2, ""},
	}
	for _, tc := range cases {
		r := runFerry(t, dir, nil, "", append([]string{"triggers", "eval"}, tc.args...)...)
		if r.code != tc.code || !strings.HasPrefix(r.stdout, tc.want) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", tc.args, r.code, r.stdout, r.stderr)
		}
	}
	bad := filepath.Join(dir, "bad.yml")
	os.WriteFile(bad, []byte("on:\n  push:\n    branches: [main]\n    branches-ignore: [x]\n"), 0o644)
	r := runFerry(t, dir, nil, "", "triggers", "eval", "--github", bad, "--event", "push", "--ref", "main")
	if r.code != 1 || !strings.Contains(r.stderr, "bad.yml:4:5") {
		t.Errorf("invalid workflow: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestVersionAndHelp(t *testing.T) {
	dir := t.TempDir()
	if r := runFerry(t, dir, nil, "", "version"); r.code != 0 || !strings.HasPrefix(r.stdout, "ferry ") {
		t.Errorf("version: %+v", r)
	}
	r := runFerry(t, dir, nil, "", "--help")
	for _, cmd := range []string{"plan", "run", "resume", "approve", "triggers", "validate", "completion"} {
		if !strings.Contains(r.stdout, "\n  "+cmd) {
			t.Errorf("--help does not list %s", cmd)
		}
	}
	if !strings.Contains(r.stdout, "3    a run is waiting for an approval") {
		t.Errorf("--help does not document the exit codes")
	}
}

// TestCommandsDoNotSeeCredentials checks that build commands get neither Ferry's registry
// password nor the CI token unless the service lists them in passEnv, while the secrets the
// config names for builds (NPM_TOKEN) stay.
func TestCommandsDoNotSeeCredentials(t *testing.T) {
	repo := exampleRepo(t)
	cfgPath := filepath.Join(repo, "ferry.yaml")
	data, _ := os.ReadFile(cfgPath)
	text := strings.Replace(string(data), "build: go build -trimpath -buildvcs=false -o bin/delivery .",
		`build: 'test -z "$FERRY_REGISTRY_PASSWORD" && test -z "$SYSTEM_ACCESSTOKEN" && test -n "$GITHUB_TOKEN" && test -n "$NPM_TOKEN"'`+"\n    passEnv: [GITHUB_TOKEN]", 1)
	text = strings.Replace(text, "build: go build -trimpath -buildvcs=false -o bin/dronescheduler .",
		`build: 'test -z "$GITHUB_TOKEN" && test -z "$FERRY_REGISTRY_PASSWORD" && test -n "$NPM_TOKEN"'`, 1)
	text = strings.Replace(text, "scan:\n", "secrets: [NPM_TOKEN]\nscan:\n", 1)
	os.WriteFile(cfgPath, []byte(text), 0o644)
	gitIn(t, repo, "commit", "-qam", "builds that look for credentials")
	for k, v := range map[string]string{"FERRY_REGISTRY_PASSWORD": "s3cr3t-Pa55word", "GITHUB_TOKEN": "ghs_0123456789abcdef",
		"SYSTEM_ACCESSTOKEN": "azure-token-0123", "NPM_TOKEN": "npm_abcdefghij"} {
		t.Setenv(k, v) // the engine passes the process environment on, scrubbed
	}
	r := runFerry(t, repo, nil, "", "run", "--service", "delivery", "--service", "dronescheduler", "--stage", "build", "--no-progress", "--no-cache",
		"--changed", "src/shipping/common/common.go")
	if r.code != 0 {
		t.Fatalf("exit %d: a build saw a credential it should not (or missed one it asked for)\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}

// TestSecretsNeverReachLogsOrJournal runs a build that prints the registry password in every
// encoding and checks stdout, the stage log and the journal.
func TestSecretsNeverReachLogsOrJournal(t *testing.T) {
	repo := exampleRepo(t)
	const secret = "s3cr3t-Pa55word!"
	cfgPath := filepath.Join(repo, "ferry.yaml")
	data, _ := os.ReadFile(cfgPath)
	text := strings.Replace(string(data), "build: go build -trimpath -buildvcs=false -o bin/delivery .",
		`build: 'echo "raw $FERRY_REGISTRY_PASSWORD"; printf "%s" "user:$FERRY_REGISTRY_PASSWORD" | base64; printf "%s" "$NPM_TOKEN" | base64; echo "{\"p\":\"$FERRY_REGISTRY_PASSWORD\"}"; exit 1'`, 1)
	text = strings.Replace(text, "scan:\n", "secrets: [NPM_TOKEN]\nscan:\n", 1)
	// The build may see the registry password only because it asks for it.
	text = strings.Replace(text, "    env: {CGO_ENABLED: \"0\"}\n", "    env: {CGO_ENABLED: \"0\"}\n    passEnv: [FERRY_REGISTRY_PASSWORD]\n", 1)
	os.WriteFile(cfgPath, []byte(text), 0o644)
	gitIn(t, repo, "commit", "-qam", "leaky build")
	env := map[string]string{"FERRY_REGISTRY_PASSWORD": secret, "NPM_TOKEN": "npm_abcdefghij"}
	t.Setenv("FERRY_REGISTRY_PASSWORD", secret) // the engine passes the process environment to commands
	t.Setenv("NPM_TOKEN", "npm_abcdefghij")
	r := runFerry(t, repo, env, "", "run", "--service", "delivery", "--stage", "build", "--no-progress", "-v")
	if r.code != 1 {
		t.Fatalf("exit %d, want the build to fail\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, "raw ***") {
		t.Errorf("the masked line is missing from the output:\n%s", r.stdout)
	}
	var files []string
	filepath.WalkDir(filepath.Join(repo, ".ferry"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	// base64("user:"+secret) is dXNlcjpzM2NyM3QtUGE1NXdvcmQh: the secret's part is in the middle.
	forms := []string{secret, "M2NyM3QtUGE1NXdvcmQ", "npm_abcdefghij", "bnBtX2FiY2RlZmdoaWo"}
	for _, f := range append(files, "stdout", "stderr") {
		var content string
		switch f {
		case "stdout":
			content = r.stdout
		case "stderr":
			content = r.stderr
		default:
			b, _ := os.ReadFile(f)
			content = string(b)
		}
		for _, form := range forms {
			if strings.Contains(content, form) {
				t.Errorf("%s contains the secret form %q", f, form)
			}
		}
	}
	if len(files) < 3 {
		t.Errorf("expected the run's files under .ferry, found %v", files)
	}
	if n := strings.Count(r.stdout, "***"); n < 4 {
		t.Errorf("%d masked values in the output, want 4 (raw, base64 twice, JSON):\n%s", n, r.stdout)
	}
}

// TestDryRunTouchesNothing prints what every stage would do and writes no run.
func TestDryRunTouchesNothing(t *testing.T) {
	repo := exampleRepo(t)
	r := runFerry(t, repo, nil, "", "run", "--dry-run", "--ref", "release/delivery/v1.0.2", "--changed", "README.md")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	golden(t, "dry-run-release.golden", r.stdout)
	if _, err := os.Stat(filepath.Join(repo, ".ferry")); err == nil {
		t.Error("--dry-run created the run store")
	}
}

// TestGoModChangeRebuilds commits a change to the example's root go.mod: the plan must affect
// every service depending on it, naming the dependency, and the build must run again instead
// of reusing the result built with the old go.mod.
func TestGoModChangeRebuilds(t *testing.T) {
	repo := exampleRepo(t)
	build := []string{"run", "--service", "delivery", "--stage", "build", "--no-progress", "--changed", "src/shipping/delivery/main.go"}
	buildStage := func(label string) *pipeline.StageState {
		t.Helper()
		if r := runFerry(t, repo, nil, "", build...); r.code != 0 {
			t.Fatalf("%s: exit %d\n%s\n%s", label, r.code, r.stdout, r.stderr)
		}
		return runStatus(t, repo).Service("delivery").Stage("build")
	}
	first := buildStage("first build")
	if again := buildStage("same commit"); again.CachedFrom == "" {
		t.Fatalf("an unchanged commit rebuilt (%s: %s): the cache does not work here, so the check below proves nothing", again.Status, again.Reason)
	}

	before := strings.TrimSpace(gitOut(t, repo, "rev-parse", "HEAD"))
	f, err := os.OpenFile(filepath.Join(repo, "go.mod"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("\n// A new requirement would go here.\n")
	f.Close()
	gitIn(t, repo, "commit", "-qam", "change go.mod")

	r := runFerry(t, repo, nil, "", "plan", "-o", "json", "--before", before)
	if r.code != 0 {
		t.Fatalf("plan: exit %d: %s", r.code, r.stderr)
	}
	var plan struct {
		Services []struct {
			Name    string
			Reasons []string
		}
		Unaffected []struct{ Name, Reason string }
	}
	if err := json.Unmarshal([]byte(r.stdout), &plan); err != nil {
		t.Fatal(err)
	}
	affected := map[string]string{}
	for _, s := range plan.Services {
		affected[s.Name] = strings.Join(s.Reasons, "; ")
	}
	for _, name := range []string{"delivery", "package", "workflow", "dronescheduler", "frontend"} {
		if !strings.Contains(affected[name], "depends on go.mod (changed: go.mod)") {
			t.Errorf("%s: reasons %q, want the go.mod dependency", name, affected[name])
		}
	}
	if len(plan.Unaffected) != 0 {
		t.Errorf("unaffected = %+v, want none: every service depends on go.mod", plan.Unaffected)
	}

	after := buildStage("after go.mod changed")
	if after.CachedFrom != "" || after.Status != pipeline.Succeeded {
		t.Errorf("build after the go.mod change = %s (%s), cached from %q; want a real build (first run %s)",
			after.Status, after.Reason, after.CachedFrom, first.InputsDigest)
	}
	if after.InputsDigest == first.InputsDigest {
		t.Errorf("the inputs digest did not change with go.mod: %s", after.InputsDigest)
	}
}
