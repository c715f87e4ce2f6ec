package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-ci/ferry/internal/evidencetest"
	"github.com/ferry-ci/ferry/internal/registrytest"
	pev "github.com/ferry-ci/ferry/pipeline/evidence"
	"github.com/ferry-ci/ferry/stages/promote"
)

// TestVerifyCommand runs ferry verify on a promoted image (exit 0, every check held), with
// the approvals pinned by an allowed_signers file and by a checkout's ferry.yaml, as JSON, and
// on the pushed image that never passed the gate (exit 1, the approvals line says why).
func TestVerifyCommand(t *testing.T) {
	reg := registrytest.InMemory(t)
	r := evidencetest.Push(t, reg, evidencetest.Options{Report: evidencetest.CleanReport, Passed: true})
	j := r.PromoteJob(t, false)
	if err := (&promote.Stage{Signers: r.Signers}).Run(t.Context(), j); err != nil {
		t.Fatalf("promote: %v\n%s", err, j.Log)
	}
	prod := reg + "/shipping/prod/delivery@" + r.Image.String()
	dir := t.TempDir()

	res := runFerry(t, dir, nil, "", "verify", prod, "--env", "prod")
	if res.code != 0 || !strings.Contains(res.stdout, "verified: every check held") ||
		!strings.Contains(res.stdout, "signers and policy taken from the evidence: not pinned") {
		t.Fatalf("exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	for _, line := range []string{"provenance held", "scan       held", "approvals  held", "promotion  held"} {
		if !strings.Contains(res.stdout, "\n  "+line+"    ") {
			t.Errorf("no %q line:\n%s", line, res.stdout)
		}
	}

	signers := filepath.Join(dir, "allowed_signers")
	os.WriteFile(signers, []byte(r.AllowedText), 0o644)
	res = runFerry(t, dir, nil, "", "verify", prod, "--allowed-signers", signers, "-o", "json")
	var out pev.Result
	if err := json.Unmarshal([]byte(res.stdout), &out); err != nil || res.code != 0 || !out.OK || len(out.Checks) != 4 {
		t.Fatalf("json: exit %d %v\n%s%s", res.code, err, res.stdout, res.stderr)
	}
	if !strings.Contains(out.Checks[2].Detail, "signers pinned by --allowed-signers "+signers+", policy from the evidence") {
		t.Errorf("approvals = %+v", out.Checks[2])
	}

	// A trunk whose policy one approval meets: the example's, with quorum 1.
	repo := exampleRepo(t)
	os.WriteFile(filepath.Join(repo, "deploy/allowed_signers"), []byte(r.AllowedText), 0o644)
	cfgPath := filepath.Join(repo, "ferry.yaml")
	cfg, _ := os.ReadFile(cfgPath)
	quorum1 := strings.Replace(string(cfg), "minApprovals: 2", "minApprovals: 1", 1)
	if quorum1 == string(cfg) {
		t.Fatal("the example's prod quorum changed: update this test")
	}
	os.WriteFile(cfgPath, []byte(quorum1), 0o644)
	res = runFerry(t, dir, nil, "", "verify", prod, "--env", "prod", "--config", cfgPath)
	if res.code != 0 || !strings.Contains(res.stdout, "policy and signers pinned by --config") {
		t.Errorf("--config: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	// The example's own policy asks for two approvals: it does not accept Alice's alone.
	os.WriteFile(cfgPath, cfg, 0o644)
	res = runFerry(t, dir, nil, "", "verify", prod, "--env", "prod", "--config", cfgPath)
	if res.code != exitFailed || !strings.Contains(res.stdout, "approvals  FAILED  1 of 2 approvals for prod") {
		t.Errorf("minApprovals 2: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}

	res = runFerry(t, dir, nil, "", "verify", r.Pushed)
	if res.code != exitFailed || !strings.Contains(res.stdout, "approvals  FAILED  no approvals attached to "+r.Image.String()+": the image did not pass an approval gate") ||
		!strings.Contains(res.stdout, "not verified: 1 of 4 checks failed") {
		t.Errorf("the QA image: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}

	for _, args := range [][]string{{"verify", reg + "/shipping/prod/delivery:1.0.2"}, {"verify", prod, "--config", "ferry.yaml"}, {"verify", prod, "--allowed-signers", "missing"}} {
		if res := runFerry(t, dir, nil, "", args...); res.code != exitUsage {
			t.Errorf("%v: exit %d, want %d\n%s", args, res.code, exitUsage, res.stderr)
		}
	}
}
