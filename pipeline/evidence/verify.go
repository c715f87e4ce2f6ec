package evidence

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/ferry-ci/ferry/pipeline/approval"
)

// Fetched is one evidence artifact as read from the registry.
type Fetched struct {
	ArtifactType string
	Run          string
	Payload      []byte
	Signature    []byte // nil when unsigned
}

// Trust is what a verifier trusts besides the registry. Every field is optional: without a
// pin the evidence's own copy is used and the result says so.
type Trust struct {
	// AllowedSigners and Policy judge the approvals (from --allowed-signers or a checkout's
	// ferry.yaml); nil means those recorded in the approvals evidence.
	AllowedSigners approval.AllowedSigners
	Policy         *Policy
	// PinnedBy says where the pin came from, for the output ("--config ferry.yaml").
	PinnedBy string
	// EvidenceSigners, when set, must hold the key of every evidence signature, and unsigned
	// evidence fails.
	EvidenceSigners approval.AllowedSigners
}

// ScanJudge judges a scanner report under a policy at a time: the scan stage's own gate.
type ScanJudge func(report []byte, p ScanPolicy, at time.Time) (passed bool, failing []string, err error)

// Holds reports whether a repository holds a digest.
type Holds func(ctx context.Context, repo, digest string) (bool, error)

// VerifyOptions configure Verify.
type VerifyOptions struct {
	Env   string // the environment whose approvals count; "" takes the one the evidence names
	Trust Trust
	Judge ScanJudge
	Holds Holds
}

// Check is one condition and whether it held.
type Check struct {
	Name   string `json:"name"`
	Held   bool   `json:"held"`
	Detail string `json:"detail"`
}

// Result is the verdict on an image.
type Result struct {
	Image  string  `json:"image"`
	OK     bool    `json:"ok"`
	Checks []Check `json:"checks"`
}

// Check names, in the order they are reported.
const (
	CheckProvenance = "provenance"
	CheckScan       = "scan"
	CheckApprovals  = "approvals"
	CheckPromotion  = "promotion"
)

// Verify judges an image (repo@sha256:…) by the evidence attached to it: provenance
// present, scan passed under the recorded policy, approvals valid under the trust given, and
// the repository the provenance names holding the same digest.
func Verify(ctx context.Context, image string, found []Fetched, opt VerifyOptions) Result {
	repo, digest, _ := strings.Cut(image, "@")
	v := &verifier{opt: opt, digest: digest}
	apps, appsCheck := v.approvals(found)
	run := ""
	if apps != nil {
		run = apps.Run
	}
	prov, provCheck := v.provenance(found, run)
	res := Result{Image: image, Checks: []Check{provCheck, v.scan(found, run), appsCheck, v.promotion(ctx, repo, prov)}}
	res.OK = true
	for _, c := range res.Checks {
		res.OK = res.OK && c.Held
	}
	return res
}

type verifier struct {
	opt    VerifyOptions
	digest string
}

// pick returns the artifacts of a type, those of run first when run is known.
func pick(found []Fetched, typ, run string) []Fetched {
	var out []Fetched
	for _, f := range found {
		if f.ArtifactType == typ {
			out = append(out, f)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Run == run && out[j].Run != run })
	return out
}

// signature describes an artifact's signature, or says why it does not do.
func (v *verifier) signature(f Fetched) (string, error) {
	pinned := v.opt.Trust.EvidenceSigners
	if f.Signature == nil {
		if pinned != nil {
			return "", fmt.Errorf("unsigned, and evidence signers are pinned")
		}
		return "unsigned", nil
	}
	c, err := VerifySignature(f.Payload, f.Signature, pinned)
	if err != nil {
		return "", err
	}
	if c.Principal != "" {
		return "signed by " + c.Principal + " (" + c.Fingerprint + ")", nil
	}
	return "signed by " + c.Fingerprint + " (key not pinned)", nil
}

