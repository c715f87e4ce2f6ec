package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// These tests plan on depth-1 clones of a real remote, the checkout GitHub Actions and Azure
// Pipelines give, and check that a plan covers every commit of the push.

// planDoc is the part of plan -o json these tests read.
type planDoc struct {
	Services []struct {
		Name string `json:"name"`
	} `json:"services"`
	Changes struct {
		All     bool   `json:"all"`
		Reason  string `json:"reason"`
		Fetches []struct {
			Command string `json:"command"`
			Error   string `json:"error"`
		} `json:"fetches"`
	} `json:"changes"`
}

func (p planDoc) names() []string {
	var out []string
	for _, s := range p.Services {
		out = append(out, s.Name)
	}
	slices.Sort(out)
	return out
}

func planJSONIn(t *testing.T, dir string, env map[string]string, args ...string) planDoc {
	t.Helper()
	r := runFerry(t, dir, env, "", append([]string{"plan", "-o", "json"}, args...)...)
	if r.code != 0 {
		t.Fatalf("plan: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	var doc planDoc
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("plan -o json: %v\n%s", err, r.stdout)
	}
	return doc
}

// remoteExample is the example as a remote that serves any commit (as GitHub does), with a
// trigger for pushes to main.
func remoteExample(t *testing.T) string {
	t.Helper()
	origin := exampleRepo(t)
	gitIn(t, origin, "checkout", "-q", "main")
	cfg := filepath.Join(origin, "ferry.yaml")
	data, _ := os.ReadFile(cfg)
	text := strings.Replace(string(data), "triggers:", "triggers:\n  main: {branches: {include: [main]}, stages: [build]}", 1)
	os.WriteFile(cfg, []byte(text), 0o644)
	gitIn(t, origin, "commit", "-qam", "build pushes to main")
	gitIn(t, origin, "config", "uploadpack.allowAnySHA1InWant", "true")
	return origin
}

// commitTo commits a change to a file of the remote's main and returns the commit.
func commitTo(t *testing.T, origin, file string) string {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(origin, file), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "\n// changed\n")
	f.Close()
	gitIn(t, origin, "commit", "-qam", "change "+file)
	return strings.TrimSpace(gitOut(t, origin, "rev-parse", "HEAD"))
}

func shallowClone(t *testing.T, origin, branch string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "checkout")
	gitIn(t, "", "clone", "-q", "--depth", "1", "--branch", branch, "file://"+origin, dir)
	return dir
}

func TestShallowGitHubPushPlansEveryCommit(t *testing.T) {
	origin := remoteExample(t)
	before := strings.TrimSpace(gitOut(t, origin, "rev-parse", "HEAD"))
	commitTo(t, origin, "src/shipping/delivery/main.go")
	after := commitTo(t, origin, "src/web/frontend/main.go")
	checkout := shallowClone(t, origin, "main")
	payload := filepath.Join(t.TempDir(), "event.json")
	os.WriteFile(payload, fmt.Appendf(nil, `{"ref":"refs/heads/main","before":%q,"after":%q}`, before, after), 0o644)
	env := map[string]string{"GITHUB_ACTIONS": "true", "GITHUB_EVENT_NAME": "push", "GITHUB_REF": "refs/heads/main",
		"GITHUB_SHA": after, "GITHUB_EVENT_PATH": payload}

	doc := planJSONIn(t, checkout, env)
	if got := doc.names(); !slices.Equal(got, []string{"delivery", "frontend"}) {
		t.Errorf("planned %v, want delivery and frontend (%s)", got, doc.Changes.Reason)
	}
	if len(doc.Changes.Fetches) != 1 || !strings.Contains(doc.Changes.Fetches[0].Command, "--depth=1 origin "+before[:7]) {
		t.Errorf("fetches = %+v, want the before commit with --depth=1", doc.Changes.Fetches)
	}

	// With fetching off the push may hold any commits: every service, with the reason.
	doc = planJSONIn(t, shallowClone(t, origin, "main"), env, "--no-fetch")
	if !doc.Changes.All || len(doc.Services) != 5 || !strings.Contains(doc.Changes.Reason, "--no-fetch") {
		t.Errorf("--no-fetch: all=%v %v (%s)", doc.Changes.All, doc.names(), doc.Changes.Reason)
	}
}

