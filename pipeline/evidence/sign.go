package evidence

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/hiddeco/sshsig"
	"golang.org/x/crypto/ssh"

	"github.com/ferry-ci/ferry/pipeline/approval"
)

// Sign signs the artifact's payload with an SSH key (SSHSIG, namespace ferry-evidence), as
// `ssh-keygen -Y sign -n ferry-evidence` would.
func (a Artifact) Sign(signer ssh.Signer) (Artifact, error) {
	sig, err := sshsig.Sign(bytes.NewReader(a.Payload), signer, sshsig.HashSHA512, Namespace)
	if err != nil {
		return a, fmt.Errorf("sign %s evidence: %w", a.ArtifactType, err)
	}
	a.Signature = sshsig.Armor(sig)
	return a, nil
}

// SignatureCheck is what an evidence signature says.
type SignatureCheck struct {
	Fingerprint string
	// Principal is set when the key is in the allowed signers given.
	Principal string
}

// VerifySignature checks an armored SSHSIG over payload. With allowed signers, the key must
// be one of them (for the ferry-evidence namespace); without, only the signature is checked
// and the key is reported, for the caller to say it is not pinned.
func VerifySignature(payload, armored []byte, allowed approval.AllowedSigners) (SignatureCheck, error) {
	sig, err := sshsig.Unarmor(armored)
	if err != nil {
		return SignatureCheck{}, fmt.Errorf("evidence signature: %w", err)
	}
	if sig.Namespace != Namespace {
		return SignatureCheck{}, fmt.Errorf("evidence signature is for namespace %q, not %q", sig.Namespace, Namespace)
	}
	if err := sshsig.Verify(bytes.NewReader(payload), sig, sig.PublicKey, sig.HashAlgorithm, Namespace); err != nil {
		return SignatureCheck{}, fmt.Errorf("evidence signature does not verify: %w", err)
	}
	c := SignatureCheck{Fingerprint: ssh.FingerprintSHA256(sig.PublicKey)}
	if allowed != nil {
		p, ok := allowed.Principal(sig.PublicKey, Namespace)
		if !ok {
			return c, fmt.Errorf("evidence signed by %s, which is not in the evidence signers", c.Fingerprint)
		}
		c.Principal = p
	}
	return c, nil
}

// MarshalAllowedSigners writes allowed signers back in git's allowed_signers format, one
// line per signer, so that the approvals evidence carries the exact trust the gate used.
func MarshalAllowedSigners(a approval.AllowedSigners) string {
	var b strings.Builder
	for _, s := range a {
		b.WriteString(strings.Join(s.Principals, ","))
		if len(s.Namespaces) > 0 {
			fmt.Fprintf(&b, ` namespaces="%s"`, strings.Join(s.Namespaces, ","))
		}
		b.WriteByte(' ')
		b.Write(bytes.TrimSpace(ssh.MarshalAuthorizedKey(s.Key)))
		b.WriteByte('\n')
	}
	return b.String()
}
