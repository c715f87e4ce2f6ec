package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/ferry-ci/ferry/internal/testenv"
	"github.com/ferry-ci/ferry/pipeline"
	"github.com/ferry-ci/ferry/pipeline/approval"
)

// gateRepo is the example with prod's approval replaced by policy, promote-only releases,
// values for prod (deploy/prod.yaml), and dave added to the allowed signers (with alice, bob
// and carol, the example's demo approvers), all on main. It returns the repository and carol's
// and dave's key files.
func gateRepo(t *testing.T, policy string, extra ...[2]string) (repo string, keys map[string]string) {
	t.Helper()
	repo = exampleRepo(t)
	gitIn(t, repo, "checkout", "-q", "main")
	cfgPath := filepath.Join(repo, "ferry.yaml")
	data, _ := os.ReadFile(cfgPath)
	text := strings.Replace(string(data), "stages: [build, test, image, scan, push, chart, deploy]}", "stages: [build, test, image, push, promote]}", 1)
	text = strings.Replace(text, "approval: {allowedSigners: deploy/allowed_signers, minApprovals: 2}}",
		"values: [deploy/prod.yaml], approval: "+policy+"}", 1)
	for _, r := range extra {
		text = strings.Replace(text, r[0], r[1], 1)
	}
	if !strings.Contains(text, "promote]}") || !strings.Contains(text, "values: [deploy/prod.yaml]") {
		t.Fatal("the example changed: update this test")
	}
	os.WriteFile(cfgPath, []byte(text), 0o644)
	os.WriteFile(filepath.Join(repo, "deploy", "prod.yaml"), []byte("replicas: 3\n"), 0o644)
	// carol is the example's third demo approver; dave gets a key of his own.
	keys = map[string]string{"carol": demoKey(repo, "carol"), "dave": strangerKey(t)}
	pub, _ := os.ReadFile(keys["dave"] + ".pub")
	f, _ := os.OpenFile(filepath.Join(repo, "deploy", "allowed_signers"), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("dave@example.com " + string(pub))
	f.Close()
	gitIn(t, repo, "add", "-A")
	gitIn(t, repo, "commit", "-qm", "approval policy")
	return repo, keys
}

// commitAs commits a change to the delivery service authored by email.
func commitAs(t *testing.T, repo, email string) {
	t.Helper()
	file := filepath.Join(repo, "src/shipping/delivery/CHANGES")
	f, _ := os.OpenFile(file, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	f.WriteString("a change by " + email + "\n")
	f.Close()
	cmd := exec.Command("git", "-c", "user.name=A", "-c", "user.email="+email, "commit", "-qm", "change", "--", file)
	cmd.Dir = repo
	exec.Command("git", "-C", repo, "add", file).Run()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("commit as %s: %v\n%s", email, err, out)
	}
}

// gateStatus is ferry status RUN -o json with the derived gates.
type gateStatus struct {
	pipeline.Run
	Gates []struct {
		Env, Status string
		By          []string
		Missing     []string
		Values      string
		Decisions   []pipeline.ApprovalDecision
	}
}

func statusOf(t *testing.T, repo string, env map[string]string, id string) gateStatus {
	t.Helper()
	r := runFerry(t, repo, env, "", "status", id, "-o", "json")
	var s gateStatus
	if err := json.Unmarshal([]byte(r.stdout), &s); err != nil || len(s.Gates) != 1 {
		t.Fatalf("status: %v\n%s", err, r.stdout)
	}
	return s
}

// verdicts is "principal-or-by verdict" per decision, for compact assertions.
func verdicts(s gateStatus) string {
	var out []string
	for _, d := range s.Gates[0].Decisions {
		who := d.Principal
		if who == "" {
			who = d.By + "?"
		}
		out = append(out, who+" "+d.Verdict)
	}
	return strings.Join(out, ", ")
}

// forge appends an approval record straight into the local run store, as anyone who can
// write to it could.
func forge(t *testing.T, repo, id string, recs ...pipeline.Record) {
	t.Helper()
	store, err := pipeline.NewLocalStore(filepath.Join(repo, ".ferry"))
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Append(t.Context(), id, recs...); err != nil {
		t.Fatal(err)
	}
}

func signedBy(t *testing.T, keyFile string, st approval.Statement) pipeline.Approval {
	t.Helper()
	data, _ := os.ReadFile(keyFile)
	key, err := ssh.ParsePrivateKey(data)
	if err != nil {
		t.Fatal(err)
	}
	s, err := approval.Sign(st, key)
	if err != nil {
		t.Fatal(err)
	}
	return pipeline.Approval{Env: st.Env, Service: st.Service, By: "bob@example.com", At: time.Now().UTC(), Decision: string(st.Decision),
		Statement: s.Statement, Signature: s.Signature, Key: ssh.FingerprintSHA256(key.PublicKey())}
}

func prodTagExists(reg, version string) bool {
	ref, err := name.ParseReference(reg + "/shipping/prod/delivery:" + version)
	if err != nil {
		return false
	}
	_, err = remote.Head(ref)
	return err == nil
}

// TestApprovalPolicy runs releases of the example to prod's gate under a policy with groups
// (one of sre, one of qa), excludeRequester, excludeAuthors and a timeout, from the CLI: the
// requester and an author are refused with the reason and nothing is recorded; a forged
// record, a replayed one and approvals of changed values count for nothing; a waiting
// resume --wait picks up the last approval and promotes; a timed-out gate, a rejected gate and
// a branch that relaxes its own policy promote nothing.
func TestApprovalPolicy(t *testing.T) {
	reg := testenv.Registry(t)
	repo, keys := gateRepo(t, "{allowedSigners: deploy/allowed_signers, minApprovals: 2, excludeRequester: true, excludeAuthors: true, timeout: 72h, "+
		"groups: {sre: {principals: [alice@example.com, carol@example.com]}, qa: {principals: [bob@example.com]}}}")
	requester := map[string]string{"FERRY_REQUESTER": "carol@example.com"}
	release := func(version string) string {
		t.Helper()
		gitIn(t, repo, "checkout", "-q", "-B", "release/delivery/v"+version, "main")
		commitAs(t, repo, "dave@example.com")
		r := runFerry(t, repo, requester, "", "run", "--registry", reg+"/shipping", "--no-progress")
		if r.code != exitWaiting {
			t.Fatalf("%s: exit %d, want %d\n%s\n%s", version, r.code, exitWaiting, r.stdout, r.stderr)
		}
		return runStatus(t, repo).ID
	}
	approve := func(id, key string, extra ...string) result {
		t.Helper()
		return runFerry(t, repo, nil, "", append([]string{"approve", id, "--env", "prod", "--key", key, "--no-progress"}, extra...)...)
	}

	id := release("1.0.2")
	for _, tc := range []struct{ who, key, want string }{
		{"the requester", keys["carol"], "carol@example.com may not approve prod of delivery for run " + id + ": carol@example.com started this run (requester carol@example.com) and excludeRequester is set"},
		{"an author", keys["dave"], "dave@example.com authored commit "},
		{"an unlisted key", strangerKey(t), "is not in the allowed signers of prod"},
	} {
		if r := approve(id, tc.key); r.code != exitFailed || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%s: exit %d %q, want %q", tc.who, r.code, r.stderr, tc.want)
		}
	}
	if s := statusOf(t, repo, nil, id); len(s.Approvals) != 0 {
		t.Errorf("refused decisions were recorded: %+v", s.Approvals)
	}
	if r := approve(id, demoKey(repo, "alice"), "--resume"); r.code != exitWaiting {
		t.Fatalf("alice (sre): exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	text := runFerry(t, repo, nil, "", "status", id).stdout
	for _, want := range []string{"requester: carol@example.com (FERRY_REQUESTER)", "missing: 1 of 2 approvals; group qa: 0 of 1 (bob@example.com)",
		"authors (excluded): dave@example.com", "digests: image sha256:"} {
		if !strings.Contains(text, want) {
			t.Errorf("status lacks %q:\n%s", want, text)
		}
	}

	// Written straight into the store: bob's name on a stranger's signature over the right
	// statement. The values then change in the checkout: alice's approval is void until they
	// are back.
	s := statusOf(t, repo, nil, id)
	image := s.Service("delivery").Stage("push").Outputs.Push.Digest
	st := approval.NewStatement(id, "delivery", "prod", approval.Approve, "", time.Now(), image, "")
	st.Values = s.Gates[0].Values
	forged := signedBy(t, strangerKey(t), st)
	forge(t, repo, id, pipeline.Record{Time: forged.At, Approval: &forged})
	os.WriteFile(filepath.Join(repo, "deploy", "prod.yaml"), []byte("replicas: 30\n"), 0o644)
	if r := runFerry(t, repo, nil, "", "resume", id, "--no-progress"); r.code != exitWaiting {
		t.Fatalf("resume with a forged approval: exit %d\n%s", r.code, r.stdout)
	}
	s = statusOf(t, repo, nil, id)
	if got := verdicts(s); got != "alice@example.com void, bob@example.com? refused" ||
		!strings.Contains(s.Gates[0].Decisions[0].Reason, "the values digest changed") ||
		!strings.Contains(s.Gates[0].Decisions[1].Reason, "key not in the allowed signers") {
		t.Errorf("verdicts %s: %+v", got, s.Gates[0].Decisions)
	}
	gitIn(t, repo, "checkout", "--", "deploy/prod.yaml")
	if prodTagExists(reg, "1.0.2") {
		t.Fatal("promoted before the gate passed")
	}

	// A waiting resume picks bob's approval up when it is recorded.
	var waitOut, waitErr bytes.Buffer
	done := make(chan int)
	go func() {
		done <- Main(t.Context(), []string{"resume", id, "--wait", "--poll-interval", "20ms", "--timeout", "2m", "--no-progress"},
			Streams{In: strings.NewReader(""), Out: &waitOut, Err: &waitErr}, func(string) string { return "" })
	}()
	if r := approve(id, demoKey(repo, "bob")); r.code != 0 {
		t.Fatalf("bob (qa): exit %d %s", r.code, r.stderr)
	}
	if code := <-done; code != 0 {
		t.Fatalf("resume --wait: exit %d\n%s\n%s", code, waitOut.String(), waitErr.String())
	}
	s = statusOf(t, repo, nil, id)
	if got := strings.Join(s.Gates[0].By, ","); got != "alice@example.com,bob@example.com" || !prodTagExists(reg, "1.0.2") {
		t.Errorf("passed by %q, promoted %v (%s)", got, prodTagExists(reg, "1.0.2"), verdicts(s))
	}

	// Another run: alice's approval of 1.0.2 replayed into it, then the clock runs out.
	replayed := s.Approvals[0]
	id = release("1.0.3")
	forge(t, repo, id, pipeline.Record{Time: replayed.At, Approval: &replayed})
	if r := approve(id, demoKey(repo, "bob"), "--wait", "--poll-interval", "20ms", "--timeout", "200ms"); r.code != exitWaiting ||
		!strings.Contains(r.stderr, "still waits for approval after 200ms") {
		t.Errorf("approve --wait --timeout: exit %d %q", r.code, r.stderr)
	}
	s = statusOf(t, repo, nil, id)
	if d := s.Gates[0].Decisions; verdicts(s) != "alice@example.com refused, bob@example.com approved" || !strings.Contains(d[0].Reason, "signed for run ") {
		t.Errorf("a replayed approval: %+v", d)
	}
	// Ctrl-C while waiting: exit 130, the run still waits.
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	stderr := &cancelOn{want: "polling for decisions", cancel: cancel}
	code := Main(ctx, []string{"resume", id, "--wait", "--poll-interval", "1h", "--no-progress"}, Streams{In: strings.NewReader(""), Out: &bytes.Buffer{}, Err: stderr},
		func(string) string { return "" })
	if code != exitCanceled || !strings.Contains(stderr.String(), "interrupted") || runStatus(t, repo).Status() != pipeline.Waiting {
		t.Errorf("Ctrl-C while waiting: exit %d %q", code, stderr.String())
	}
	gate := *s.Service("delivery").Stage("approve:prod")
	out := *gate.Outputs.Approve
	out.WaitingSince, out.Deadline = time.Now().Add(-73*time.Hour).UTC(), time.Now().Add(-time.Hour).UTC()
	gate.Outputs.Approve = &out
	forge(t, repo, id, pipeline.Record{Time: time.Now(), Stage: &pipeline.StageRecord{Service: "delivery", State: gate}}) // 73 hours ago
	if r := approve(id, demoKey(repo, "bob")); r.code != exitFailed || !strings.Contains(r.stderr, "approval timed out after 72h") {
		t.Errorf("approving a timed-out gate: exit %d %q", r.code, r.stderr)
	}
	if r := runFerry(t, repo, nil, "", "resume", id, "--no-progress"); r.code != exitFailed || !strings.Contains(r.stdout, "approval timed out after 72h") {
		t.Errorf("resume after the timeout: exit %d\n%s", r.code, r.stdout)
	}

	// A rejection ends the gate under the same policy, whoever approves later.
	id = release("1.0.4")
	if r := runFerry(t, repo, nil, "", "reject", id, "--env", "prod", "--key", demoKey(repo, "bob"), "--comment", "not on a Friday"); r.code != 0 {
		t.Fatalf("reject: exit %d %s", r.code, r.stderr)
	}
	if r := approve(id, demoKey(repo, "alice"), "--resume"); r.code != exitFailed || !strings.Contains(r.stdout, "bob@example.com rejected prod for run "+id+": not on a Friday") {
		t.Errorf("approve after a rejection: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if r := approve(id, keys["carol"]); r.code != exitFailed || !strings.Contains(r.stderr, "gate of delivery in run "+id+" is over") {
		t.Errorf("approve a rejected gate: exit %d %q", r.code, r.stderr)
	}
	for _, v := range []string{"1.0.3", "1.0.4"} {
		if prodTagExists(reg, v) {
			t.Errorf("%s was promoted", v)
		}
	}

	// A release branch that drops excludeRequester for itself.
	gitIn(t, repo, "checkout", "-q", "-B", "release/delivery/v1.0.5", "main")
	cfg, _ := os.ReadFile(filepath.Join(repo, "ferry.yaml"))
	os.WriteFile(filepath.Join(repo, "ferry.yaml"), bytes.Replace(cfg, []byte("excludeRequester: true"), []byte("excludeRequester: false"), 1), 0o644)
	gitIn(t, repo, "commit", "-qam", "let me approve my own release")
	if r := runFerry(t, repo, requester, "", "run", "--registry", reg+"/shipping", "--no-progress"); r.code != exitFailed ||
		!strings.Contains(r.stdout, "the approval policy of prod in this branch's ferry.yaml differs from main's") {
		t.Errorf("a branch relaxing its own policy: exit %d\n%s", r.code, r.stdout)
	}
}

// TestApprovalAcrossThreeMachines keeps the run in the registry: QA in one clone (the CI job),
// ferry approve from another working copy on main (an approver's laptop), the gate resumed in
// a third, fresh clone that has nothing but the registry-backed run store.
func TestApprovalAcrossThreeMachines(t *testing.T) {
	reg := testenv.Registry(t)
	origin, _ := gateRepo(t, "{allowedSigners: deploy/allowed_signers, minApprovals: 1, excludeRequester: true, excludeAuthors: true, timeout: 72h}",
		[2]string{"registry: 127.0.0.1:5000/shipping", "registry: " + reg + "/shipping\nstate: oci://" + reg + "/ferry/runs"})
	gitIn(t, origin, "checkout", "-q", "-b", "release/delivery/v1.0.2")
	commitAs(t, origin, "dave@example.com")
	gitIn(t, origin, "checkout", "-q", "main")
	clone := func(branch string) string {
		t.Helper()
		dir := filepath.Join(t.TempDir(), "clone")
		if out, err := exec.Command("git", "clone", "-q", "--branch", branch, origin, dir).CombinedOutput(); err != nil {
			t.Fatalf("clone: %v %s", err, out)
		}
		return dir
	}
	ci, laptop, later := clone("release/delivery/v1.0.2"), clone("main"), clone("release/delivery/v1.0.2")
	machine := func(extra ...string) map[string]string {
		env := map[string]string{"FERRY_CACHE_DIR": t.TempDir()}
		for i := 0; i+1 < len(extra); i += 2 {
			env[extra[i]] = extra[i+1]
		}
		return env
	}

	if r := runFerry(t, ci, machine("FERRY_REQUESTER", "bob@example.com"), "", "run", "--no-progress"); r.code != exitWaiting {
		t.Fatalf("CI: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	onLaptop := machine()
	id := runStatusOn(t, laptop, onLaptop).ID
	if r := runFerry(t, laptop, onLaptop, "", "approve", id, "--env", "prod", "--key", demoKey(laptop, "bob")); r.code != exitFailed ||
		!strings.Contains(r.stderr, "bob@example.com started this run") {
		t.Errorf("the requester on her laptop: exit %d %q", r.code, r.stderr)
	}
	if r := runFerry(t, laptop, onLaptop, "", "approve", id, "--env", "prod", "--key", demoKey(laptop, "alice"), "--comment", "QA looked fine"); r.code != 0 {
		t.Fatalf("alice on her laptop: exit %d %s", r.code, r.stderr)
	}

	if r := runFerry(t, later, machine(), "", "resume", id, "--wait", "--poll-interval", "20ms", "--no-progress"); r.code != 0 {
		t.Fatalf("resume in a fresh clone: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	s := statusOf(t, later, machine(), id)
	svc := s.Service("delivery")
	pushed, promoted := svc.Stage("push").Outputs.Push, svc.Stage("promote:prod").Outputs.Promote
	if pushed == nil || promoted == nil || promoted.Digest != pushed.Digest {
		t.Fatalf("push %+v, promote %+v", pushed, promoted)
	}
	if got := verdicts(s); got != "alice@example.com approved" {
		t.Errorf("audit trail: %s", got)
	}
	d := s.Gates[0].Decisions[len(s.Gates[0].Decisions)-1]
	if d.Comment != "QA looked fine" || !strings.HasPrefix(d.Fingerprint, "SHA256:") || d.Image != pushed.Digest || d.Values == "" {
		t.Errorf("alice's decision in the audit trail: %+v", d)
	}
}

// cancelOn cancels when what was written contains want: Ctrl-C at a known moment.
type cancelOn struct {
	bytes.Buffer
	want   string
	cancel context.CancelFunc
}

func (c *cancelOn) Write(p []byte) (int, error) {
	n, err := c.Buffer.Write(p)
	if strings.Contains(c.Buffer.String(), c.want) {
		c.cancel()
	}
	return n, err
}

func TestWaitFlags(t *testing.T) {
	repo := exampleRepo(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "--timeout", "1m"}, "--timeout needs --wait"},
		{[]string{"resume", "x", "--wait", "--poll-interval", "0s"}, "--poll-interval must be positive"},
		{[]string{"approve", "x", "--env", "prod", "--wait", "--timeout", "-1s"}, "--timeout must be positive"},
	} {
		if r := runFerry(t, repo, nil, "", tc.args...); r.code != exitUsage || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%v: exit %d %q, want %q", tc.args, r.code, r.stderr, tc.want)
		}
	}
}
