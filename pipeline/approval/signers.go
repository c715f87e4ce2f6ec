package approval

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"

	"golang.org/x/crypto/ssh"
)

// Signer is one line of an allowed_signers file: principals and the key they sign with.
type Signer struct {
	Principals []string
	Key        ssh.PublicKey
	// Namespaces, when set, limits the key to those SSHSIG namespaces.
	Namespaces []string
	Line       int
}

// AllowedSigners is a parsed allowed_signers file (git's gpg.ssh.allowedSignersFile, the format
// of ssh-keygen(1)'s ALLOWED SIGNERS section): "principals [options] keytype base64 [comment]".
type AllowedSigners []Signer

// ParseAllowedSigners reads an allowed_signers file. Options other than namespaces= are
// refused by name (cert-authority, valid-after/valid-before): a key Ferry cannot honour fully
// must not be trusted half.
func ParseAllowedSigners(name string, data []byte) (AllowedSigners, error) {
	var out AllowedSigners
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		s, err := parseSigner(line)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, n, err)
		}
		s.Line = n
		out = append(out, s)
	}
	return out, sc.Err()
}

func parseSigner(line string) (Signer, error) {
	principals, rest, ok := strings.Cut(line, " ")
	if !ok {
		return Signer{}, fmt.Errorf("expected principals and a key")
	}
	s := Signer{Principals: strings.Split(principals, ",")}
	rest = strings.TrimSpace(rest)
	// Options come before the key type; a key type never contains '='.
	if opt, after, _ := strings.Cut(rest, " "); strings.Contains(opt, "=") || opt == "cert-authority" {
		for _, o := range splitOptions(opt) {
			k, v, _ := strings.Cut(o, "=")
			switch strings.ToLower(k) {
			case "namespaces":
				s.Namespaces = strings.Split(strings.Trim(v, `"`), ",")
			default:
				return Signer{}, fmt.Errorf("option %q is not supported", k)
			}
		}
		rest = strings.TrimSpace(after)
	}
	key, _, _, _, err := ssh.ParseAuthorizedKey([]byte(rest))
	if err != nil {
		return Signer{}, fmt.Errorf("key: %w", err)
	}
	s.Key = key
	return s, nil
}

// splitOptions splits comma-separated options, keeping quoted commas.
func splitOptions(s string) []string {
	var out []string
	quoted, start := false, 0
	for i, c := range s {
		switch {
		case c == '"':
			quoted = !quoted
		case c == ',' && !quoted:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// Principal returns the principal a key signs as for namespace: the first principal of the
// first line that lists the key. ok is false for a key no line allows.
func (a AllowedSigners) Principal(key ssh.PublicKey, namespace string) (principal string, ok bool) {
	want := key.Marshal()
	for _, s := range a {
		if !bytes.Equal(s.Key.Marshal(), want) {
			continue
		}
		if len(s.Namespaces) > 0 && !contains(s.Namespaces, namespace) {
			continue
		}
		return s.Principals[0], true
	}
	return "", false
}

// Principals returns every principal of the first line that allows key for namespace.
func (a AllowedSigners) Principals(key ssh.PublicKey, namespace string) []string {
	want := key.Marshal()
	for _, s := range a {
		if bytes.Equal(s.Key.Marshal(), want) && (len(s.Namespaces) == 0 || contains(s.Namespaces, namespace)) {
			return s.Principals
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
