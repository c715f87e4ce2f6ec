package approval

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/ferry-ci/ferry/pipeline/config"
)

// Subject is what a gate judges decisions for: one service of one run in one environment,
// with the digests that would be promoted and the people the policy may exclude.
type Subject struct {
	Run, Service, Env string
	// Image, Chart and Values are the run's current digests (Chart and Values "" when none).
	Image, Chart, Values string
	// Requester are the identities of whoever started the run (e-mails, CI logins).
	Requester []string
	// Authors maps the e-mail of each author of the commits being released to one of their
	// commits ("" when unknown), for the refusal's message.
	Authors map[string]string
	// Deadline, when set, is when the gate times out: a decision signed later is void.
	Deadline time.Time
}

// Verdict is what the policy made of one decision.
type Verdict string

const (
	// Counted is a valid approval that counts toward the quorum and the groups.
	Counted Verdict = "approved"
	// Rejected is a valid rejection: it ends the gate, whatever digests it names.
	Rejected Verdict = "rejected"
	// Refused is a decision that is not a valid one by a permitted approver: a signature that
	// does not hold, a key not allowed, another run, the requester or an author.
	Refused Verdict = "refused"
	// Void is an approval that was valid for digests the run no longer has, or came too late.
	Void Verdict = "void"
)

// Judgement is one decision and the verdict on it: the audit trail of a gate.
type Judgement struct {
	Principal   string   `json:"principal"` // "" when no allowed key made the signature
	Principals  []string `json:"-"`         // every name of the key's allowed_signers line
	Fingerprint string   `json:"fingerprint,omitempty"`
	Decision    Decision `json:"decision"`
	Comment     string   `json:"comment,omitempty"`
	Time        string   `json:"time,omitempty"` // when the statement says it was signed
	Image       string   `json:"image,omitempty"`
	Chart       string   `json:"chart,omitempty"`
	Values      string   `json:"values,omitempty"`
	Verdict     Verdict  `json:"verdict"`
	Reason      string   `json:"reason,omitempty"`
}

// Result is a gate's tally.
type Result struct {
	Judgements []Judgement
	// By are the distinct principals whose approvals count, sorted.
	By []string
	// Rejection is the first valid rejection, which ends the gate.
	Rejection *Judgement
	// Passed is set when the quorum and every group are met and nobody rejected.
	Passed bool
	// Missing says what the gate still needs ("1 of 2 approvals", "group qa: 0 of 1 ...").
	Missing []string
}

// Evaluate verifies each signed decision against the allowed signers and judges it against
// the policy for the subject, then tallies the quorum and the groups. It is what the gate
// runs every time and what a later verifier (ferry verify) runs on the same statements: it
// trusts nothing but the signatures, the allowed signers and the policy it is given.
func Evaluate(policy *config.Approval, allowed AllowedSigners, subject Subject, decisions []Signed) Result {
	js := make([]Judgement, 0, len(decisions))
	for _, d := range decisions {
		js = append(js, judgeSigned(policy, allowed, subject, d))
	}
	return Tally(policy, js)
}

// judgeSigned is one signed decision's judgement.
func judgeSigned(policy *config.Approval, allowed AllowedSigners, subject Subject, d Signed) Judgement {
	v, err := Verify(d, allowed)
	if err != nil {
		j := Judgement{Verdict: Refused, Reason: err.Error()}
		if st, perr := ParseStatement(d.Statement); perr == nil {
			j.Decision, j.Comment, j.Time, j.Image, j.Chart, j.Values = st.Decision, st.Comment, st.Time, st.Image, st.Chart, st.Values
		}
		return j
	}
	j := Judgement{Principal: v.Principal, Principals: v.Principals, Fingerprint: v.Fingerprint, Decision: v.Decision,
		Comment: v.Comment, Time: v.Time, Image: v.Image, Chart: v.Chart, Values: v.Values}
	switch {
	case v.Run != subject.Run:
		return j.refuse("signed for run %s, not %s", v.Run, subject.Run)
	case v.Service != subject.Service || v.Env != subject.Env:
		return j.refuse("signed for %s in %s, not %s in %s", v.Service, v.Env, subject.Service, subject.Env)
	}
	return Judge(policy, subject, j)
}

