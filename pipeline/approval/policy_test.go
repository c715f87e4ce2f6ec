package approval_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/ferry-ci/ferry/internal/evidencetest"
	"github.com/ferry-ci/ferry/pipeline/approval"
	"github.com/ferry-ci/ferry/pipeline/config"
)

// TestEvaluate judges decisions as they would sit in a run against one policy with groups,
// excludeRequester, excludeAuthors and a deadline.
func TestEvaluate(t *testing.T) {
	keys := map[string]ssh.Signer{}
	var file strings.Builder
	for _, p := range []string{"alice@example.com,alice-gh", "bob@example.com", "carol@example.com", "dave@example.com"} {
		k := evidencetest.NewKey(t)
		keys[strings.Split(p, ",")[0]] = k
		file.WriteString(p + " " + string(ssh.MarshalAuthorizedKey(k.PublicKey())))
	}
	allowed, err := approval.ParseAllowedSigners("allowed_signers", []byte(file.String()))
	if err != nil {
		t.Fatal(err)
	}
	policy := &config.Approval{Signed: true, MinApprovals: 2, ExcludeRequester: true, ExcludeAuthors: true,
		Groups: []config.ApproverGroup{{Name: "sre", Principals: []string{"alice@example.com", "bob@example.com"}, Min: 1},
			{Name: "qa", Principals: []string{"carol@example.com"}, Min: 1}}}
	img, chart, vals := "sha256:"+strings.Repeat("1", 64), "sha256:"+strings.Repeat("2", 64), "sha256:"+strings.Repeat("3", 64)
	at := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	subject := approval.Subject{Run: "r1", Service: "delivery", Env: "prod", Image: img, Chart: chart, Values: vals,
		Requester: []string{"ALICE-GH"}, Authors: map[string]string{"dave@example.com": strings.Repeat("d", 40)},
		Deadline: at.Add(72 * time.Hour)}
	sign := func(who string, edit func(*approval.Statement)) approval.Signed {
		st := approval.NewStatement("r1", "delivery", "prod", approval.Approve, "ok", at.Add(time.Hour), img, chart)
		st.Values = vals
		if edit != nil {
			edit(&st)
		}
		s, err := approval.Sign(st, keys[who])
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	bob, carol := sign("bob@example.com", nil), sign("carol@example.com", nil)
	cases := []struct {
		name      string
		decisions []approval.Signed
		passed    bool
		verdict   approval.Verdict // of the last decision
		reason    string           // of the last decision, or a missing part
	}{
		{"one of each group", []approval.Signed{bob, carol}, true, approval.Counted, ""},
		{"quorum without qa", []approval.Signed{bob, sign("dave@example.com", func(s *approval.Statement) {})}, false, approval.Refused, "authored commit dddddddddddd"},
		{"requester by her CI login", []approval.Signed{carol, sign("alice@example.com", nil)}, false, approval.Refused, "started this run (requester ALICE-GH)"},
		{"another chart", []approval.Signed{bob, sign("carol@example.com", func(s *approval.Statement) { s.Chart = img })}, false, approval.Void, "the chart digest changed: approved " + img},
		{"values changed", []approval.Signed{bob, sign("carol@example.com", func(s *approval.Statement) { s.Values = "" })}, false, approval.Void, "the values digest changed: approved none"},
		{"after the deadline", []approval.Signed{bob, sign("carol@example.com", func(s *approval.Statement) { s.Time = at.Add(73 * time.Hour).Format(time.RFC3339) })}, false, approval.Void, "after the gate timed out"},
		{"another run", []approval.Signed{bob, sign("carol@example.com", func(s *approval.Statement) { s.Run = "r0" })}, false, approval.Refused, "signed for run r0"},
		{"two of sre are not qa", []approval.Signed{bob, sign("alice@example.com", func(s *approval.Statement) {})}, false, approval.Refused, "requester"},
		{"a rejection ends it", []approval.Signed{bob, carol, sign("bob@example.com", func(s *approval.Statement) { s.Decision = approval.Reject })}, false, approval.Rejected, ""},
		{"statement edited after signing", []approval.Signed{bob, {Statement: []byte(strings.Replace(string(carol.Statement), `"ok"`, `"OK"`, 1)), Signature: carol.Signature}}, false, approval.Refused, "does not verify"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := approval.Evaluate(policy, allowed, subject, tc.decisions)
			last := r.Judgements[len(r.Judgements)-1]
			if r.Passed != tc.passed || last.Verdict != tc.verdict || !strings.Contains(last.Reason+strings.Join(r.Missing, ";"), tc.reason) {
				t.Errorf("passed %v, last %s %q, missing %q; want %v %s %q", r.Passed, last.Verdict, last.Reason, r.Missing, tc.passed, tc.verdict, tc.reason)
			}
		})
	}
	r := approval.Evaluate(policy, allowed, subject, []approval.Signed{bob})
	if want := "group qa: 0 of 1 (carol@example.com)"; r.Passed || strings.Join(r.Missing, "; ") != "1 of 2 approvals; "+want {
		t.Errorf("missing = %q", r.Missing)
	}
}

func TestValuesDigest(t *testing.T) {
	root := t.TempDir()
	os.WriteFile(filepath.Join(root, "prod.yaml"), []byte("replicas: 3\n"), 0o644)
	env := &config.Environment{Name: "prod", Values: []string{"prod.yaml"}, Set: map[string]string{"a": "1", "b": "2"}}
	d1, err := approval.ValuesDigest(root, env)
	if err != nil || !strings.HasPrefix(d1, "sha256:") {
		t.Fatalf("digest %q %v", d1, err)
	}
	if d, _ := approval.ValuesDigest(root, &config.Environment{Name: "qa"}); d != "" {
		t.Errorf("no values: %q", d)
	}
	os.WriteFile(filepath.Join(root, "prod.yaml"), []byte("replicas: 4\n"), 0o644)
	if d2, _ := approval.ValuesDigest(root, env); d2 == d1 {
		t.Error("the digest did not follow the values file")
	}
	env.Values = []string{"missing.yaml"}
	if _, err := approval.ValuesDigest(root, env); err == nil || !strings.Contains(err.Error(), "values of prod") {
		t.Errorf("missing file: %v", err)
	}
}
