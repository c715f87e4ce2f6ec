package approval_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/ferry-ci/ferry/internal/testenv"
	"github.com/ferry-ci/ferry/pipeline/approval"
)

// keyPair makes an ed25519 key with ssh-keygen and returns the private key file, the Go signer
// and the allowed_signers line for principal.
func keyPair(t *testing.T, principal string) (file string, signer ssh.Signer, line string) {
	t.Helper()
	bin := sshKeygen(t)
	file = filepath.Join(t.TempDir(), "id_ed25519")
	if out, err := exec.Command(bin, "-q", "-t", "ed25519", "-N", "", "-C", principal, "-f", file).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	priv, _ := os.ReadFile(file)
	signer, err := ssh.ParsePrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := os.ReadFile(file + ".pub")
	return file, signer, principal + " " + strings.TrimSpace(string(pub))
}

func sshKeygen(t *testing.T) string {
	t.Helper()
	bin, ok := testenv.LookBinary("", "ssh-keygen")
	if !ok {
		testenv.Missing(t, "ssh-keygen (openssh-client) not installed")
	}
	return bin
}

func statement() approval.Statement {
	return approval.NewStatement("20261202-101010.000-abcdef", "delivery", "prod", approval.Approve, "looks good",
		time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC), "sha256:"+strings.Repeat("a", 64), "sha256:"+strings.Repeat("b", 64))
}

func TestFerrySignatureVerifiesWithSSHKeygen(t *testing.T) {
	_, signer, line := keyPair(t, "alice@example.com")
	signed, err := approval.Sign(statement(), signer)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "allowed_signers"), []byte(line+"\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "statement"), signed.Statement, 0o644)
	os.WriteFile(filepath.Join(dir, "statement.sig"), []byte(signed.Signature), 0o644)
	cmd := exec.Command(sshKeygen(t), "-Y", "verify", "-f", "allowed_signers", "-I", "alice@example.com", "-n", approval.Namespace, "-s", "statement.sig")
	cmd.Dir = dir
	in, _ := os.Open(filepath.Join(dir, "statement"))
	defer in.Close()
	cmd.Stdin = in
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen -Y verify refused Ferry's signature: %v\n%s", err, out)
	}
}

func TestSSHKeygenSignatureVerifiesInFerry(t *testing.T) {
	file, _, line := keyPair(t, "bob@example.com")
	dir := t.TempDir()
	msg := filepath.Join(dir, "statement")
	os.WriteFile(msg, statement().Bytes(), 0o644)
	if out, err := exec.Command(sshKeygen(t), "-Y", "sign", "-f", file, "-n", approval.Namespace, msg).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen -Y sign: %v\n%s", err, out)
	}
	sig, _ := os.ReadFile(msg + ".sig")
	allowed, err := approval.ParseAllowedSigners("allowed_signers", []byte("# approvers\n"+line+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := approval.Verify(approval.Signed{Statement: statement().Bytes(), Signature: string(sig)}, allowed)
	if err != nil {
		t.Fatalf("Ferry refused ssh-keygen's signature: %v", err)
	}
	if v.Principal != "bob@example.com" || v.Service != "delivery" || v.Env != "prod" {
		t.Errorf("verified %+v", v)
	}
}

func TestForgeries(t *testing.T) {
	aliceFile, alice, aliceLine := keyPair(t, "alice@example.com")
	_, mallory, _ := keyPair(t, "mallory@example.com")
	allowed, err := approval.ParseAllowedSigners("allowed_signers", []byte(aliceLine+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	good, _ := approval.Sign(statement(), alice)
	altered := good
	other := statement()
	other.Image = "sha256:" + strings.Repeat("f", 64)
	altered.Statement = other.Bytes()
	unlisted, _ := approval.Sign(statement(), mallory)

	dir := t.TempDir()
	msg := filepath.Join(dir, "statement")
	os.WriteFile(msg, statement().Bytes(), 0o644)
	exec.Command(sshKeygen(t), "-Y", "sign", "-f", aliceFile, "-n", "git", msg).Run()
	gitSig, _ := os.ReadFile(msg + ".sig")
	wrongNamespace := approval.Signed{Statement: statement().Bytes(), Signature: string(gitSig)}

	cases := []struct {
		name   string
		signed approval.Signed
		want   string
	}{
		{"statement altered after signing (another digest)", altered, "does not verify"},
		{"key not in allowed_signers", unlisted, "not in the allowed signers"},
		{"signature made for git, not for approvals", wrongNamespace, `namespace "git"`},
		{"garbage", approval.Signed{Statement: statement().Bytes(), Signature: "not a signature"}, "approval signature"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := approval.Verify(tc.signed, allowed)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Verify = %v, want an error containing %q", err, tc.want)
			}
		})
	}
	if _, err := approval.Verify(unlisted, allowed); !errors.Is(err, approval.ErrNotAllowed) {
		t.Errorf("unlisted key: %v, want ErrNotAllowed", err)
	}
}

func TestParseAllowedSigners(t *testing.T) {
	_, _, line := keyPair(t, "alice@example.com")
	key := strings.SplitN(line, " ", 2)[1]
	cases := []struct {
		name, file, want string
	}{
		{"principals list and namespaces", "alice@example.com,alice " + `namespaces="ferry-approval,git" ` + key, ""},
		{"cert-authority", "*@example.com cert-authority " + key, `option "cert-authority" is not supported`},
		{"no key", "alice@example.com", "expected principals and a key"},
		{"bad key", "alice@example.com ssh-ed25519 AAAA", "key:"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := approval.ParseAllowedSigners("deploy/allowed_signers", []byte("\n"+tc.file+"\n"))
			switch {
			case tc.want == "" && err != nil:
				t.Fatal(err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "deploy/allowed_signers:2")):
				t.Fatalf("err = %v, want %q at deploy/allowed_signers:2", err, tc.want)
			case tc.want == "" && (len(got) != 1 || len(got[0].Principals) != 2 || len(got[0].Namespaces) != 2):
				t.Errorf("parsed %+v", got)
			}
		})
	}
}
