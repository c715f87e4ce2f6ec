package evidence_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"golang.org/x/crypto/ssh"

	"github.com/ferry-ci/ferry/internal/evidencetest"
	"github.com/ferry-ci/ferry/internal/registrytest"
	pev "github.com/ferry-ci/ferry/pipeline/evidence"
	"github.com/ferry-ci/ferry/stages/evidence"
)

// cosignKeyPair writes a key pair the way `cosign generate-key-pair` does (an ECDSA P-256 key,
// PKCS#8, encrypted with scrypt and secretbox under password, PEM type ENCRYPTED SIGSTORE
// PRIVATE KEY; cosign.pub a PEM public key), with sigstore's own code, and returns both paths.
func cosignKeyPair(t *testing.T, password string) (key, pub string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := cryptoutils.MarshalPrivateKeyToEncryptedDER(k, cryptoutils.StaticPasswordFunc([]byte(password)))
	if err != nil {
		t.Fatal(err)
	}
	pubPEM, err := cryptoutils.MarshalPublicKeyToPEM(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	key, pub = filepath.Join(dir, "cosign.key"), filepath.Join(dir, "cosign.pub")
	os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED SIGSTORE PRIVATE KEY", Bytes: der}), 0o600)
	os.WriteFile(pub, pubPEM, 0o644)
	return key, pub
}

func sshKeyFile(t *testing.T, passphrase string) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "id_ed25519")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-f", file).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v %s", err, out)
	}
	return file
}

func TestKeyFile(t *testing.T) {
	cosignKey, _ := cosignKeyPair(t, "s3cret")
	plain, locked := sshKeyFile(t, ""), sshKeyFile(t, "pass phrase")
	cosignPEM, _ := os.ReadFile(cosignKey)
	tests := []struct {
		name, spec string
		env        map[string]string
		keyType    string // of the signer; "" when an error is wanted
		err        string
	}{
		{"an OpenSSH key", plain, nil, ssh.KeyAlgoED25519, ""},
		{"an encrypted OpenSSH key", locked, map[string]string{"FERRY_SIGNING_KEY_PASSPHRASE": "pass phrase"}, ssh.KeyAlgoED25519, ""},
		{"an encrypted OpenSSH key without its passphrase", locked, nil, "", "the key is encrypted: set FERRY_SIGNING_KEY_PASSPHRASE"},
		{"a cosign key with FERRY_SIGNING_KEY_PASSPHRASE", cosignKey, map[string]string{"FERRY_SIGNING_KEY_PASSPHRASE": "s3cret"}, ssh.KeyAlgoECDSA256, ""},
		{"a cosign key with COSIGN_PASSWORD", cosignKey, map[string]string{"COSIGN_PASSWORD": "s3cret"}, ssh.KeyAlgoECDSA256, ""},
		{"a cosign key from a secret variable", "env://COSIGN_PRIVATE_KEY", map[string]string{"COSIGN_PRIVATE_KEY": string(cosignPEM), "COSIGN_PASSWORD": "s3cret"}, ssh.KeyAlgoECDSA256, ""},
		{"a cosign key, wrong password", cosignKey, map[string]string{"COSIGN_PASSWORD": "guess"}, "", "cosign key: "},
		{"a cosign key, no password", cosignKey, nil, "", "a cosign key is encrypted: set FERRY_SIGNING_KEY_PASSPHRASE or COSIGN_PASSWORD"},
		{"an unset secret variable", "env://COSIGN_PRIVATE_KEY", nil, "", "env://COSIGN_PRIVATE_KEY: the variable COSIGN_PRIVATE_KEY is empty or not set"},
		{"a missing file", filepath.Join(t.TempDir(), "nope"), nil, "", "no such file"},
		{"not a key", "env://K", map[string]string{"K": "hello"}, "", "env://K: ssh: no key found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := evidence.KeyFile(tt.spec, func(k string) string { return tt.env[k] })()
			switch {
			case tt.err != "":
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Errorf("err = %v, want %q", err, tt.err)
				}
				if err != nil && tt.env["COSIGN_PRIVATE_KEY"] != "" && strings.Contains(err.Error(), "PRIVATE KEY") {
					t.Errorf("the error shows the key: %v", err)
				}
			case err != nil:
				t.Fatal(err)
			case s.PublicKey().Type() != tt.keyType:
				t.Errorf("key type %s, want %s", s.PublicKey().Type(), tt.keyType)
			}
		})
	}
	if evidence.KeyFile("", nil) != nil {
		t.Error("no spec must mean unsigned evidence")
	}
}

// TestCosignKeySignsEvidence: evidence signed with a cosign key verifies against its cosign.pub
// (ferry verify --evidence-signers cosign.pub) and with ssh-keygen -Y verify, and not against
// another key.
func TestCosignKeySignsEvidence(t *testing.T) {
	key, pub := cosignKeyPair(t, "s3cret")
	signer, err := evidence.KeyFile(key, func(k string) string { return map[string]string{"COSIGN_PASSWORD": "s3cret"}[k] })()
	if err != nil {
		t.Fatal(err)
	}
	_, image := promoted(t, registrytest.InMemory(t), evidencetest.Options{Report: evidencetest.CleanReport, Passed: true, Signer: signer})
	data, _ := os.ReadFile(pub)
	signers, err := evidence.ParseEvidenceSigners(pub, data)
	if err != nil || len(signers) != 1 || signers[0].Principals[0] != "cosign.pub" {
		t.Fatalf("cosign.pub: %v %+v", err, signers)
	}
	res := verify(t, image, pev.Trust{EvidenceSigners: signers})
	if !res.OK {
		t.Errorf("evidence signed with the cosign key: %+v", res)
	}
	for _, c := range res.Checks[:3] {
		if !strings.Contains(c.Detail, "signed by cosign.pub") {
			t.Errorf("%s = %+v", c.Name, c)
		}
	}
	_, otherPub := cosignKeyPair(t, "x")
	other, _ := os.ReadFile(otherPub)
	wrong, _ := evidence.ParseEvidenceSigners(otherPub, other)
	if res := verify(t, image, pev.Trust{EvidenceSigners: wrong}); res.OK {
		t.Errorf("evidence verified against another cosign key: %+v", res)
	}
	if _, err := evidence.ParseEvidenceSigners("bad.pub", []byte("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")); err == nil || !strings.Contains(err.Error(), "bad.pub: public key 1") {
		t.Errorf("a broken PEM key: %v", err)
	}

	found, err := evidence.Fetch(t.Context(), image, nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	allowed, sig := filepath.Join(dir, "allowed"), filepath.Join(dir, "sig")
	os.WriteFile(allowed, []byte("ci "+string(ssh.MarshalAuthorizedKey(signer.PublicKey()))), 0o600)
	for _, f := range found {
		os.WriteFile(sig, f.Signature, 0o600)
		cmd := exec.Command("ssh-keygen", "-Y", "verify", "-f", allowed, "-I", "ci", "-n", pev.Namespace, "-s", sig)
		cmd.Stdin = strings.NewReader(string(f.Payload))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("ssh-keygen -Y verify of %s: %v\n%s", f.ArtifactType, err, out)
		}
	}
}