// Judge applies the policy to a decision whose signature holds for the subject's run, service
// and environment (or, with signed: false, to an advisory name): the approvers, the digests,
// the deadline, the requester and the authors. j.Principals, when set, are all the names the
// approver goes by; otherwise j.Principal alone.
func Judge(policy *config.Approval, subject Subject, j Judgement) Judgement {
	names := j.Principals
	if len(names) == 0 {
		names = []string{j.Principal}
	}
	if len(policy.Approvers) > 0 && !slices.Contains(policy.Approvers, j.Principal) {
		return j.refuse("%s is not one of the approvers of %s (%s)", j.Principal, subject.Env, strings.Join(policy.Approvers, ", "))
	}
	if j.Decision == Reject {
		j.Verdict = Rejected
		return j
	}
	if j.Decision != Approve {
		return j.refuse("unknown decision %q", j.Decision)
	}
	for _, d := range []struct{ what, signed, now string }{
		{"image", j.Image, subject.Image}, {"chart", j.Chart, subject.Chart}, {"values", j.Values, subject.Values},
	} {
		if d.signed != d.now {
			j.Verdict, j.Reason = Void, fmt.Sprintf("the %s digest changed: approved %s, the run now has %s", d.what, orNone(d.signed), orNone(d.now))
			return j
		}
	}
	if !subject.Deadline.IsZero() {
		at, err := time.Parse(time.RFC3339, j.Time)
		if err != nil || at.After(subject.Deadline) {
			j.Verdict, j.Reason = Void, fmt.Sprintf("signed at %s, after the gate timed out at %s", j.Time, subject.Deadline.UTC().Format(time.RFC3339))
			return j
		}
	}
	if policy.ExcludeRequester {
		if who, ok := matchAny(names, subject.Requester); ok {
			return j.refuse("%s started this run (requester %s) and excludeRequester is set: the requester cannot approve", j.Principal, who)
		}
	}
	if policy.ExcludeAuthors {
		emails := slices.Sorted(maps.Keys(subject.Authors))
		if who, ok := matchAny(names, emails); ok {
			what := "commits"
			if c := subject.Authors[who]; c != "" {
				what = "commit " + short(c)
			}
			return j.refuse("%s authored %s of this release and excludeAuthors is set: authors cannot approve", j.Principal, what)
		}
	}
	j.Verdict = Counted
	return j
}

func (j Judgement) refuse(format string, args ...any) Judgement {
	j.Verdict, j.Reason = Refused, fmt.Sprintf(format, args...)
	return j
}

// Tally counts the judged decisions: distinct principals against minApprovals, and each group
// against its minimum. A principal in two groups counts for both.
func Tally(policy *config.Approval, js []Judgement) Result {
	r := Result{Judgements: js}
	counted := map[string]Judgement{}
	for i := range js {
		switch js[i].Verdict {
		case Rejected:
			if r.Rejection == nil {
				r.Rejection = &js[i]
			}
		case Counted:
			counted[js[i].Principal] = js[i]
		}
	}
	for p := range counted {
		r.By = append(r.By, p)
	}
	slices.Sort(r.By)
	if len(r.By) < policy.MinApprovals {
		r.Missing = append(r.Missing, fmt.Sprintf("%d of %d approvals", len(r.By), policy.MinApprovals))
	}
	for _, g := range policy.Groups {
		n := 0
		for _, j := range counted {
			if inGroup(g, j) {
				n++
			}
		}
		if n < g.Min {
			r.Missing = append(r.Missing, fmt.Sprintf("group %s: %d of %d (%s)", g.Name, n, g.Min, strings.Join(g.Principals, ", ")))
		}
	}
	r.Passed = r.Rejection == nil && len(r.Missing) == 0
	return r
}

func inGroup(g config.ApproverGroup, j Judgement) bool {
	if slices.Contains(g.Principals, j.Principal) {
		return true
	}
	for _, n := range j.Principals {
		if slices.Contains(g.Principals, n) {
			return true
		}
	}
	return false
}

// matchAny returns the first of ids that one of names matches, ignoring case (e-mails and
// CI logins are case-insensitive in practice).
func matchAny(names, ids []string) (string, bool) {
	for _, id := range ids {
		for _, n := range names {
			if id != "" && strings.EqualFold(n, id) {
				return id, true
			}
		}
	}
	return "", false
}

func orNone(s string) string { return cmp.Or(s, "none") }

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}

// ValuesDigest identifies what an environment adds to every chart it deploys: its values
// files (path and content, as the checkout at root has them) and its set entries. It is ""
// when the environment has neither, so that approvals of such an environment name none.
func ValuesDigest(root string, env *config.Environment) (string, error) {
	if len(env.Values) == 0 && len(env.Set) == 0 {
		return "", nil
	}
	type file struct {
		Path   string `json:"path"`
		Digest string `json:"digest"`
	}
	doc := struct {
		Files []file            `json:"files"`
		Set   map[string]string `json:"set,omitempty"` // encoding/json sorts the keys
	}{Set: env.Set}
	for _, f := range env.Values {
		data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(f)))
		if err != nil {
			return "", fmt.Errorf("values of %s: %w", env.Name, err)
		}
		sum := sha256.Sum256(data)
		doc.Files = append(doc.Files, file{Path: f, Digest: "sha256:" + hex.EncodeToString(sum[:])})
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}
