//go:build linux

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/ferry-ci/ferry/internal/registrytest"
	"github.com/ferry-ci/ferry/internal/testenv"
	"github.com/ferry-ci/ferry/pipeline"
	pev "github.com/ferry-ci/ferry/pipeline/evidence"
	"github.com/ferry-ci/ferry/stages/evidence"
)

// TestReleaseGateEndToEnd plays the whole release of the bundled example's delivery service
// the way a team runs it, every step a separate ferry process on its own "machine" (checkout
// and cache folder), sharing only the registry: a real distribution registry, behind a proxy
// that counts what is uploaded, and a real Kubernetes API.
//
//  1. rita, the release manager, cuts release/delivery/v1.0.2 and pushes it; CI runs the
//     release pipeline in its checkout: build (with a 50 MB file in the image), test, image,
//     scan, push, chart, deploy to QA; the run waits for prod's approval (exit 3).
//  2. On their laptops, in fresh clones: rita's own approval is refused (excludeRequester),
//     alice and bob sign theirs with their SSH keys (quorum 2).
//  3. A later CI job, in a fresh clone with an empty cache, resumes the run from the
//     registry-backed run store: promote, deploy prod.
//  4. ferry verify, from the registry alone, holds for the production image.
func TestReleaseGateEndToEnd(t *testing.T) {
	upstream := testenv.Registry(t)
	proxy := registrytest.NewProxy(t, upstream, registrytest.Faults{})
	reg := proxy.Host()
	kubeconfig := testenv.KubeconfigWithContexts(t, testenv.Cluster(t), "qa", "prod")
	suffix := fmt.Sprint(time.Now().UnixNano() % 1_000_000)
	qaNS, prodNS := "qa-e2e-"+suffix, "prod-e2e-"+suffix

	repo := scanReadyRepo(t)
	gitIn(t, repo, "checkout", "-q", "main")
	gitIn(t, repo, "cherry-pick", "feature/tracking") // the offline vulnerability DB
	ritaKey := gateE2EConfig(t, repo, reg, qaNS, prodNS)
	bare := filepath.Join(t.TempDir(), "shipping.git")
	gitOut(t, "", "clone", "-q", "--bare", repo, bare)
	gitIn(t, repo, "remote", "add", "origin", "file://"+bare)

	ferry := func(dir string, env map[string]string, args ...string) result {
		t.Helper()
		return ferryProcess(t, dir, env, args...)
	}
	machine := func(extra ...string) map[string]string {
		env := map[string]string{"FERRY_CACHE_DIR": t.TempDir(), "KUBECONFIG": kubeconfig, "HOME": t.TempDir()}
		for i := 0; i+1 < len(extra); i += 2 {
			env[extra[i]] = extra[i+1]
		}
		return env
	}
	// CI's evidence signing key, a secret of the CI jobs (not of the laptops).
	signing := strangerKey(t)
	ci := machine("FERRY_REQUESTER", "rita@example.com", "FERRY_SIGNING_KEY", signing)

	// 1. The cut, then CI's release run up to the gate.
	if r := ferry(repo, ci, "release", "cut", "delivery", "--version", "v1.0.2", "--push"); r.code != 0 {
		t.Fatalf("release cut: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	ciRepo := cloneAt(t, bare, "release/delivery/v1.0.2")
	r := ferry(ciRepo, ci, "run", "--no-progress")
	if r.code != exitWaiting || !strings.Contains(r.stdout, "ferry approve") {
		t.Fatalf("release run: exit %d, want %d (waiting)\n%s\n%s", r.code, exitWaiting, r.stdout, r.stderr)
	}
	run := processStatus(t, ciRepo, ci, "")
	d := run.Service("delivery")
	pushed, qa := d.Stage("push").Outputs.Push, d.Stage("deploy:qa").Outputs.Deploy
	if pushed == nil || qa == nil || qa.Namespace != qaNS {
		t.Fatalf("push = %+v, deploy:qa = %+v", pushed, qa)
	}
	if got, want := kubectlImage(t, kubeconfig, qaNS, "delivery"), reg+"/shipping/delivery:1.0.2@"+pushed.Digest; got != want {
		t.Errorf("QA runs %s, want %s", got, want)
	}
	if size := imageSize(t, pushed.Ref); size < 50<<20 {
		t.Fatalf("the pushed image is %d bytes, want ≥ 50 MB", size)
	}

	// 2. Approvals on laptops, from fresh clones that have no run locally.
	laptop := func() (string, map[string]string) { return cloneAt(t, bare, "main"), machine() }
	dir, env := laptop()
	r = ferry(dir, env, "approve", run.ID, "--env", "prod", "--key", ritaKey)
	if r.code != exitFailed || !strings.Contains(r.stderr, "rita@example.com started this run") || !strings.Contains(r.stderr, "excludeRequester") {
		t.Errorf("the requester's own approval: exit %d\n%s", r.code, r.stderr)
	}
	for _, who := range []string{"alice", "bob"} {
		dir, env := laptop()
		if r := ferry(dir, env, "approve", run.ID, "--env", "prod", "--key", demoKey(dir, who), "--comment", "QA looks good"); r.code != 0 {
			t.Fatalf("%s approves: exit %d\n%s%s", who, r.code, r.stdout, r.stderr)
		}
	}

	// 3. The production job: a fresh clone, an empty cache, the run from the registry.
	prodRepo, prodEnv := cloneAt(t, bare, "release/delivery/v1.0.2"), machine("FERRY_SIGNING_KEY", signing)
	proxy.Reset()
	if r := ferry(prodRepo, prodEnv, "resume", run.ID, "--no-progress"); r.code != 0 {
		t.Fatalf("resume: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	moved := proxy.Stats()

	done := processStatus(t, prodRepo, prodEnv, run.ID)
	d = done.Service("delivery")
	promoted, prod := d.Stage("promote:prod").Outputs.Promote, d.Stage("deploy:prod").Outputs.Deploy
	if promoted == nil || prod == nil {
		t.Fatalf("promote:prod = %+v, deploy:prod = %+v (status %s)", promoted, prod, done.Status())
	}
	prodImage := reg + "/shipping/prod/delivery@" + pushed.Digest
	if promoted.Digest != pushed.Digest || promoted.Ref != prodImage {
		t.Errorf("promoted %s (%s), want the QA digest %s", promoted.Ref, promoted.Digest, pushed.Digest)
	}
	if prod.Namespace != prodNS || prod.Image != prodImage {
		t.Errorf("deploy:prod = %+v, want %s in %s", prod, prodImage, prodNS)
	}
	if got, want := kubectlImage(t, kubeconfig, prodNS, "delivery"), reg+"/shipping/prod/delivery:1.0.2@"+pushed.Digest; got != want {
		t.Errorf("the prod Deployment runs %s, want %s", got, want)
	}
	checkPromotionBytes(t, moved, prodImage)
	checkReleaseRecord(t, prodRepo, prodEnv, run.ID, pushed.Digest)

	// 4. From the registry alone, pinned by the trunk's ferry.yaml and CI's signing key.
	pub, _ := os.ReadFile(signing + ".pub")
	evidenceSigners := filepath.Join(t.TempDir(), "evidence_signers")
	os.WriteFile(evidenceSigners, []byte("ci@example.com "+string(pub)), 0o644)
	r = ferry(t.TempDir(), nil, "verify", prodImage, "--env", "prod", "--config", filepath.Join(repo, "ferry.yaml"), "--evidence-signers", evidenceSigners)
	t.Logf("ferry verify:\n%s", r.stdout)
	if r.code != 0 || !strings.Contains(r.stdout, "verified: every check held") {
		t.Errorf("verify: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, "alice@example.com") || !strings.Contains(r.stdout, "bob@example.com") {
		t.Errorf("verify does not name the approvers:\n%s", r.stdout)
	}
}

// gateE2EConfig points the example (checked out on main) at reg with a registry-backed run
// store and namespaces of the test's own, asks prod for two signed approvals of which the
// requester's may not be one, adds rita (the release manager) to the allowed signers and a
// 50 MB file to delivery's image, and commits. It returns rita's key file.
func gateE2EConfig(t *testing.T, repo, reg, qaNS, prodNS string) string {
	t.Helper()
	cfgPath := filepath.Join(repo, "ferry.yaml")
	data, _ := os.ReadFile(cfgPath)
	text := regexp.MustCompile(`(?m)^registry: \S+`).ReplaceAllString(string(data), "registry: "+reg+"/shipping\nstate: oci://"+reg+"/ferry/runs")
	text = regexp.MustCompile(`namespace: backend-qa\b`).ReplaceAllString(text, "namespace: "+qaNS)
	text = regexp.MustCompile(`namespace: backend,`).ReplaceAllString(text, "namespace: "+prodNS+", createNamespace: true,")
	text = regexp.MustCompile(`approval: \{[^}]*\}`).ReplaceAllString(text,
		"approval: {allowedSigners: deploy/allowed_signers, minApprovals: 2, excludeRequester: true}")
	text = regexp.MustCompile(`(build: go build -trimpath -buildvcs=false -o bin/delivery \.)`).ReplaceAllString(text,
		"$1 && head -c 52428800 /dev/urandom > bin/ballast")
	for _, want := range []string{"state: oci://", qaNS, prodNS, "excludeRequester: true", "bin/ballast"} {
		if !strings.Contains(text, want) {
			t.Fatalf("the example changed (no %q after the edits): update this test", want)
		}
	}
	os.WriteFile(cfgPath, []byte(text), 0o644)
	dockerfile := filepath.Join(repo, "src/shipping/delivery/Dockerfile")
	df, _ := os.ReadFile(dockerfile)
	os.WriteFile(dockerfile, []byte(strings.Replace(string(df), "COPY bin/delivery /delivery", "COPY bin/delivery /delivery\nCOPY bin/ballast /ballast", 1)), 0o644)
	key := strangerKey(t)
	pub, _ := os.ReadFile(key + ".pub")
	f, _ := os.OpenFile(filepath.Join(repo, "deploy", "allowed_signers"), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("rita@example.com " + string(pub))
	f.Close()
	gitIn(t, repo, "add", "-A")
	gitIn(t, repo, "commit", "-qm", "release test: a registry-backed run store, quorum 2 without the requester, a 50 MB image")
	return key
}

// checkPromotionBytes: the image reached prod by blob mounts and one manifest (≤ 2 KB); the
// only blob bytes uploaded to the prod repository are the approvals evidence (the scan report
// and the provenance are mounted with the image); nothing of the image's 50 MB was uploaded
// anywhere by the production job.
func checkPromotionBytes(t *testing.T, s registrytest.Stats, prodImage string) {
	t.Helper()
	subject, err := name.NewDigest(prodImage)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Get(subject)
	if err != nil {
		t.Fatal(err)
	}
	var approvals int64
	for _, desc := range referrersOf(t, subject) {
		if desc.ArtifactType != pev.ApprovalsType {
			continue
		}
		m, err := remote.Get(subject.Context().Digest(desc.Digest))
		if err != nil {
			t.Fatal(err)
		}
		mf, err := v1.ParseManifest(bytes.NewReader(m.Manifest))
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range append(mf.Layers, mf.Config) { // the payload, its signature
			approvals += s.Uploaded[l.Digest.String()]
		}
	}
	repo := "shipping/prod/delivery"
	t.Logf("the production job uploaded %d blob bytes (%d to %s, of which %d the approvals evidence) and %d manifest bytes (%d to %s; image manifest %d), mounted %d blobs, %d requests",
		s.BlobBytes, s.BlobBytesTo[repo], repo, approvals, s.ManifestBytes, s.ManifestBytesTo[repo], repo, len(img.Manifest), len(s.Mounted), s.Requests)
	if s.BlobBytesTo[repo] != approvals {
		t.Errorf("%d blob bytes uploaded to %s; only the approvals evidence (%d bytes) is new there", s.BlobBytesTo[repo], repo, approvals)
	}
	if imageCopy := int64(len(img.Manifest)) + s.BlobBytesTo[repo] - approvals; imageCopy > 2048 {
		t.Errorf("the image's copy moved %d bytes, want ≤ 2 KB", imageCopy)
	}
	if s.BlobBytes > 1<<20 {
		t.Errorf("the production job uploaded %d blob bytes in all: a layer was copied", s.BlobBytes)
	}
	var types []string
	for _, desc := range referrersOf(t, subject) {
		types = append(types, desc.ArtifactType)
	}
	for _, want := range []string{pev.ScanType, pev.ProvenanceType, pev.ApprovalsType} {
		if !slices.Contains(types, want) {
			t.Errorf("prod image referrers %v lack %s", types, want)
		}
	}
}

func referrersOf(t *testing.T, subject name.Digest) []evidenceDescriptor {
	t.Helper()
	descs, err := evidence.Referrers(t.Context(), subject, nil)
	if err != nil {
		t.Fatalf("referrers of %s: %v", subject, err)
	}
	out := make([]evidenceDescriptor, len(descs))
	for i, d := range descs {
		out[i] = evidenceDescriptor{ArtifactType: d.ArtifactType, Digest: d.Digest.String()}
	}
	return out
}

type evidenceDescriptor struct{ ArtifactType, Digest string }

// checkReleaseRecord: ferry status -o json links commit → image digest → scan verdict → QA
// revision → approvals → prod digest → prod revision.
func checkReleaseRecord(t *testing.T, dir string, env map[string]string, id, digest string) {
	t.Helper()
	r := ferryProcess(t, dir, env, "status", id, "-o", "json")
	var status struct {
		Release map[string]json.RawMessage `json:"release"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &status); err != nil || status.Release["delivery"] == nil {
		t.Fatalf("status: %v\n%s", err, r.stdout)
	}
	rec := string(status.Release["delivery"])
	for _, want := range []string{`"commit":"`, `"digest":"` + digest + `"`, `"name":"qa"`, `"name":"prod"`, `"sameDigest":true`,
		"alice@example.com", "bob@example.com"} {
		if !strings.Contains(strings.ReplaceAll(rec, " ", ""), strings.ReplaceAll(want, " ", "")) {
			t.Errorf("release record lacks %s:\n%s", want, rec)
		}
	}
	if strings.Contains(rec, `"commit":""`) {
		t.Errorf("release record has no commit:\n%s", rec)
	}
}

// processStatus is ferry status of run id (the newest run when id is "") as a process sees it.
func processStatus(t *testing.T, dir string, env map[string]string, id string) *pipeline.Run {
	t.Helper()
	if id == "" {
		r := ferryProcess(t, dir, env, "runs", "-o", "json")
		var list []struct{ ID string }
		if err := json.Unmarshal([]byte(r.stdout), &list); err != nil || len(list) == 0 {
			t.Fatalf("runs: %v %q %s", err, r.stdout, r.stderr)
		}
		id = list[0].ID
	}
	r := ferryProcess(t, dir, env, "status", id, "-o", "json")
	run := &pipeline.Run{}
	if err := json.Unmarshal([]byte(r.stdout), run); err != nil {
		t.Fatalf("status: %v\n%s%s", err, r.stdout, r.stderr)
	}
	return run
}

// cloneAt clones the remote's branch into a new folder, as a CI checkout or a laptop would
// (the whole history: the gate reads the trunk and the release's authors). Demo keys are made
// private again: git does not keep modes.
func cloneAt(t *testing.T, remoteDir, branch string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "checkout")
	gitOut(t, "", "clone", "-q", "--branch", branch, "file://"+remoteDir, dir)
	keys, _ := filepath.Glob(filepath.Join(dir, "deploy", "demo-keys", "*"))
	for _, k := range keys {
		if !strings.HasSuffix(k, ".pub") && !strings.HasSuffix(k, ".md") {
			os.Chmod(k, 0o600)
		}
	}
	return dir
}

// imageSize is the sum of an image's layer sizes.
func imageSize(t *testing.T, ref string) int64 {
	t.Helper()
	img, err := remote.Image(mustRef(t, ref))
	if err != nil {
		t.Fatal(err)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, l := range m.Layers {
		n += l.Size
	}
	return n
}

// TestRunWait: `ferry run --wait`, as its own process, keeps polling at prod's gate instead of
// exiting with code 3, and goes on to promote when an approval arrives from another process.
func TestRunWait(t *testing.T) {
	reg := testenv.Registry(t)
	repo, _ := gateRepo(t, "{allowedSigners: deploy/allowed_signers, minApprovals: 1}")
	gitIn(t, repo, "checkout", "-q", "-b", "release/delivery/v1.0.2")
	env := map[string]string{"FERRY_CACHE_DIR": t.TempDir()}
	done := make(chan result, 1)
	go func() {
		done <- ferryProcess(t, repo, env, "run", "--registry", reg+"/shipping", "--no-progress", "--wait", "--poll-interval", "50ms", "--timeout", "5m")
	}()
	var id string
	for id == "" {
		select {
		case r := <-done:
			t.Fatalf("run --wait ended before an approval: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		case <-time.After(100 * time.Millisecond):
		}
		r := runFerry(t, repo, env, "", "runs", "-o", "json")
		var list []struct{ ID, Status string }
		if json.Unmarshal([]byte(r.stdout), &list) == nil && len(list) == 1 && list[0].Status == string(pipeline.Waiting) {
			id = list[0].ID
		}
	}
	if r := ferryProcess(t, repo, env, "approve", id, "--env", "prod", "--key", demoKey(repo, "alice")); r.code != 0 {
		t.Fatalf("approve: exit %d\n%s", r.code, r.stderr)
	}
	r := <-done
	if r.code != 0 || !strings.Contains(r.stderr+r.stdout, "polling for decisions") {
		t.Fatalf("run --wait: exit %d, want 0 after polling\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if !prodTagExists(reg, "1.0.2") {
		t.Error("run --wait ended without promoting")
	}
}
