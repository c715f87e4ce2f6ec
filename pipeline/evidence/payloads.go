package evidence

import (
	"encoding/json"
	"fmt"
	"time"
)

// Payload type names, the "type" field of Ferry's own payloads.
const (
	scanPayload      = "ferry.dev/scan/v1"
	approvalsPayload = "ferry.dev/approvals/v1"
)

// Scan is the scan evidence: the scanner's report unchanged, the policy it was judged by and
// the verdict, so that a verifier can judge the report again under the same policy.
type Scan struct {
	Type    string `json:"type"`
	Image   string `json:"image"` // the scanned image's digest
	Scanner string `json:"scanner"`
	// ScannedAt is when the gate judged the report: ignore entries are checked against it.
	ScannedAt time.Time      `json:"scannedAt"`
	Policy    ScanPolicy     `json:"policy"`
	Passed    bool           `json:"passed"`
	Counts    map[string]int `json:"counts,omitempty"`
	Failing   []string       `json:"failing,omitempty"`
	// Report is the Trivy JSON report, as Trivy wrote it.
	Report json.RawMessage `json:"report"`
}

// ScanPolicy is the vulnerability policy of the time.
type ScanPolicy struct {
	FailOn        string       `json:"failOn"`
	IgnoreUnfixed bool         `json:"ignoreUnfixed,omitempty"`
	Ignore        []ScanIgnore `json:"ignore,omitempty"`
}

// ScanIgnore is an accepted finding.
type ScanIgnore struct {
	ID      string    `json:"id"`
	Reason  string    `json:"reason"`
	Expires time.Time `json:"expires"`
}

// ScanArtifact makes the scan evidence for an image.
func ScanArtifact(run, service string, s Scan) (Artifact, error) {
	s.Type = scanPayload
	if !json.Valid(s.Report) {
		return Artifact{}, fmt.Errorf("scan report of %s is not JSON", service)
	}
	b, err := json.Marshal(s)
	if err != nil {
		return Artifact{}, err
	}
	return Artifact{ArtifactType: ScanType, PayloadType: ScanType, Payload: b, Run: run, Service: service}, nil
}

// ParseScan reads scan evidence.
func ParseScan(b []byte) (Scan, error) {
	var s Scan
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("scan evidence: %w", err)
	}
	if s.Type != scanPayload {
		return s, fmt.Errorf("scan evidence: type %q, want %q", s.Type, scanPayload)
	}
	return s, nil
}

// Approvals is the approvals evidence of an environment: the signed statements, and the
// policy and allowed signers the gate judged them by (the trunk's), so that they can be
// checked again from the registry alone.
type Approvals struct {
	Type    string `json:"type"`
	Run     string `json:"run"`
	Service string `json:"service"`
	Env     string `json:"env"`
	Image   string `json:"image"`
	Chart   string `json:"chart,omitempty"`
	Policy  Policy `json:"policy"`
	// Trunk is the branch the policy and the allowed signers were read from.
	Trunk string `json:"trunk,omitempty"`
	// AllowedSigners is the allowed_signers file the gate used (git's format).
	AllowedSigners string           `json:"allowedSigners,omitempty"`
	Approvals      []SignedApproval `json:"approvals"`
	// By lists who the gate counted.
	By []string `json:"by"`
}

// Policy is an environment's approval policy as the gate applied it.
type Policy struct {
	Signed         bool     `json:"signed"`
	MinApprovals   int      `json:"minApprovals"`
	Approvers      []string `json:"approvers,omitempty"`
	AllowedSigners string   `json:"allowedSignersFile,omitempty"`
	// Groups each need Min approvals of their principals, on top of MinApprovals.
	Groups []Group `json:"groups,omitempty"`
}

// Group is an approver group of a policy: Min of Principals must approve.
type Group struct {
	Name       string   `json:"name"`
	Principals []string `json:"principals"`
	Min        int      `json:"min"`
}

// SignedApproval is one approval: the exact statement bytes and the armored SSHSIG over
// them (empty for advisory approvals, whose By is a name).
type SignedApproval struct {
	By        string `json:"by"`
	Statement string `json:"statement,omitempty"`
	Signature string `json:"signature,omitempty"`
}

// ApprovalsArtifact makes the approvals evidence.
func ApprovalsArtifact(a Approvals) (Artifact, error) {
	a.Type = approvalsPayload
	b, err := json.Marshal(a)
	if err != nil {
		return Artifact{}, err
	}
	return Artifact{ArtifactType: ApprovalsType, PayloadType: ApprovalsType, Payload: b, Run: a.Run, Service: a.Service}, nil
}

// ParseApprovals reads approvals evidence.
func ParseApprovals(b []byte) (Approvals, error) {
	var a Approvals
	if err := json.Unmarshal(b, &a); err != nil {
		return a, fmt.Errorf("approvals evidence: %w", err)
	}
	if a.Type != approvalsPayload {
		return a, fmt.Errorf("approvals evidence: type %q, want %q", a.Type, approvalsPayload)
	}
	return a, nil
}
