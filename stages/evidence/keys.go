package evidence

import (
	"bytes"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"golang.org/x/crypto/ssh"

	"github.com/ferry-ci/ferry/pipeline/approval"
	pev "github.com/ferry-ci/ferry/pipeline/evidence"
)

// KeyFile signs evidence with the private key spec names (FERRY_SIGNING_KEY): a file path, or
// env://NAME for a key held in the environment variable NAME (a CI secret, as cosign's
// --key env://COSIGN_PRIVATE_KEY). The key is an OpenSSH or PEM private key, or a cosign key
// (`cosign generate-key-pair`: ENCRYPTED SIGSTORE PRIVATE KEY), decrypted with
// FERRY_SIGNING_KEY_PASSPHRASE, else COSIGN_PASSWORD. Whatever the key, the signature is an
// SSHSIG, so one verifier (ferry verify, ssh-keygen -Y verify) checks them all. nil for no spec.
func KeyFile(spec string, env func(string) string) SignerFunc {
	if spec == "" {
		return nil
	}
	return func() (ssh.Signer, error) {
		data, err := readKey(spec, env)
		if err != nil {
			return nil, err
		}
		passphrase := env("FERRY_SIGNING_KEY_PASSPHRASE")
		if passphrase == "" {
			passphrase = env("COSIGN_PASSWORD")
		}
		k, err := parseSigningKey(data, passphrase)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", spec, err)
		}
		return k, nil
	}
}

// readKey reads a key file, or an env://NAME variable's value.
func readKey(spec string, env func(string) string) ([]byte, error) {
	if name, ok := strings.CutPrefix(spec, "env://"); ok {
		v := env(name)
		if v == "" {
			return nil, fmt.Errorf("%s: the variable %s is empty or not set", spec, name)
		}
		return []byte(v), nil
	}
	return os.ReadFile(spec)
}

// cosignKeyTypes are the PEM types of cosign's encrypted private keys, old and new.
var cosignKeyTypes = []string{"ENCRYPTED SIGSTORE PRIVATE KEY", "ENCRYPTED COSIGN PRIVATE KEY"}

func parseSigningKey(data []byte, passphrase string) (ssh.Signer, error) {
	if block, _ := pem.Decode(data); block != nil && (block.Type == cosignKeyTypes[0] || block.Type == cosignKeyTypes[1]) {
		if passphrase == "" {
			return nil, errors.New("a cosign key is encrypted: set FERRY_SIGNING_KEY_PASSPHRASE or COSIGN_PASSWORD")
		}
		key, err := cryptoutils.UnmarshalPEMToPrivateKey(data, cryptoutils.StaticPasswordFunc([]byte(passphrase)))
		if err != nil {
			return nil, fmt.Errorf("cosign key: %w", err)
		}
		return ssh.NewSignerFromKey(key)
	}
	k, err := ssh.ParsePrivateKey(data)
	var missing *ssh.PassphraseMissingError
	if errors.As(err, &missing) {
		if passphrase == "" {
			return nil, errors.New("the key is encrypted: set FERRY_SIGNING_KEY_PASSPHRASE")
		}
		k, err = ssh.ParsePrivateKeyWithPassphrase(data, []byte(passphrase))
	}
	return k, err
}

// ParseEvidenceSigners reads the keys evidence must be signed with: an allowed_signers file,
// or PEM public keys (cosign.pub, as `cosign generate-key-pair` writes it), each then known
// by the file's name as its principal.
func ParseEvidenceSigners(file string, data []byte) (approval.AllowedSigners, error) {
	if !bytes.Contains(data, []byte("-----BEGIN PUBLIC KEY-----")) {
		return approval.ParseAllowedSigners(file, data)
	}
	var out approval.AllowedSigners
	for rest := data; ; {
		var block *pem.Block
		if block, rest = pem.Decode(rest); block == nil {
			break
		}
		key, err := cryptoutils.UnmarshalPEMToPublicKey(pem.EncodeToMemory(block))
		if err != nil {
			return nil, fmt.Errorf("%s: public key %d: %w", file, len(out)+1, err)
		}
		pub, err := ssh.NewPublicKey(key)
		if err != nil {
			return nil, fmt.Errorf("%s: public key %d: %w", file, len(out)+1, err)
		}
		out = append(out, approval.Signer{Principals: []string{filepath.Base(file)}, Key: pub, Namespaces: []string{pev.Namespace}, Line: len(out) + 1})
	}
	return out, nil
}
