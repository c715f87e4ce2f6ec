package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/ferry-ci/ferry/internal/pinned"
	"github.com/ferry-ci/ferry/internal/testenv"
	"github.com/ferry-ci/ferry/pipeline"
)

// scanReadyRepo is the example repository with the pinned Trivy and the offline fixture DB
// wired into ferry.yaml (committed, so the work tree stays clean for the cache).
func scanReadyRepo(t *testing.T) string {
	t.Helper()
	trivy := testenv.Trivy(t)
	db := testenv.FixtureDB(t, testenv.FixtureDBYAML(t), "")
	repo := exampleRepo(t)
	cfgPath := filepath.Join(repo, "ferry.yaml")
	data, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(data), "trivy: {offline: true}",
		"trivy: {offline: true, path: "+trivy+", cacheDir: "+db+"}", 1)
	if text == string(data) {
		t.Fatal("the example's scan settings changed: update this test")
	}
	if err := os.WriteFile(cfgPath, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	gitIn(t, repo, "commit", "-qam", "test: offline vulnerability DB")
	return repo
}

func gitIn(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=Ferry", "GIT_AUTHOR_EMAIL=ferry@example.com",
		"GIT_COMMITTER_NAME=Ferry", "GIT_COMMITTER_EMAIL=ferry@example.com", "GIT_CONFIG_NOSYSTEM=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
}

func runStatus(t *testing.T, repo string) *pipeline.Run {
	t.Helper()
	return runStatusOn(t, repo, nil)
}

// runStatusOn is the newest run as ferry status shows it with the given environment.
func runStatusOn(t *testing.T, repo string, env map[string]string) *pipeline.Run {
	t.Helper()
	r := runFerry(t, repo, env, "", "runs", "-o", "json")
	var list []struct{ ID string }
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil || len(list) == 0 {
		t.Fatalf("runs: %v %q", err, r.stdout)
	}
	r = runFerry(t, repo, env, "", "status", list[0].ID, "-o", "json")
	run := &pipeline.Run{}
	if err := json.Unmarshal([]byte(r.stdout), run); err != nil {
		t.Fatalf("status: %v\n%s", err, r.stdout)
	}
	return run
}

// TestExamplePullRequestPipeline runs the bundled example's PR pipeline (build, test, image,
// scan) with the real builders and the pinned Trivy.
func TestExamplePullRequestPipeline(t *testing.T) {
	repo := scanReadyRepo(t)
	r := runFerry(t, repo, nil, "", "run", "--event", "pr", "--base", "main", "--no-progress")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	run := runStatus(t, repo)
	// The shared library changed: delivery and dronescheduler build with it. delivery's
	// Dockerfile has no RUN (the native builder), dronescheduler's has one (buildah).
	for svc, builder := range map[string]string{"delivery": "native", "dronescheduler": "buildah"} {
		s := run.Service(svc)
		if s == nil || s.Status() != pipeline.Succeeded {
			t.Fatalf("%s: %+v", svc, s)
		}
		img, scan := s.Stage("image").Outputs.Image, s.Stage("scan").Outputs.Scan
		if img == nil || !strings.HasPrefix(img.Digest, "sha256:") || img.Builder != builder {
			t.Errorf("%s image = %+v, want built by %s", svc, img, builder)
		}
		if scan == nil || !scan.Passed || scan.Scanner != "trivy "+strings.TrimPrefix(pinned.TrivyVersion(), "v") {
			t.Errorf("%s scan = %+v", svc, scan)
		}
	}
	for _, svc := range []string{"package", "workflow", "frontend"} {
		if run.Service(svc) != nil {
			t.Errorf("%s is not affected by a change to src/shipping/common", svc)
		}
	}
	// dronescheduler links go-cmp, which the fixture DB flags without a fix: the scan passes
	// (ignoreUnfixed), the run's summary counts the finding and the scan's log names it.
	if !regexp.MustCompile(`dronescheduler +scan +succeeded .* passed \(0 critical, 1 high,`).MatchString(r.stdout) {
		t.Errorf("the run's summary does not count dronescheduler's finding:\n%s", r.stdout)
	}
	log := runFerry(t, repo, nil, "", "logs", run.ID, "--service", "dronescheduler", "--stage", "scan")
	if !strings.Contains(log.stdout, "Ignored by policy (1)") || !strings.Contains(log.stdout, "FERRY-TEST-0001") {
		t.Errorf("dronescheduler's scan log lacks the ignored finding:\n%s", log.stdout)
	}
	finally, err := os.ReadFile(filepath.Join(repo, ".ferry", "runs", run.ID, "logs", "finally.log"))
	if want := "run " + run.ID + " ended: succeeded"; err != nil || !strings.Contains(string(finally), want) {
		t.Errorf("finally.log = %q (%v), want %q", finally, err, want)
	}
}

