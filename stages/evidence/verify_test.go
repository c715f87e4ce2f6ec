package evidence_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/crypto/ssh"

	"github.com/ferry-ci/ferry/internal/evidencetest"
	"github.com/ferry-ci/ferry/internal/registrytest"
	"github.com/ferry-ci/ferry/internal/testenv"
	"github.com/ferry-ci/ferry/pipeline/approval"
	pev "github.com/ferry-ci/ferry/pipeline/evidence"
	"github.com/ferry-ci/ferry/stages/evidence"
	"github.com/ferry-ci/ferry/stages/promote"
	"github.com/ferry-ci/ferry/stages/scan"
)

// promoted pushes a release with o and promotes it (approved by Alice), returning the prod
// image.
func promoted(t *testing.T, reg string, o evidencetest.Options) (*evidencetest.Release, name.Digest) {
	t.Helper()
	r := evidencetest.Push(t, reg, o)
	j := r.PromoteJob(t, false)
	st := &promote.Stage{Signers: r.Signers}
	if o.Signer != nil {
		st.Signer = func() (ssh.Signer, error) { return o.Signer, nil }
	}
	if err := st.Run(t.Context(), j); err != nil {
		t.Fatalf("promote: %v\n%s", err, j.Log)
	}
	return r, prodRef(t, reg, r)
}

