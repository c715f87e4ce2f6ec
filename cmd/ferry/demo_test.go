package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ferry-ci/ferry/internal/testenv"
)

// TestDemo runs examples/demo.sh, what `make demo` runs, with a ferry built from this tree and
// the pinned tools, and checks the story it tells: the feature push builds only the services
// of the shared library, the pull request's scan shows a finding, the release is cut, waits at
// prod's gate, is signed by two demo approvers, promoted and deployed, its record printed and
// its production image verified; and that it leaves nothing behind.
func TestDemo(t *testing.T) {
	for _, tool := range []string{"bash", "git", "docker-registry", "buildah", "openssl", "curl", "python3", "setsid", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Missing(t, "the demo needs %s on PATH", tool)
		}
	}
	lab := testenv.LabDir()
	for _, b := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "kwok-stages.yaml"} {
		if _, err := os.Stat(filepath.Join(lab, "bin", b)); err != nil {
			testenv.Missing(t, "the demo's cluster: %s not built (make k8s-cluster)", b)
		}
	}
	trivy, mkdb := testenv.Trivy(t), testenv.MkDB(t)

	ferry := filepath.Join(t.TempDir(), "ferry")
	build := exec.CommandContext(t.Context(), "go", "build", "-o", ferry, ".")
	build.Dir = filepath.Dir(testdata)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ferry: %v\n%s", err, out)
	}
	tmp := t.TempDir() // the demo's folder goes here, and must be gone afterwards
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(testdata, "..", "..", "..", "examples", "demo.sh"))
	cmd.Env = append(demoEnv(os.Environ()), "FERRY="+ferry, "FERRY_MKDB="+mkdb, "FERRY_TRIVY="+trivy, "K8S_LAB="+lab,
		"FERRY_TOOLS_DIR="+testenv.ToolsDir(), "FERRY_CACHE_DIR="+t.TempDir(), "TMPDIR="+tmp)
	outBytes, err := cmd.CombinedOutput()
	out := string(outBytes)
	if err != nil {
		t.Fatalf("demo.sh: %v\n%s", err, out)
	}

	for _, want := range []*regexp.Regexp{
		// 3. the feature push: the services that build with src/shipping/common, with the reason
		regexp.MustCompile(`(?m)^delivery +feature +- +build > test$`),
		regexp.MustCompile(`(?m)^dronescheduler +feature +- +build > test$`),
		regexp.MustCompile(`(?m)^dronescheduler:\n  - depends on src/shipping/common \(changed: src/shipping/common/common.go\)$`),
		// 4. the pull request: images by both builders, scans, and the finding
		regexp.MustCompile(`(?m)^dronescheduler +scan +succeeded .* passed \(0 critical, 1 high,`),
		regexp.MustCompile(`HIGH +FERRY-TEST-0001 +github.com/google/go-cmp +0.7.0 +no fix available`),
		// 5. the release: cut, pushed, through QA, waiting, signed, promoted, in production
		regexp.MustCompile(`(?m)^delivery v0.1.0 \(auto: minor\), the first release$`),
		regexp.MustCompile(`branch release/delivery/v0.1.0 created at [0-9a-f]{12}, pushed to origin`),
		regexp.MustCompile(`exit 3: run \S+ waits for prod's approval`),
		regexp.MustCompile(`QA runs the pushed image, pinned by digest: 127.0.0.1:\d+/shipping/delivery:0.1.0@sha256:[0-9a-f]{64}`),
		regexp.MustCompile(`(?m)^alice@example.com approved prod for run `),
		regexp.MustCompile(`(?m)^bob@example.com approved prod for run `),
		regexp.MustCompile(`prod runs the promoted image: 127.0.0.1:\d+/shipping/prod/delivery:0.1.0@sha256:[0-9a-f]{64}`),
		// 6. the release record and ferry verify
		regexp.MustCompile(`(?m)^release record of delivery 0.1.0$`),
		regexp.MustCompile(`(?m)^  prod +127.0.0.1:\d+/shipping/prod/delivery@sha256:[0-9a-f]{64} revision 1 \(same digest as pushed\) approved by alice@example.com, bob@example.com$`),
		regexp.MustCompile(`(?m)^0.1.0 +in production \(prod\)`),
		regexp.MustCompile(`(?m)^verified: every check held$`),
		regexp.MustCompile(`cleaning up: registry stopped; cluster stopped; \S+ removed`),
	} {
		if !want.MatchString(out) {
			t.Errorf("the demo's output lacks %s", want)
		}
	}
	for _, unwanted := range []string{"package         feature", "workflow        feature", "frontend        feature"} {
		if strings.Contains(out, unwanted) {
			t.Errorf("a service the change does not affect ran: %q", unwanted)
		}
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("the demo left %v in its temporary folder", left)
	}
	if t.Failed() {
		t.Logf("demo output:\n%s", out)
	}
}

// demoEnv is the environment without what would make the demo's ferry act as a CI job's, or
// reach for another cluster or cache.
func demoEnv(environ []string) []string {
	var out []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case name == "GITHUB_ACTIONS" || name == "TF_BUILD" || name == "KUBECONFIG" || name == "SSH_AUTH_SOCK",
			strings.HasPrefix(name, "GITHUB_"), strings.HasPrefix(name, "FERRY_"):
			continue
		}
		out = append(out, kv)
	}
	return out
}