// TestExampleReleaseUpToPush runs release/delivery/v1.0.2 up to push against a real
// registry, then checks that releases are immutable and that a re-run repeats nothing.
func TestExampleReleaseUpToPush(t *testing.T) {
	reg := testenv.Registry(t)
	repo := scanReadyRepo(t)
	gitIn(t, repo, "checkout", "-q", "-b", "release/delivery/v1.0.2")
	release := []string{"run", "--until", "push", "--registry", reg + "/shipping", "--no-progress"}
	r := runFerry(t, repo, nil, "", release...)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	run := runStatus(t, repo)
	d := run.Service("delivery")
	pushed := d.Stage("push").Outputs.Push
	img := d.Stage("image").Outputs.Image
	if pushed == nil || img == nil || pushed.Digest != img.Digest {
		t.Fatalf("push = %+v, image = %+v: the pushed digest must be the scanned image's", pushed, img)
	}
	if want := reg + "/shipping/delivery@" + img.Digest; pushed.Ref != want {
		t.Errorf("ref = %s, want %s", pushed.Ref, want)
	}
	commit := run.Event.After
	for _, tag := range []string{"1.0.2", commit} {
		desc, err := remote.Head(mustRef(t, reg+"/shipping/delivery:"+tag))
		if err != nil || desc.Digest.String() != img.Digest {
			t.Errorf("tag %s: %v %v, want %s", tag, desc, err, img.Digest)
		}
	}
	if len(d.Stages) != 5 {
		t.Errorf("--until push ran %d stages", len(d.Stages))
	}

	// The same commit again: build, test, image and scan come from the cache and the push
	// finds the image already there.
	r = runFerry(t, repo, nil, "", release...)
	if r.code != 0 {
		t.Fatalf("re-run: exit %d\n%s", r.code, r.stderr)
	}
	again := runStatus(t, repo).Service("delivery")
	for _, st := range []string{"build", "test", "image", "scan"} {
		if s := again.Stage(pipeline.StageID(st)); s.CachedFrom != run.ID {
			t.Errorf("re-run %s = %s (%s), want cached from %s", st, s.Status, s.Reason, run.ID)
		}
	}
	if p := again.Stage("push").Outputs.Push; p == nil || p.Digest != img.Digest {
		t.Errorf("re-run push = %+v", p)
	}

	// A new commit on the release branch builds another image: the release tag must not move.
	os.WriteFile(filepath.Join(repo, "src/shipping/delivery/main.go"),
		[]byte("package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"delivery v2\") }\n"), 0o644)
	gitIn(t, repo, "commit", "-qam", "delivery: change")
	r = runFerry(t, repo, nil, "", release...)
	if r.code != 1 || !strings.Contains(r.stdout, "releases are immutable") {
		t.Fatalf("moving a release tag: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	desc, err := remote.Head(mustRef(t, reg+"/shipping/delivery:1.0.2"))
	if err != nil || desc.Digest.String() != img.Digest {
		t.Errorf("1.0.2 moved to %v (%v)", desc, err)
	}
	r = runFerry(t, repo, nil, "", append(release, "--force")...)
	if r.code != 0 {
		t.Fatalf("--force: exit %d\n%s", r.code, r.stderr)
	}
	moved := runStatus(t, repo).Service("delivery").Stage("push").Outputs.Push
	desc, err = remote.Head(mustRef(t, reg+"/shipping/delivery:1.0.2"))
	if err != nil || moved == nil || desc.Digest.String() != moved.Digest || moved.Digest == img.Digest {
		t.Errorf("--force did not move 1.0.2: %v %v %+v", desc, err, moved)
	}
}

// TestExampleScanGateFails adds a service whose binary links a vulnerable golang.org/x/text:
// the PR pipeline fails at scan, with the finding in the journal and exit code 1.
func TestExampleScanGateFails(t *testing.T) {
	repo := scanReadyRepo(t)
	app := filepath.Join(repo, "src/legacy")
	if err := os.CopyFS(app, os.DirFS(filepath.Join(testdata, "../../../stages/scan/testdata/vulnapp"))); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(app, "Dockerfile"), []byte("FROM scratch\nCOPY bin/legacy /legacy\nENTRYPOINT [\"/legacy\"]\n"), 0o644)
	cfgPath := filepath.Join(repo, "ferry.yaml")
	data, _ := os.ReadFile(cfgPath)
	text := strings.Replace(string(data), "  frontend:\n", "  legacy:\n    path: src/legacy\n"+
		"    build: go build -trimpath -o bin/legacy .\n    env: {CGO_ENABLED: \"0\"}\n    image: {}\n  frontend:\n", 1)
	os.WriteFile(cfgPath, []byte(text), 0o644)
	gitIn(t, repo, "add", "-A")
	gitIn(t, repo, "commit", "-qm", "add legacy")
	r := runFerry(t, repo, nil, "", "run", "--event", "pr", "--base", "main", "--service", "legacy", "--no-progress")
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	s := runStatus(t, repo).Service("legacy").Stage("scan")
	if s.Status != pipeline.Failed || !strings.Contains(s.Reason, "CVE-2021-38561") || s.Outputs.Scan == nil || s.Outputs.Scan.Passed {
		t.Errorf("scan = %s %q %+v", s.Status, s.Reason, s.Outputs.Scan)
	}
	if s.Attempts != 1 {
		t.Errorf("a policy failure was retried: %d attempts", s.Attempts)
	}
}

func mustRef(t *testing.T, s string) name.Reference {
	t.Helper()
	ref, err := name.ParseReference(s)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

// TestReleaseApprovalAcrossMachines keeps the run in the registry (state: oci://...), stops it
// at the prod approval on one "machine", approves and resumes it on another (its own cache
// folder), and checks that prod holds the very digest that was pushed.
func TestReleaseApprovalAcrossMachines(t *testing.T) {
	reg := testenv.Registry(t)
	repo := exampleRepo(t)
	cfgPath := filepath.Join(repo, "ferry.yaml")
	data, _ := os.ReadFile(cfgPath)
	text := strings.Replace(string(data), "registry: 127.0.0.1:5000/shipping", "registry: "+reg+"/shipping\nstate: oci://"+reg+"/ferry/runs", 1)
	text = strings.Replace(text, "stages: [build, test, image, scan, push, chart, deploy]}", "stages: [build, test, image, push, promote]}", 1)
	if text == string(data) {
		t.Fatal("the example changed: update this test")
	}
	os.WriteFile(cfgPath, []byte(text), 0o644)
	gitIn(t, repo, "commit", "-qam", "promote without deploy, runs in the registry")
	gitIn(t, repo, "checkout", "-q", "-b", "release/delivery/v1.0.2")
	machineA := map[string]string{"FERRY_CACHE_DIR": t.TempDir()}
	machineB := map[string]string{"FERRY_CACHE_DIR": t.TempDir()}

	r := runFerry(t, repo, machineA, "", "run", "--no-progress")
	if r.code != exitWaiting || !strings.Contains(r.stdout, "ferry approve") {
		t.Fatalf("run: exit %d, want %d (waiting)\n%s\n%s", r.code, exitWaiting, r.stdout, r.stderr)
	}
	os.RemoveAll(filepath.Join(repo, ".ferry")) // nothing local: the run lives in the registry

	run := runStatusOn(t, repo, machineB)
	if run.Status() != pipeline.Waiting {
		t.Fatalf("machine B sees the run %s", run.Status())
	}
	r = runFerry(t, repo, machineB, "", "approve", run.ID, "--env", "prod", "--key", strangerKey(t))
	if r.code != exitFailed || !strings.Contains(r.stderr, "not in the allowed signers of prod") {
		t.Errorf("a stranger's approval: exit %d %q", r.code, r.stderr)
	}
	r = runFerry(t, repo, machineB, "", "approve", run.ID, "--env", "prod", "--key", demoKey(repo, "alice"))
	if r.code != 0 {
		t.Fatalf("alice's approval: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	r = runFerry(t, repo, machineB, "", "approve", run.ID, "--env", "prod", "--key", demoKey(repo, "bob"), "--resume", "--no-progress")
	if r.code != 0 {
		t.Fatalf("bob's approve --resume (quorum 2): exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}

	done := runStatusOn(t, repo, machineA).Service("delivery")
	pushed, promoted := done.Stage("push").Outputs.Push, done.Stage("promote:prod").Outputs.Promote
	if pushed == nil || promoted == nil || promoted.Digest != pushed.Digest {
		t.Fatalf("push %+v, promote %+v: prod must get the pushed digest", pushed, promoted)
	}
	if a := done.Stage("approve:prod").Outputs.Approve; a == nil || strings.Join(a.By, ",") != "alice@example.com,bob@example.com" {
		t.Errorf("approve outputs = %+v", a)
	}
	desc, err := remote.Head(mustRef(t, reg+"/shipping/prod/delivery:1.0.2"))
	if err != nil || desc.Digest.String() != pushed.Digest {
		t.Errorf("prod tag = %v %v, want %s", desc, err, pushed.Digest)
	}
	if len(promoted.Evidence) != 2 {
		t.Errorf("prod evidence = %v, want the provenance and the approvals", promoted.Evidence)
	}

	// From the registry alone, pinned by the trunk's ferry.yaml: provenance, approvals and the
	// promoted digest hold; this pipeline has no scan stage, so the scan check fails.
	r = runFerry(t, t.TempDir(), nil, "", "verify", promoted.Ref, "--env", "prod", "--config", cfgPath)
	for _, want := range []string{"provenance held", "approvals  held", "prod approved by alice@example.com, bob@example.com in run " + run.ID + " (policy and signers pinned by --config",
		"promotion  held", "scan       FAILED  no scan report attached", "not verified: 1 of 4 checks failed"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("verify lacks %q:\n%s", want, r.stdout)
		}
	}
	if r.code != exitFailed {
		t.Errorf("verify: exit %d, want %d", r.code, exitFailed)
	}
}

// TestExampleReleaseThroughQA runs the example's release pipeline for release/delivery/v1.0.2
// through deploy:qa against a real registry and a real Kubernetes API: the chart lands at
// REGISTRY/helm/delivery:1.0.2 for the pushed image's digest, the QA Deployment runs that digest,
// the run waits for prod's approval, and a re-run of the same commit pushes nothing.
func TestExampleReleaseThroughQA(t *testing.T) {
	reg := testenv.Registry(t)
	kubeconfig := testenv.KubeconfigWithContexts(t, testenv.Cluster(t), "qa", "prod")
	repo := scanReadyRepo(t)
	ns := fmt.Sprintf("qa-%d", time.Now().UnixNano()%1_000_000)
	cfgPath := filepath.Join(repo, "ferry.yaml")
	data, _ := os.ReadFile(cfgPath)
	prodNS := "prod-" + ns[3:]
	text := strings.Replace(string(data), "namespace: backend-qa,", "namespace: "+ns+",", 1)
	text = strings.Replace(text, "namespace: backend, registryNamespace: prod,", "namespace: "+prodNS+", registryNamespace: prod, createNamespace: true,", 1)
	if text == string(data) || !strings.Contains(text, prodNS) {
		t.Fatal("the example changed: update this test")
	}
	os.WriteFile(cfgPath, []byte(text), 0o644)
	gitIn(t, repo, "commit", "-qam", "qa in a namespace of its own")
	gitIn(t, repo, "checkout", "-q", "-b", "release/delivery/v1.0.2")
	env := map[string]string{"KUBECONFIG": kubeconfig}
	release := []string{"run", "--registry", reg + "/shipping", "--no-progress", "--until", "deploy:qa"}
	r := runFerry(t, repo, env, "", release...)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	d := runStatus(t, repo).Service("delivery")
	pushed, chart, qa := d.Stage("push").Outputs.Push, d.Stage("chart").Outputs.Chart, d.Stage("deploy:qa").Outputs.Deploy
	if pushed == nil || chart == nil || qa == nil {
		t.Fatalf("push = %+v, chart = %+v, deploy:qa = %+v", pushed, chart, qa)
	}
	if chart.Image != pushed.Ref || chart.Version != "1.0.2" || chart.AppVersion != "1.0.2" || chart.Tag != "1.0.2" ||
		chart.Name != "delivery" || chart.Ref != reg+"/shipping/helm/delivery@"+chart.Digest {
		t.Errorf("chart = %+v, pushed image %s", chart, pushed.Ref)
	}
	if qa.Namespace != ns || qa.Revision != 1 || qa.Chart != chart.Digest || qa.Image != pushed.Ref {
		t.Errorf("deploy:qa = %+v", qa)
	}
	image := kubectlImage(t, kubeconfig, ns, "delivery")
	if want := reg + "/shipping/delivery:1.0.2@" + pushed.Digest; image != want {
		t.Errorf("QA Deployment runs %s, want %s (pinned by digest)", image, want)
	}
	desc, err := remote.Get(mustRef(t, reg+"/shipping/helm/delivery:1.0.2"))
	if err != nil || desc.Digest.String() != chart.Digest {
		t.Fatalf("chart tag: %v %v, want %s", desc, err, chart.Digest)
	}
	if !strings.Contains(string(desc.Manifest), `"ferry.dev/content-digest":"`+chart.ContentDigest+`"`) {
		t.Errorf("manifest lacks the content digest %s:\n%s", chart.ContentDigest, desc.Manifest)
	}

	r = runFerry(t, repo, env, "", release...)
	if r.code != 0 {
		t.Fatalf("re-run: exit %d\n%s", r.code, r.stderr)
	}
	again := runStatus(t, repo).Service("delivery").Stage("chart")
	if again.Outputs.Chart == nil || *again.Outputs.Chart != *chart {
		t.Errorf("re-run chart = %+v, want %+v", again.Outputs.Chart, chart)
	}
	log := runFerry(t, repo, nil, "", "logs", runStatus(t, repo).ID, "--service", "delivery", "--stage", "chart")
	if !strings.Contains(log.stdout, "already pushed: nothing to do") {
		t.Errorf("re-run chart log:\n%s", log.stdout)
	}

	// The whole pipeline: it waits for prod's approval, then promotes the digest and deploys the
	// promoted image to prod's namespace.
	full := []string{"run", "--registry", reg + "/shipping", "--no-progress"}
	if r = runFerry(t, repo, env, "", full...); r.code != exitWaiting {
		t.Fatalf("full release: exit %d, want %d (waiting)\n%s\n%s", r.code, exitWaiting, r.stdout, r.stderr)
	}
	id := runStatus(t, repo).ID
	if r = runFerry(t, repo, env, "", "approve", id, "--env", "prod", "--key", demoKey(repo, "alice")); r.code != 0 {
		t.Fatalf("alice's approval: exit %d\n%s", r.code, r.stderr)
	}
	r = runFerry(t, repo, env, "", "approve", id, "--env", "prod", "--key", demoKey(repo, "bob"), "--resume", "--no-progress")
	if r.code != 0 {
		t.Fatalf("approve --resume: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	prod := runStatus(t, repo).Service("delivery").Stage("deploy:prod").Outputs.Deploy
	if want := reg + "/shipping/prod/delivery@" + pushed.Digest; prod == nil || prod.Namespace != prodNS || prod.Image != want {
		t.Errorf("deploy:prod = %+v, want the promoted image %s in %s", prod, want, prodNS)
	}
	if got, want := kubectlImage(t, kubeconfig, prodNS, "delivery"), reg+"/shipping/prod/delivery:1.0.2@"+pushed.Digest; got != want {
		t.Errorf("prod Deployment runs %s, want %s", got, want)
	}

	// ferry history and ferry rollback on QA, which has three revisions by now.
	var revs []struct {
		Revision int    `json:"revision"`
		Status   string `json:"status"`
		Run      string `json:"run"`
	}
	r = runFerry(t, repo, env, "", "history", "delivery", "--env", "qa", "-o", "json")
	if err := json.Unmarshal([]byte(r.stdout), &revs); r.code != 0 || err != nil || len(revs) != 3 || revs[2].Status != "deployed" || revs[2].Run != id {
		t.Fatalf("history: exit %d %v %+v\n%s", r.code, err, revs, r.stderr)
	}
	r = runFerry(t, repo, env, "", "rollback", "delivery", "--env", "qa", "--revision", "1", "-o", "json")
	if err := json.Unmarshal([]byte(r.stdout), &revs); r.code != 0 || err != nil || len(revs) != 1 || revs[0].Revision != 4 || revs[0].Status != "deployed" {
		t.Fatalf("rollback: exit %d %v %+v\n%s", r.code, err, revs, r.stderr)
	}
	if r = runFerry(t, repo, env, "", "history", "delivery", "--env", "staging"); r.code != exitUsage || !strings.Contains(r.stderr, "no such environment") {
		t.Errorf("history of an unknown environment: exit %d %s", r.code, r.stderr)
	}
}

// kubectlImage reads a Deployment's first container image with client-go, as kubectl get
// deploy -o yaml shows it.
func kubectlImage(t *testing.T, kubeconfig, ns, name string) string {
	t.Helper()
	rest, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	kube, err := kubernetes.NewForConfig(rest)
	if err != nil {
		t.Fatal(err)
	}
	d, err := kube.AppsV1().Deployments(ns).Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("deployment %s/%s: %v", ns, name, err)
	}
	return d.Spec.Template.Spec.Containers[0].Image
}

// TestDeployCrashBeforeJournal SIGKILLs ferry after Helm deployed QA but before the journal
// says so. Resume must find the revision this run made (its release labels) and not deploy
// again.
func TestDeployCrashBeforeJournal(t *testing.T) {
	reg := testenv.Registry(t)
	kubeconfig := testenv.KubeconfigWithContexts(t, testenv.Cluster(t), "qa", "prod")
	repo := scanReadyRepo(t)
	ns := fmt.Sprintf("crash-%d", time.Now().UnixNano()%1_000_000)
	cfgPath := filepath.Join(repo, "ferry.yaml")
	data, _ := os.ReadFile(cfgPath)
	text := strings.Replace(string(data), "namespace: backend-qa,", "namespace: "+ns+",", 1)
	os.WriteFile(cfgPath, []byte(text), 0o644)
	gitIn(t, repo, "commit", "-qam", "qa in a namespace of its own")
	gitIn(t, repo, "checkout", "-q", "-b", "release/delivery/v1.0.2")

	cmd := exec.Command(os.Args[0], "run", "--registry", reg+"/shipping", "--no-progress", "--until", "deploy:qa")
	cmd.Dir = repo
	cmd.Env = append(os.Environ(), asFerry+"=1", killBeforeSucceeded+"=deploy:qa", "KUBECONFIG="+kubeconfig)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != -1 {
		t.Fatalf("ferry was not killed: %v\n%s", err, out)
	}
	run := runStatus(t, repo)
	if st := run.Service("delivery").Stage("deploy:qa"); st.Status == pipeline.Succeeded {
		t.Fatalf("the journal already has deploy:qa succeeded: the kill came too late")
	}
	env := map[string]string{"KUBECONFIG": kubeconfig}
	var revs []struct {
		Revision int    `json:"revision"`
		Run      string `json:"run"`
	}
	r := runFerry(t, repo, env, "", "history", "delivery", "--env", "qa", "-o", "json")
	if json.Unmarshal([]byte(r.stdout), &revs); len(revs) != 1 || revs[0].Run != run.ID {
		t.Fatalf("before resume: history %+v (%s)", revs, r.stderr)
	}

	r = runFerry(t, repo, env, "", "resume", run.ID, "--no-progress")
	if r.code != 0 {
		t.Fatalf("resume: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if d := runStatus(t, repo).Service("delivery").Stage("deploy:qa").Outputs.Deploy; d == nil || d.Revision != 1 {
		t.Errorf("deploy:qa after resume = %+v, want revision 1", d)
	}
	log := runFerry(t, repo, nil, "", "logs", run.ID, "--service", "delivery", "--stage", "deploy:qa")
	if !strings.Contains(log.stdout, "revision 1 of delivery in "+ns+" is this run's deploy: nothing to do") {
		t.Errorf("resume's deploy log:\n%s", log.stdout)
	}
	r = runFerry(t, repo, env, "", "history", "delivery", "--env", "qa", "-o", "json")
	if json.Unmarshal([]byte(r.stdout), &revs); len(revs) != 1 {
		t.Errorf("resume deployed again: %+v", revs)
	}
}

// TestReleaseHoldBeforeEnvironment runs a release the way the generated CI files do: the
// pipeline job stops before prod with --stop-before-env (exit 0, status pending), and the
// prod job approves and resumes the same run to the end.
func TestReleaseHoldBeforeEnvironment(t *testing.T) {
	reg := testenv.Registry(t)
	repo := exampleRepo(t)
	cfgPath := filepath.Join(repo, "ferry.yaml")
	data, _ := os.ReadFile(cfgPath)
	text := strings.Replace(string(data), "registry: 127.0.0.1:5000/shipping", "registry: "+reg+"/shipping", 1)
	text = strings.Replace(text, "stages: [build, test, image, scan, push, chart, deploy]}", "stages: [build, test, image, push, promote]}", 1)
	if text == string(data) {
		t.Fatal("the example changed: update this test")
	}
	os.WriteFile(cfgPath, []byte(text), 0o644)
	gitIn(t, repo, "commit", "-qam", "promote without deploy")
	gitIn(t, repo, "checkout", "-q", "-b", "release/delivery/v1.0.2")

	r := runFerry(t, repo, nil, "", "run", "--no-progress", "--stop-before-env", "nosuch")
	if r.code != exitUsage || !strings.Contains(r.stderr, "no such environment (environments: qa, prod)") {
		t.Errorf("unknown environment: exit %d %q", r.code, r.stderr)
	}
	r = runFerry(t, repo, nil, "", "run", "--no-progress", "--stop-before-env", "prod")
	if r.code != 0 || !strings.Contains(r.stderr, "holds before environment prod") {
		t.Fatalf("run: exit %d, want 0 (held)\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	run := runStatusOn(t, repo, nil)
	svc := run.Service("delivery")
	if run.Status() != pipeline.Pending || svc.Stage("push").Status != pipeline.Succeeded || svc.Stage("approve:prod").Status != pipeline.Pending {
		t.Fatalf("held run: %s, push %s, approve:prod %s", run.Status(), svc.Stage("push").Status, svc.Stage("approve:prod").Status)
	}
	for _, who := range []string{"alice", "bob"} {
		if r = runFerry(t, repo, nil, "", "approve", run.ID, "--env", "prod", "--key", demoKey(repo, who)); r.code != 0 {
			t.Fatalf("%s's approval: exit %d %s", who, r.code, r.stderr)
		}
	}
	r = runFerry(t, repo, nil, "", "resume", run.ID, "--no-progress")
	if r.code != 0 {
		t.Fatalf("resume: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if done := runStatusOn(t, repo, nil); done.Status() != pipeline.Succeeded {
		t.Errorf("after the prod job: %s", done.Status())
	}
}

// demoKey is the example's demo approval key of name (alice, bob, carol), committed for the demo.
func demoKey(repo, name string) string { return filepath.Join(repo, "deploy", "demo-keys", name) }

// strangerKey is an SSH key no allowed_signers file lists.
func strangerKey(t *testing.T) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "id_ed25519")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", file).CombinedOutput(); err != nil {
		testenv.Missing(t, "ssh-keygen: %v %s", err, out)
	}
	return file
}

// TestSignedApprovals runs the example's release to prod's gate, with quorum 2: alice's and
// bob's demo keys pass it; a rejection ends it; and a release branch that adds a signer to its
// own allowed_signers is refused, whoever signs.
func TestSignedApprovals(t *testing.T) {
	reg := testenv.Registry(t)
	repo := exampleRepo(t)
	gitIn(t, repo, "checkout", "-q", "main")
	cfgPath := filepath.Join(repo, "ferry.yaml")
	data, _ := os.ReadFile(cfgPath)
	text := strings.Replace(string(data), "stages: [build, test, image, scan, push, chart, deploy]}", "stages: [build, test, image, push, promote]}", 1)
	if !strings.Contains(text, "approval: {allowedSigners: deploy/allowed_signers, minApprovals: 2}") || !strings.Contains(text, "promote]}") {
		t.Fatal("the example changed: update this test")
	}
	os.WriteFile(cfgPath, []byte(text), 0o644)
	gitIn(t, repo, "commit", "-qam", "promote only")
	run := func(branch string) string {
		t.Helper()
		gitIn(t, repo, "checkout", "-q", "-B", branch, "main")
		r := runFerry(t, repo, nil, "", "run", "--registry", reg+"/shipping", "--no-progress")
		if r.code != exitWaiting {
			t.Fatalf("%s: exit %d, want %d\n%s\n%s", branch, r.code, exitWaiting, r.stdout, r.stderr)
		}
		return runStatus(t, repo).ID
	}

	id := run("release/delivery/v1.0.2")
	if r := runFerry(t, repo, nil, "", "approve", id, "--env", "prod", "--as", "alice@example.com"); r.code != exitUsage || !strings.Contains(r.stderr, "your key says who you are") {
		t.Errorf("--as on a signed gate: exit %d %s", r.code, r.stderr)
	}
	if r := runFerry(t, repo, nil, "", "approve", id, "--env", "prod", "--key", demoKey(repo, "alice"), "--resume", "--no-progress"); r.code != exitWaiting {
		t.Fatalf("one of two approvals: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if r := runFerry(t, repo, nil, "", "approve", id, "--env", "prod", "--key", demoKey(repo, "bob"), "--resume", "--no-progress"); r.code != 0 {
		t.Fatalf("two of two: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if by := runStatus(t, repo).Service("delivery").Stage("approve:prod").Outputs.Approve; by == nil || strings.Join(by.By, ",") != "alice@example.com,bob@example.com" {
		t.Errorf("approved by %+v", by)
	}

	id = run("release/delivery/v1.0.3")
	if r := runFerry(t, repo, nil, "", "reject", id, "--env", "prod", "--key", demoKey(repo, "bob"), "--comment", "not on a Friday"); r.code != 0 {
		t.Fatalf("reject: exit %d %s", r.code, r.stderr)
	}
	if r := runFerry(t, repo, nil, "", "resume", id, "--no-progress"); r.code != exitFailed || !strings.Contains(r.stdout, "rejected prod") {
		t.Errorf("resume after a rejection: exit %d\n%s", r.code, r.stdout)
	}

	// A release branch that lets a stranger sign.
	stranger := strangerKey(t)
	pub, _ := os.ReadFile(stranger + ".pub")
	gitIn(t, repo, "checkout", "-q", "-B", "release/delivery/v1.0.4", "main")
	f, _ := os.OpenFile(filepath.Join(repo, "deploy", "allowed_signers"), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("mallory@example.com " + string(pub))
	f.Close()
	gitIn(t, repo, "commit", "-qam", "let mallory approve")
	r := runFerry(t, repo, nil, "", "run", "--registry", reg+"/shipping", "--no-progress")
	if r.code != exitFailed || !strings.Contains(r.stdout, "differs from main's") {
		t.Errorf("a branch with its own signers: exit %d\n%s", r.code, r.stdout)
	}
	id = runStatus(t, repo).ID
	if r := runFerry(t, repo, nil, "", "approve", id, "--env", "prod", "--key", stranger); r.code != exitFailed || !strings.Contains(r.stderr, "differs from main's") {
		t.Errorf("mallory approving her own branch: exit %d %s", r.code, r.stderr)
	}
}