func prodRef(t *testing.T, reg string, r *evidencetest.Release) name.Digest {
	t.Helper()
	d, err := name.NewDigest(reg + "/shipping/prod/delivery@" + r.Image.String())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func verify(t *testing.T, image name.Digest, trust pev.Trust) pev.Result {
	t.Helper()
	res, err := evidence.VerifyImage(t.Context(), image, nil, pev.VerifyOptions{Env: "prod", Trust: trust, Judge: scan.Judge})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func check(res pev.Result, name string) pev.Check {
	for _, c := range res.Checks {
		if c.Name == name {
			return c
		}
	}
	return pev.Check{}
}

func TestVerifyPromotedImage(t *testing.T) {
	reg := registrytest.InMemory(t)
	r, image := promoted(t, reg, evidencetest.Options{Report: evidencetest.CleanReport, Passed: true})

	res := verify(t, image, pev.Trust{})
	if !res.OK {
		t.Fatalf("a promoted image fails: %+v", res)
	}
	want := map[string]string{
		pev.CheckProvenance: "run " + evidencetest.RunID + " built " + reg + "/shipping/delivery from refs/heads/release/delivery/v1.0.2",
		pev.CheckScan:       "trivy 0.74.0 passed under failOn HIGH",
		pev.CheckApprovals:  "prod approved by alice@example.com in run " + evidencetest.RunID + " (signers and policy taken from the evidence: not pinned)",
		pev.CheckPromotion:  reg + "/shipping/delivery holds " + r.Image.String(),
	}
	for n, w := range want {
		if c := check(res, n); !c.Held || !strings.Contains(c.Detail, w) {
			t.Errorf("%s = %+v, want held and %q", n, c, w)
		}
	}
	pinned := verify(t, image, pev.Trust{AllowedSigners: r.Allowed, PinnedBy: "--allowed-signers deploy/allowed_signers"})
	if c := check(pinned, pev.CheckApprovals); !pinned.OK || !strings.Contains(c.Detail, "signers pinned by --allowed-signers deploy/allowed_signers") {
		t.Errorf("pinned = %+v", pinned)
	}
	// Pinned to signers that do not hold Alice's key (the evidence could have brought its own).
	other, _ := approval.ParseAllowedSigners("x", []byte(evidencetest.AllowedLine("alice@example.com", r.Mallory)+"\n"))
	res = verify(t, image, pev.Trust{AllowedSigners: other, PinnedBy: "--allowed-signers x"})
	if c := check(res, pev.CheckApprovals); res.OK || !strings.Contains(c.Detail, "key not in the allowed signers") {
		t.Errorf("other signers: %+v", c)
	}
}

// TestVerifyFails: each way an image can fall short fails verify with a line saying which.
func TestVerifyFails(t *testing.T) {
	tests := []struct {
		name  string
		image func(t *testing.T, reg string) name.Digest
		check string
		want  string
	}{
		{"skipped the gate", func(t *testing.T, reg string) name.Digest {
			r := evidencetest.Push(t, reg, evidencetest.Options{Report: evidencetest.CleanReport, Passed: true})
			return copyWithout(t, reg, r, nil)
		}, pev.CheckApprovals, "no approvals attached to sha256:"},
		{"tampered approval", func(t *testing.T, reg string) name.Digest {
			r := evidencetest.Push(t, reg, evidencetest.Options{Report: evidencetest.CleanReport, Passed: true})
			a := r.Approval(t, r.Alice, "alice@example.com", r.Image.String(), r.Chart.Digest)
			stmt := strings.Replace(string(a.Statement), `"comment":"ok"`, `"comment":"OK"`, 1)
			art, err := pev.ApprovalsArtifact(pev.Approvals{Run: evidencetest.RunID, Service: "delivery", Env: "prod", Image: r.Image.String(),
				Chart: r.Chart.Digest, AllowedSigners: r.AllowedText, By: []string{"alice@example.com"},
				Policy:    pev.Policy{Signed: true, MinApprovals: 1},
				Approvals: []pev.SignedApproval{{By: "alice@example.com", Statement: stmt, Signature: a.Signature}}})
			if err != nil {
				t.Fatal(err)
			}
			return copyWithout(t, reg, r, &art)
		}, pev.CheckApprovals, "approval signature does not verify"},
		{"missing provenance", func(t *testing.T, reg string) name.Digest {
			_, image := promoted(t, reg, evidencetest.Options{NoProvenance: true})
			return image
		}, pev.CheckProvenance, "no provenance attached to sha256:"},
		{"failed scan", func(t *testing.T, reg string) name.Digest {
			// The gate's verdict says passed; the report, judged again under the recorded policy, does not.
			_, image := promoted(t, reg, evidencetest.Options{Report: evidencetest.VulnerableReport, Passed: true})
			return image
		}, pev.CheckScan, "failed under failOn HIGH at 2026-12-02T09:00:00Z: HIGH CVE-2021-38561 in golang.org/x/text 0.3.6"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := verify(t, tt.image(t, registrytest.InMemory(t)), pev.Trust{})
			c := check(res, tt.check)
			if res.OK || c.Held || !strings.Contains(c.Detail, tt.want) {
				t.Errorf("%s = %+v, want failed with %q\n%+v", tt.check, c, tt.want, res)
			}
		})
	}
}

// copyWithout copies the image and its push-time evidence to prod as someone who bypassed the
// gate would, attaching art (a forged approvals artifact) when given.
func copyWithout(t *testing.T, reg string, r *evidencetest.Release, art *pev.Artifact) name.Digest {
	t.Helper()
	src, _ := name.NewDigest(r.Pushed)
	dst := prodRef(t, reg, r)
	if _, err := evidence.Copy(t.Context(), src, dst.Context(), nil); err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Get(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Push(dst, desc); err != nil {
		t.Fatal(err)
	}
	if art != nil {
		if _, _, err := evidence.Attach(t.Context(), dst.Context(), desc.Descriptor, *art, nil); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// TestSignedEvidence signs the evidence with an SSH key: verify checks it against pinned
// evidence signers, refuses unsigned evidence when they are pinned, and ssh-keygen verifies
// the signature of the provenance.
func TestSignedEvidence(t *testing.T) {
	reg := registrytest.InMemory(t)
	ci := evidencetest.NewKey(t)
	_, image := promoted(t, reg, evidencetest.Options{Report: evidencetest.CleanReport, Passed: true, Signer: ci})
	signers, _ := approval.ParseAllowedSigners("ci", []byte(`ferry-ci namespaces="ferry-evidence" `+strings.TrimPrefix(evidencetest.AllowedLine("x", ci), "x ")+"\n"))
	res := verify(t, image, pev.Trust{EvidenceSigners: signers})
	for _, c := range res.Checks[:3] {
		if !c.Held || !strings.Contains(c.Detail, "signed by ferry-ci") {
			t.Errorf("%s = %+v", c.Name, c)
		}
	}
	if !res.OK {
		t.Errorf("signed evidence fails: %+v", res)
	}
	if c := check(verify(t, image, pev.Trust{}), pev.CheckScan); !c.Held || !strings.Contains(c.Detail, "(key not pinned)") {
		t.Errorf("without pinned evidence signers: %+v", c)
	}
	_, unsigned := promoted(t, registrytest.InMemory(t), evidencetest.Options{Report: evidencetest.CleanReport, Passed: true})
	if c := check(verify(t, unsigned, pev.Trust{EvidenceSigners: signers}), pev.CheckProvenance); c.Held || !strings.Contains(c.Detail, "unsigned, and evidence signers are pinned") {
		t.Errorf("unsigned with pinned evidence signers: %+v", c)
	}

	keygen, ok := testenv.LookBinary("", "ssh-keygen")
	if !ok {
		testenv.Missing(t, "ssh-keygen not installed (apt-get install openssh-client)")
	}
	found, err := evidence.Fetch(t.Context(), image, nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, f := range found {
		if f.ArtifactType != pev.ProvenanceType {
			continue
		}
		allowed := filepath.Join(dir, "allowed")
		sig := filepath.Join(dir, "sig")
		os.WriteFile(allowed, []byte("ferry-ci "+strings.TrimPrefix(evidencetest.AllowedLine("x", ci), "x ")+"\n"), 0o600)
		os.WriteFile(sig, f.Signature, 0o600)
		cmd := exec.Command(keygen, "-Y", "verify", "-f", allowed, "-I", "ferry-ci", "-n", pev.Namespace, "-s", sig)
		cmd.Stdin = strings.NewReader(string(f.Payload))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("ssh-keygen -Y verify: %v\n%s", err, out)
		}
	}
}

// TestVerifyGroups: a pinned policy's approver groups are judged again: alice's approval
// meets a policy whose sre group she is in, and not one that also needs one of qa.
func TestVerifyGroups(t *testing.T) {
	_, image := promoted(t, registrytest.InMemory(t), evidencetest.Options{Report: evidencetest.CleanReport, Passed: true})
	sre := pev.Group{Name: "sre", Principals: []string{"alice@example.com"}, Min: 1}
	qa := pev.Group{Name: "qa", Principals: []string{"bob@example.com"}, Min: 1}
	for _, tt := range []struct {
		groups []pev.Group
		want   string // "" when the approvals hold
	}{
		{[]pev.Group{sre}, ""},
		{[]pev.Group{sre, qa}, "group qa: 0 of 1 approvals for prod (policy and signers pinned by test)"},
	} {
		policy := pev.Policy{Signed: true, MinApprovals: 1, Groups: tt.groups}
		c := check(verify(t, image, pev.Trust{Policy: &policy, PinnedBy: "test"}), pev.CheckApprovals)
		if tt.want == "" && !c.Held || tt.want != "" && (c.Held || !strings.Contains(c.Detail, tt.want)) {
			t.Errorf("groups %v: %+v, want %q", tt.groups, c, tt.want)
		}
	}
}
