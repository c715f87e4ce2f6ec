// Package approval signs and verifies approvals of an environment for a run: SSH signatures in
// the SSHSIG format of `ssh-keygen -Y sign` and git's SSH commit signing, over a statement that
// names the run, the service, the environment, the decision and the digests that would be
// promoted, checked against an allowed_signers file (git's format). A signature made by
// ssh-keygen verifies here and one made here verifies with `ssh-keygen -Y verify`.
//
// The verification API, which the approval gate and later verifiers (ferry verify, from the
// registry alone) share and which stays stable:
//
//   - ParseAllowedSigners reads an allowed_signers file;
//   - Verify checks one Signed statement's signature and says which principal made it;
//   - Evaluate verifies and judges a set of Signed decisions for a Subject (run, service,
//     environment, current image/chart/values digests, requester, authors, deadline) under a
//     config.Approval policy, and tallies them: Result.Passed, By, Rejection, Missing, and a
//     Judgement (verdict and reason) per decision;
//   - Judge and Tally are its two halves, for decisions verified elsewhere;
//   - ValuesDigest is the values digest a statement binds for an environment.
package approval

import (
	"encoding/json"
	"fmt"
	"time"
)

// Namespace is the SSHSIG namespace of approvals: a signature made for anything else (a git
// commit, a file) is not an approval.
const Namespace = "ferry-approval"

// Decision is approve or reject.
type Decision string

const (
	Approve Decision = "approve"
	Reject  Decision = "reject"
)

// Statement is what an approver signs. Every field binds the signature: it cannot be replayed
// for another run, service, environment or digest.
type Statement struct {
	Type     string   `json:"type"` // always "ferry.dev/approval/v1"
	Run      string   `json:"run"`
	Service  string   `json:"service"`
	Env      string   `json:"env"`
	Decision Decision `json:"decision"`
	Comment  string   `json:"comment,omitempty"`
	Time     string   `json:"time"` // RFC 3339, UTC
	// Image and Chart are the digests that would be promoted (Chart "" when there is none).
	Image string `json:"image"`
	Chart string `json:"chart,omitempty"`
	// Values is the digest of the environment's values (ValuesDigest), "" when it sets none.
	Values string `json:"values,omitempty"`
}

// StatementType is the Type of every statement.
const StatementType = "ferry.dev/approval/v1"

// NewStatement fills the fixed fields.
func NewStatement(run, service, env string, d Decision, comment string, at time.Time, image, chart string) Statement {
	return Statement{Type: StatementType, Run: run, Service: service, Env: env, Decision: d, Comment: comment,
		Time: at.UTC().Format(time.RFC3339), Image: image, Chart: chart}
}

// Bytes is the exact message signed: the statement's JSON (fields in declaration order).
func (s Statement) Bytes() []byte {
	b, _ := json.Marshal(s)
	return b
}

// ParseStatement reads the signed bytes back.
func ParseStatement(b []byte) (Statement, error) {
	var s Statement
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("approval statement: %w", err)
	}
	if s.Type != StatementType {
		return s, fmt.Errorf("approval statement: type %q, want %q", s.Type, StatementType)
	}
	return s, nil
}