// TestPushWithoutBeforePlansEveryCommit pushes two commits to main (delivery, then frontend)
// where the CI system does not say what the push replaced: Azure Pipelines and GitHub's
// workflow_dispatch. The plan must start from the last commit Ferry ran for main (run store),
// else from Azure's last successful build (REST API), else cover every service.
func TestPushWithoutBeforePlansEveryCommit(t *testing.T) {
	origin := remoteExample(t)
	first := strings.TrimSpace(gitOut(t, origin, "rev-parse", "HEAD"))
	state := t.TempDir()
	azure := func(sha string) map[string]string {
		return map[string]string{"TF_BUILD": "True", "BUILD_REASON": "IndividualCI", "BUILD_SOURCEBRANCH": "refs/heads/main",
			"BUILD_SOURCEVERSION": sha, "FERRY_CACHE_DIR": t.TempDir()}
	}
	r := runFerry(t, shallowClone(t, origin, "main"), azure(first), "", "run", "--state", state, "--no-progress")
	if r.code != 0 {
		t.Fatalf("first run: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	commitTo(t, origin, "src/shipping/delivery/main.go")
	after := commitTo(t, origin, "src/web/frontend/main.go")
	want := []string{"delivery", "frontend"}

	t.Run("azure, from the run store", func(t *testing.T) {
		doc := planJSONIn(t, shallowClone(t, origin, "main"), azure(after), "--state", state)
		if got := doc.names(); !slices.Equal(got, want) || !strings.Contains(doc.Changes.Reason, "the run store") {
			t.Errorf("planned %v, want %v (%s)", got, want, doc.Changes.Reason)
		}
	})
	t.Run("github workflow_dispatch, from the run store", func(t *testing.T) {
		env := map[string]string{"GITHUB_ACTIONS": "true", "GITHUB_EVENT_NAME": "workflow_dispatch",
			"GITHUB_REF": "refs/heads/main", "GITHUB_SHA": after}
		doc := planJSONIn(t, shallowClone(t, origin, "main"), env, "--state", state)
		if got := doc.names(); !slices.Equal(got, want) {
			t.Errorf("planned %v, want %v (%s)", got, want, doc.Changes.Reason)
		}
	})
	t.Run("azure, from the REST API", func(t *testing.T) {
		api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			q := r.URL.Query()
			if r.Header.Get("Authorization") != "Bearer s3cret-token" || r.URL.Path != "/org/proj/_apis/build/builds" ||
				q.Get("definitions") != "12" || q.Get("branchName") != "refs/heads/main" || q.Get("resultFilter") != "succeeded" {
				http.Error(w, "bad request "+r.URL.String(), http.StatusBadRequest)
				return
			}
			fmt.Fprintf(w, `{"count":1,"value":[{"id":99,"buildNumber":"20261202.1","sourceVersion":%q,"result":"succeeded"}]}`, first)
		}))
		defer api.Close()
		env := azure(after)
		env["SYSTEM_COLLECTIONURI"], env["SYSTEM_TEAMPROJECT"], env["SYSTEM_DEFINITIONID"] = api.URL+"/org/", "proj", "12"
		env["SYSTEM_ACCESSTOKEN"] = "s3cret-token"
		doc := planJSONIn(t, shallowClone(t, origin, "main"), env, "--state", t.TempDir())
		if got := doc.names(); !slices.Equal(got, want) || !strings.Contains(doc.Changes.Reason, "build 20261202.1") {
			t.Errorf("planned %v, want %v (%s)", got, want, doc.Changes.Reason)
		}
		if strings.Contains(doc.Changes.Reason, "s3cret-token") {
			t.Errorf("the reason holds the token: %s", doc.Changes.Reason)
		}
	})
	t.Run("azure, nothing known", func(t *testing.T) {
		doc := planJSONIn(t, shallowClone(t, origin, "main"), azure(after), "--state", t.TempDir())
		if !doc.Changes.All || len(doc.Services) != 5 || !strings.Contains(doc.Changes.Reason, "SYSTEM_ACCESSTOKEN") {
			t.Errorf("all=%v %v (%s)", doc.Changes.All, doc.names(), doc.Changes.Reason)
		}
	})
}

// TestConfigLocation puts the example in a folder of a larger repository: ferry.yaml is found
// by walking up, --config resolves the config's paths against its folder, and changed paths
// may be given from the git root or from the config's folder.
func TestConfigLocation(t *testing.T) {
	example := exampleRepo(t)
	root := t.TempDir()
	mono := filepath.Join(root, "mono")
	if err := os.CopyFS(mono, os.DirFS(example)); err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(filepath.Join(mono, ".git"))
	gitIn(t, root, "init", "-q", "-b", "main")
	gitIn(t, root, "add", "-A")
	gitIn(t, root, "commit", "-qm", "init")

	if r := runFerry(t, filepath.Join(mono, "src", "web"), nil, "", "validate"); r.code != 0 || !strings.Contains(r.stdout, "ok (5 services") {
		t.Errorf("validate from a subfolder: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := runFerry(t, root, nil, "", "validate", "--config", "mono/ferry.yaml"); r.code != 0 {
		t.Errorf("validate --config mono/ferry.yaml: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := runFerry(t, root, nil, "", "validate"); r.code != exitUsage || !strings.Contains(r.stderr, "no ferry.yaml in "+root) {
		t.Errorf("validate with no ferry.yaml up to the git root: exit %d %s", r.code, r.stderr)
	}
	for _, changed := range []string{"mono/src/web/frontend/main.go", "src/web/frontend/main.go", "./src/web//frontend/x/../main.go"} {
		doc := planJSONIn(t, root, nil, "--config", "mono/ferry.yaml", "--ref", "feature/x", "--changed", changed)
		if got := doc.names(); !slices.Equal(got, []string{"frontend"}) {
			t.Errorf("--changed %s planned %v", changed, got)
		}
	}
	r := runFerry(t, root, nil, "", "plan", "--config", "mono/ferry.yaml", "--ref", "feature/x", "--changed", "../x")
	if r.code != exitUsage || !strings.Contains(r.stderr, `"../x" leaves the repository`) {
		t.Errorf("--changed ../x: exit %d %s", r.code, r.stderr)
	}
}
