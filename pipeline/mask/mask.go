// Package mask hides secrets in everything Ferry writes: renderers, stage logs and the run
// journal. A Masker knows the secret values and every form in which a tool is likely to print
// them (raw, base64, URL-encoded, JSON-escaped, line by line), and replaces each occurrence
// with ***.
package mask

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"
)

// MinSecretLen is the shortest value, in bytes, that is masked. Shorter values (an empty
// variable, "1", "yes", "dev") occur everywhere in logs: masking them would hide the log
// without protecting anything worth protecting. The rule applies to each derived form and to
// each line of a multi-line secret too, so a short line such as "}" of a JSON key file stays
// visible.
const MinSecretLen = 4

// Redacted replaces every masked occurrence.
const Redacted = "***"

// Masker replaces secrets with ***. It is safe for concurrent use; Add rebuilds the matcher
// and concurrent Mask calls keep using the previous one until the new one is ready. The zero
// value masks nothing until secrets are added.
type Masker struct {
	mu      sync.Mutex // serialises Add
	secrets map[string]bool
	forms   map[string]bool
	m       atomic.Pointer[matcher]
}

// New returns a Masker for the secrets; values shorter than MinSecretLen are ignored.
func New(secrets ...string) *Masker {
	m := &Masker{}
	m.Add(secrets...)
	return m
}

// Add adds secrets; values shorter than MinSecretLen are ignored.
func (m *Masker) Add(secrets ...string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.secrets == nil {
		m.secrets, m.forms = map[string]bool{}, map[string]bool{}
	}
	changed := false
	for _, s := range secrets {
		if len(s) < MinSecretLen || m.secrets[s] {
			continue
		}
		m.secrets[s] = true
		for _, f := range Forms(s) {
			if !m.forms[f] {
				m.forms[f] = true
				changed = true
			}
		}
	}
	if !changed {
		return
	}
	forms := make([]string, 0, len(m.forms))
	for f := range m.forms {
		forms = append(forms, f)
	}
	m.m.Store(newMatcher(forms))
}

// Secrets is the number of distinct secrets the Masker knows.
func (m *Masker) Secrets() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.secrets)
}

// Mask replaces every form of every secret in s with ***. Where occurrences overlap or touch
// (two secrets sharing characters, a secret inside a longer one) the whole run is replaced
// once, so no part of either leaks.
func (m *Masker) Mask(s string) string {
	spans := find(m.matcher(), s)
	if len(spans) == 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	last := 0
	for _, sp := range spans {
		b.WriteString(s[last:sp.start])
		b.WriteString(Redacted)
		last = sp.end
	}
	b.WriteString(s[last:])
	return b.String()
}

// matcher is the current automaton; an empty one before any secret is added.
func (m *Masker) matcher() *matcher {
	if mt := m.m.Load(); mt != nil {
		return mt
	}
	return newMatcher(nil)
}

// maskBytes appends p with every span replaced to dst.
func maskBytes(dst, p []byte, spans []span) []byte {
	last := 0
	for _, sp := range spans {
		dst = append(dst, p[last:sp.start]...)
		dst = append(dst, Redacted...)
		last = sp.end
	}
	return append(dst, p[last:]...)
}

// Forms returns the ways a secret may appear in output, longest first: the value itself, its
// base64 encodings (standard and URL alphabets, padded and not, and the part that stays the
// same whatever precedes it), its URL escapes (query, path, RFC 3986 data, encodeURI that
// keeps / and :, in upper and lower case hex), JSON escapes, XML and HTML entities, and shell
// and command-line escapes (the forms GitHub's runner masks), and the same for each line of a
// multi-line value. Forms shorter than MinSecretLen are left out.
func Forms(secret string) []string {
	set := map[string]bool{}
	add := func(f string) {
		if len(f) >= MinSecretLen {
			set[f] = true
		}
	}
	addAll := func(v string) {
		add(v)
		for _, f := range base64Forms(v) {
			add(f)
		}
		for _, forms := range [][]string{urlForms(v), jsonForms(v), markupForms(v), shellForms(v)} {
			for _, f := range forms {
				add(f)
			}
		}
	}
	if len(secret) < MinSecretLen {
		return nil
	}
	addAll(secret)
	if strings.ContainsAny(secret, "\r\n") {
		// A PEM key or a kubeconfig is printed line by line (and with other indentation), so
		// each line is a secret of its own; GitHub Actions masks multi-line secrets the same way.
		for line := range strings.Lines(secret) {
			line = strings.TrimSpace(line)
			if len(line) >= MinSecretLen {
				addAll(line)
			}
		}
	}
	forms := make([]string, 0, len(set))
	for f := range set {
		forms = append(forms, f)
	}
	slices.SortFunc(forms, func(a, b string) int {
		if len(a) != len(b) {
			return len(b) - len(a)
		}
		return strings.Compare(a, b)
	})
	return forms
}

// base64Forms returns the encodings of v on its own, and for each of the three byte
// alignments the characters that depend only on v. "user:" + v encoded does not contain the
// encoding of v: base64 works on 3-byte groups, so the characters of v shift by the length of
// what precedes it modulo 3, and the first and last characters mix in neighbouring bytes.
func base64Forms(v string) []string {
	encs := []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding}
	var out []string
	for _, e := range encs {
		out = append(out, e.EncodeToString([]byte(v)))
	}
	for k := range 3 {
		buf := make([]byte, k, k+len(v))
		buf = append(buf, v...)
		first := (8*k + 5) / 6      // first character made only of v's bits
		end := 8 * (k + len(v)) / 6 // characters after this one include the next bytes
		for _, e := range encs[2:] {
			enc := e.EncodeToString(buf)
			if first < end {
				out = append(out, enc[first:end])
			}
		}
	}
	return out
}

// jsonForms returns v as it appears inside a JSON string literal written by common encoders:
// Go's (HTML-safe \u003c, and without HTML escaping), one that also escapes / (PHP, some Java),
// and one that escapes every non-ASCII character (Python's ensure_ascii).
func jsonForms(v string) []string {
	var out []string
	var b bytes.Buffer
	for _, html := range []bool{true, false} {
		b.Reset()
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(html)
		if err := enc.Encode(v); err != nil {
			continue
		}
		lit := strings.TrimSuffix(b.String(), "\n")
		lit = lit[1 : len(lit)-1]
		out = append(out, lit, strings.ReplaceAll(lit, "/", `\/`), asciiJSON(lit))
	}
	return out
}

// asciiJSON escapes every non-ASCII rune of a JSON string literal body as \uXXXX, with
// surrogate pairs above the BMP.
func asciiJSON(lit string) string {
	var b strings.Builder
	for _, r := range lit {
		switch {
		case r < utf8.RuneSelf:
			b.WriteRune(r)
		case r > 0xFFFF:
			r -= 0x10000
			writeU(&b, 0xD800+(r>>10))
			writeU(&b, 0xDC00+(r&0x3FF))
		default:
			writeU(&b, r)
		}
	}
	return b.String()
}

func writeU(b *strings.Builder, r rune) {
	const hex = "0123456789abcdef"
	b.WriteString(`\u`)
	for shift := 12; shift >= 0; shift -= 4 {
		b.WriteByte(hex[(r>>shift)&0xF])
	}
}
