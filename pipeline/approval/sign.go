package approval

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/hiddeco/sshsig"
	"golang.org/x/crypto/ssh"
)

// Signed is a statement with its armored SSHSIG signature, as journaled.
type Signed struct {
	Statement []byte `json:"statement"`
	Signature string `json:"signature"` // -----BEGIN SSH SIGNATURE-----
}

// Sign signs a statement with an SSH key (from a key file or the ssh-agent).
func Sign(st Statement, signer ssh.Signer) (Signed, error) {
	msg := st.Bytes()
	sig, err := sshsig.Sign(bytes.NewReader(msg), signer, sshsig.HashSHA512, Namespace)
	if err != nil {
		return Signed{}, fmt.Errorf("sign approval: %w", err)
	}
	return Signed{Statement: msg, Signature: string(sshsig.Armor(sig))}, nil
}

// Verified is a signed statement whose signature holds, and who made it.
type Verified struct {
	Statement
	Principal string
	// Principals are all the names the key's allowed_signers line gives it (Principal first):
	// an e-mail and a CI login, say, both of which the requester and author rules match.
	Principals  []string
	Fingerprint string
}

// ErrNotAllowed means the signing key is not in the allowed signers.
var ErrNotAllowed = errors.New("key not in the allowed signers")

// Verify checks the signature over the exact statement bytes with the key it names, and that
// an allowed signer holds that key for the approval namespace. The principal comes from the
// allowed_signers file, never from the statement.
func Verify(s Signed, allowed AllowedSigners) (Verified, error) {
	sig, err := sshsig.Unarmor([]byte(s.Signature))
	if err != nil {
		return Verified{}, fmt.Errorf("approval signature: %w", err)
	}
	if sig.Namespace != Namespace {
		return Verified{}, fmt.Errorf("approval signature is for namespace %q, not %q", sig.Namespace, Namespace)
	}
	if err := sshsig.Verify(bytes.NewReader(s.Statement), sig, sig.PublicKey, sig.HashAlgorithm, Namespace); err != nil {
		return Verified{}, fmt.Errorf("approval signature does not verify: %w", err)
	}
	fp := ssh.FingerprintSHA256(sig.PublicKey)
	principal, ok := allowed.Principal(sig.PublicKey, Namespace)
	if !ok {
		return Verified{}, fmt.Errorf("%w: %s", ErrNotAllowed, fp)
	}
	st, err := ParseStatement(s.Statement)
	if err != nil {
		return Verified{}, err
	}
	return Verified{Statement: st, Principal: principal, Principals: allowed.Principals(sig.PublicKey, Namespace), Fingerprint: fp}, nil
}