func (v *verifier) provenance(found []Fetched, run string) (*Statement, Check) {
	c := Check{Name: CheckProvenance}
	cands := pick(found, ProvenanceType, run)
	if len(cands) == 0 {
		c.Detail = "no provenance attached to " + v.digest
		return nil, c
	}
	f := cands[0]
	st, err := ParseProvenance(f.Payload)
	if err != nil {
		c.Detail = err.Error()
		return nil, c
	}
	sig, err := v.signature(f)
	if err != nil {
		c.Detail = "provenance: " + err.Error()
		return nil, c
	}
	sub := st.Subject[0]
	if "sha256:"+sub.Digest["sha256"] != v.digest {
		c.Detail = fmt.Sprintf("provenance is about sha256:%s, not %s", sub.Digest["sha256"], v.digest)
		return nil, c
	}
	p := st.Predicate.BuildDefinition.ExternalParameters
	c.Held = true
	c.Detail = fmt.Sprintf("run %s built %s from %s at %s by %s; %s", st.Predicate.RunDetails.Metadata.InvocationID,
		sub.Name, p.Ref, p.Commit, st.Predicate.RunDetails.Builder.ID, sig)
	return &st, c
}

func (v *verifier) scan(found []Fetched, run string) Check {
	c := Check{Name: CheckScan}
	cands := pick(found, ScanType, run)
	if len(cands) == 0 {
		c.Detail = "no scan report attached to " + v.digest
		return c
	}
	f := cands[0]
	s, err := ParseScan(f.Payload)
	if err != nil {
		c.Detail = err.Error()
		return c
	}
	sig, err := v.signature(f)
	if err != nil {
		c.Detail = "scan report: " + err.Error()
		return c
	}
	if s.Image != v.digest {
		c.Detail = fmt.Sprintf("scan report is of %s, not %s", s.Image, v.digest)
		return c
	}
	passed, failing, err := v.opt.Judge(s.Report, s.Policy, s.ScannedAt)
	switch {
	case err != nil:
		c.Detail = "scan report: " + err.Error()
	case !passed:
		c.Detail = fmt.Sprintf("failed under failOn %s at %s: %s", s.Policy.FailOn, s.ScannedAt.Format(time.RFC3339), strings.Join(failing, "; "))
	case !s.Passed:
		c.Detail = "the report passes the recorded policy but the gate recorded a failure"
	default:
		c.Held = true
		c.Detail = fmt.Sprintf("%s passed under failOn %s (%d ignore entries) at %s; %s", s.Scanner, s.Policy.FailOn,
			len(s.Policy.Ignore), s.ScannedAt.Format(time.RFC3339), sig)
	}
	return c
}

func (v *verifier) approvals(found []Fetched) (*Approvals, Check) {
	c := Check{Name: CheckApprovals}
	var a *Approvals
	var sig string
	for _, f := range pick(found, ApprovalsType, "") {
		got, err := ParseApprovals(f.Payload)
		if err != nil {
			c.Detail = err.Error()
			return nil, c
		}
		if v.opt.Env != "" && got.Env != v.opt.Env {
			continue
		}
		if sig, err = v.signature(f); err != nil {
			c.Detail = "approvals: " + err.Error()
			return nil, c
		}
		a = &got
		break
	}
	if a == nil {
		c.Detail = "no approvals attached to " + v.digest + envSuffix(v.opt.Env) + ": the image did not pass an approval gate"
		return nil, c
	}
	by, trust, err := v.judgeApprovals(a)
	if err != nil {
		c.Detail = err.Error()
		return a, c
	}
	c.Held = true
	c.Detail = fmt.Sprintf("%s approved by %s in run %s (%s); %s", a.Env, strings.Join(by, ", "), a.Run, trust, sig)
	return a, c
}

func envSuffix(env string) string {
	if env == "" {
		return ""
	}
	return " for " + env
}

// judgeApprovals verifies every statement and counts the distinct approving principals
// against the policy.
func (v *verifier) judgeApprovals(a *Approvals) ([]string, string, error) {
	policy, signers, trust := a.Policy, approval.AllowedSigners(nil), "signers and policy taken from the evidence: not pinned"
	if v.opt.Trust.Policy != nil {
		policy, trust = *v.opt.Trust.Policy, "policy and signers pinned by "+v.opt.Trust.PinnedBy
	}
	if v.opt.Trust.AllowedSigners != nil {
		signers = v.opt.Trust.AllowedSigners
		if v.opt.Trust.Policy == nil {
			trust = "signers pinned by " + v.opt.Trust.PinnedBy + ", policy from the evidence"
		}
	} else {
		parsed, err := approval.ParseAllowedSigners("approvals evidence", []byte(a.AllowedSigners))
		if err != nil {
			return nil, "", err
		}
		signers = parsed
	}
	if !policy.Signed {
		return nil, "", fmt.Errorf("approvals of %s are advisory (signed: false): names, not signatures", a.Env)
	}
	var by []string
	for i, s := range a.Approvals {
		p, err := v.statement(a, s, signers, policy)
		if err != nil {
			return nil, "", fmt.Errorf("approval %d (recorded as %s): %w", i+1, s.By, err)
		}
		if !slices.Contains(by, p) {
			by = append(by, p)
		}
	}
	sort.Strings(by)
	if len(by) < max(policy.MinApprovals, 1) {
		return nil, "", fmt.Errorf("%d of %d approvals for %s (%s)", len(by), max(policy.MinApprovals, 1), a.Env, trust)
	}
	for _, g := range policy.Groups {
		n := 0
		for _, p := range by {
			if slices.Contains(g.Principals, p) {
				n++
			}
		}
		if n < max(g.Min, 1) {
			return nil, "", fmt.Errorf("group %s: %d of %d approvals for %s (%s)", g.Name, n, max(g.Min, 1), a.Env, trust)
		}
	}
	return by, trust, nil
}

func (v *verifier) statement(a *Approvals, s SignedApproval, signers approval.AllowedSigners, policy Policy) (string, error) {
	got, err := approval.Verify(approval.Signed{Statement: []byte(s.Statement), Signature: s.Signature}, signers)
	if err != nil {
		return "", err
	}
	switch {
	case got.Image != v.digest:
		return "", fmt.Errorf("signed for image %s, not %s", got.Image, v.digest)
	case got.Run != a.Run || got.Service != a.Service || got.Env != a.Env:
		return "", fmt.Errorf("signed for run %s, %s in %s, but the evidence is of run %s, %s in %s", got.Run, got.Service, got.Env, a.Run, a.Service, a.Env)
	case got.Chart != a.Chart:
		return "", fmt.Errorf("signed for chart %s, but the evidence names %s", got.Chart, a.Chart)
	case got.Decision != approval.Approve:
		return "", fmt.Errorf("%s %sed %s: %s", got.Principal, got.Decision, a.Env, got.Comment)
	case len(policy.Approvers) > 0 && !slices.Contains(policy.Approvers, got.Principal):
		return "", fmt.Errorf("%s is not one of the approvers of %s", got.Principal, a.Env)
	}
	return got.Principal, nil
}

// promotion checks that the image is the one pushed: the repository the provenance names
// holds the same digest.
func (v *verifier) promotion(ctx context.Context, repo string, prov *Statement) Check {
	c := Check{Name: CheckPromotion}
	if prov == nil {
		c.Detail = "no provenance names the repository the image was pushed to"
		return c
	}
	src := prov.Subject[0].Name
	if src == repo {
		c.Held = true
		c.Detail = repo + " is the repository the image was pushed to (not a promoted copy)"
		return c
	}
	ok, err := v.opt.Holds(ctx, src, v.digest)
	switch {
	case err != nil:
		c.Detail = fmt.Sprintf("check %s@%s: %v", src, v.digest, err)
	case !ok:
		c.Detail = fmt.Sprintf("%s does not hold %s: the promoted image is not the one pushed and tested", src, v.digest)
	default:
		c.Held = true
		c.Detail = fmt.Sprintf("%s holds %s: the promoted digest is the pushed (QA) digest", src, v.digest)
	}
	return c
}
