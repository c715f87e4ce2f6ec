package mask

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"html"
	"math/rand/v2"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// stable is the part of base64(prefix+secret+suffix) that only the secret decides, with the
// characters before and after it: what Mask is expected to leave.
func stable(enc string, prefix, n int) (before, after string) {
	first := (8*prefix + 5) / 6
	end := 8 * (prefix + n) / 6
	return enc[:first], enc[end:]
}

func TestMaskForms(t *testing.T) {
	const secret = "s3cr3t/T0ken+with spaces&<html>=\"quoted\"\\slash"
	m := New(secret)
	jsonHTML, _ := json.Marshal(map[string]string{"password": secret})
	var noHTML bytes.Buffer
	enc := json.NewEncoder(&noHTML)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(map[string]string{"password": secret})

	tests := []struct {
		name, in, want string
	}{
		{"raw", "token=" + secret + " end", "token=*** end"},
		{"raw twice", secret + secret + "|" + secret, "***|***"},
		{"base64 std", "x " + base64.StdEncoding.EncodeToString([]byte(secret)) + " y", "x *** y"},
		{"base64 url", "x " + base64.URLEncoding.EncodeToString([]byte(secret)) + " y", "x *** y"},
		{"base64 raw std", "x " + base64.RawStdEncoding.EncodeToString([]byte(secret)) + " y", "x *** y"},
		{"base64 raw url", "x " + base64.RawURLEncoding.EncodeToString([]byte(secret)) + " y", "x *** y"},
		{"query escape", "https://h/?p=" + url.QueryEscape(secret) + "&q=1", "https://h/?p=***&q=1"},
		{"path escape", "https://h/" + url.PathEscape(secret) + "/x", "https://h/***/x"},
		{"json html-escaped", string(jsonHTML), `{"password":"***"}`},
		{"json not html-escaped", noHTML.String(), `{"password":"***"}` + "\n"},
		{"json escaped slash", `{"p":"` + strings.ReplaceAll(mustJSONBody(secret), "/", `\/`) + `"}`, `{"p":"***"}`},
		{"query escape lower hex", "?p=" + regexp.MustCompile(`%[0-9A-F]{2}`).ReplaceAllStringFunc(url.QueryEscape(secret), strings.ToLower) + "&", "?p=***&"},
		{"rfc 3986 data escape", "?p=" + rfc3986(secret) + "&", "?p=***&"},
		{"encodeURI keeps slash", "https://h/" + encodeURI(secret) + "#", "https://h/***#"},
		{"html", "<td>" + html.EscapeString(secret) + "</td>", "<td>***</td>"},
		{"xml named entities", "<p v=\"" + xmlEscape(secret) + "\"/>", "<p v=\"***\"/>"},
		{"shell single quotes", "curl -u '" + strings.ReplaceAll(secret, "'", `'\''`) + "'", "curl -u '***'"},
		{"shell double quotes", `echo "` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "$", `\$`, "`", "\\`").Replace(secret) + `"`, `echo "***"`},
		{"windows argument", `tool.exe "` + windowsQuote(secret) + `"`, `tool.exe "***"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := m.Mask(tt.in); got != tt.want {
				t.Errorf("Mask(%q)\n got %q\nwant %q", tt.in, got, tt.want)
			}
		})
	}
}

func mustJSONBody(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	return string(b[1 : len(b)-1])
}

// TestMaskBase64Alignment encodes the secret after 0..5 bytes of prefix and before a suffix,
// as in an HTTP basic auth header: every character that only the secret decides is masked.
func TestMaskBase64Alignment(t *testing.T) {
	const secret = "hunter2-is-my-password"
	m := New(secret)
	encs := map[string]*base64.Encoding{
		"std": base64.StdEncoding, "url": base64.URLEncoding,
		"raw std": base64.RawStdEncoding, "raw url": base64.RawURLEncoding,
	}
	for name, e := range encs {
		for _, prefix := range []string{"", "u", "us", "user:", "admin:", "x"} {
			for _, suffix := range []string{"", "@", "@h", "@ho"} {
				t.Run(name+"/"+prefix+"/"+suffix, func(t *testing.T) {
					raw := e.EncodeToString([]byte(prefix + secret + suffix))
					got := m.Mask("Authorization: Basic " + raw)
					before, after := stable(raw, len(prefix), len(secret))
					want := "Authorization: Basic " + before + "***" + after
					if suffix == "" && len(prefix)%3 == 0 {
						// The encoding of the secret on its own, padding included, is a form.
						want = "Authorization: Basic " + before + "***"
					}
					if got != want {
						t.Errorf("got  %q\nwant %q", got, want)
					}
				})
			}
		}
	}
}

func TestMaskJSONNonASCII(t *testing.T) {
	const secret = "café-😀-secret"
	m := New(secret)
	tests := []struct{ name, in string }{
		{"utf-8", `{"p":"café-😀-secret"}`},
		{"ensure_ascii", `{"p": "caf\u00e9-\ud83d\ude00-secret"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := m.Mask(tt.in)
			if strings.Contains(got, "secret") || !strings.Contains(got, `"***"`) {
				t.Errorf("Mask(%q) = %q", tt.in, got)
			}
		})
	}
}

func TestMaskMultiLine(t *testing.T) {
	const key = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\n}\n-----END PRIVATE KEY-----\n"
	m := New(key)
	tests := []struct{ name, in, want string }{
		{"as is", "key:\n" + key + "done", "key:\n***done"},
		{"indented, CRLF", "    MIIEvQIBADANBgkqhkiG9w0BAQEFAASC\r\n    BKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\r\n", "    ***\r\n    ***\r\n"},
		{"one line", "got MIIEvQIBADANBgkqhkiG9w0BAQEFAASC here", "got *** here"},
		{"json", `{"key":` + string(mustJSON(key)) + `}`, `{"key":"***"}`},
		{"short line stays", "}\n", "}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := m.Mask(tt.in); got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

func mustJSON(s string) []byte {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	return b
}

func TestMaskOverlapping(t *testing.T) {
	tests := []struct {
		name    string
		secrets []string
		in      string
		want    string
	}{
		{"overlap", []string{"abcdef", "defghi"}, "<abcdefghi>", "<***>"},
		{"overlap reversed", []string{"defghi", "abcdef"}, "<abcdefghi>", "<***>"},
		{"inside a longer one", []string{"secret", "my-secret-value"}, "a my-secret-value b secret", "a *** b ***"},
		{"touching", []string{"aaaa", "bbbb"}, "aaaabbbb", "***"},
		{"longer starts earlier", []string{"cdef", "abcdefgh"}, "xabcdefghx", "x***x"},
		{"too short", []string{"abc", ""}, "abc", "abc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := New(tt.secrets...).Mask(tt.in); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSecrets(t *testing.T) {
	m := New("", "abc", "abcd", "abcd")
	m.Add("efgh\nijkl", "x")
	if got := m.Secrets(); got != 2 {
		t.Errorf("Secrets() = %d, want 2", got)
	}
	if got := m.Mask("abc abcd efgh"); got != "abc *** ***" {
		t.Errorf("Mask = %q", got)
	}
}

// TestMatcherAgainstNaive compares the automaton with a search for every pattern at every
// position, on random text over a small alphabet where patterns overlap a lot.
func TestMatcherAgainstNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	word := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = "abc"[rng.IntN(3)]
		}
		return string(b)
	}
	for i := range 500 {
		var pats []string
		for range 1 + rng.IntN(6) {
			pats = append(pats, word(1+rng.IntN(6)))
		}
		text := word(rng.IntN(40))
		got := find(newMatcher(pats), text)
		want := naiveSpans(pats, text)
		if !equalSpans(got, want) {
			t.Fatalf("case %d: patterns %q in %q: got %v, want %v", i, pats, text, got, want)
		}
	}
}

func naiveSpans(pats []string, text string) []span {
	var spans []span
	for _, p := range pats {
		for i := 0; i+len(p) <= len(text); i++ {
			if text[i:i+len(p)] == p {
				spans = append(spans, span{i, i + len(p)})
			}
		}
	}
	// Merge overlapping and touching spans.
	for changed := true; changed; {
		changed = false
		for i := 0; i < len(spans) && !changed; i++ {
			for j := i + 1; j < len(spans); j++ {
				a, b := spans[i], spans[j]
				if a.start <= b.end && b.start <= a.end {
					spans[i] = span{min(a.start, b.start), max(a.end, b.end)}
					spans = append(spans[:j], spans[j+1:]...)
					changed = true
					break
				}
			}
		}
	}
	for i := 1; i < len(spans); i++ {
		for j := i; j > 0 && spans[j].start < spans[j-1].start; j-- {
			spans[j], spans[j-1] = spans[j-1], spans[j]
		}
	}
	return spans
}

func equalSpans(a, b []span) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestZeroMasker(t *testing.T) {
	var m Masker
	if got := m.Mask("nothing to hide"); got != "nothing to hide" {
		t.Errorf("Mask = %q", got)
	}
	m.Add("later-secret")
	if got := m.Mask("a later-secret"); got != "a ***" {
		t.Errorf("Mask = %q", got)
	}
}

func TestSecretsFromEnv(t *testing.T) {
	env := map[string]string{
		"DB_PASSWORD":         "db-pass",
		"API_KEY":             "key-1",
		"EMPTY":               "",
		"GITHUB_TOKEN":        "ghs_abc",
		"DOCKER_PASSWORD":     "db-pass", // a duplicate value is listed once
		"AZURE_CLIENT_SECRET": "azure",
		"UNRELATED":           "visible",
	}
	got := SecretsFromEnv(func(k string) string { return env[k] }, []string{"DB_PASSWORD", "EMPTY", "API_KEY", "MISSING"})
	want := []string{"db-pass", "key-1", "ghs_abc", "azure"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("SecretsFromEnv = %q, want %q", got, want)
	}
}

func TestConcurrentAddAndMask(t *testing.T) {
	m := New("first-secret")
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			for j := range 50 {
				m.Add(strings.Repeat("s", 4+i*50+j))
				if got := m.Mask("a first-secret b"); got != "a *** b" {
					t.Errorf("Mask = %q", got)
					return
				}
			}
		})
	}
	wg.Wait()
}

var errBroken = errors.New("broken pipe")

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errBroken }

// The reference encoders below are written independently of forms.go, from each format's rules.

func rfc3986(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-_.~", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

func encodeURI(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-_.~/:?&=+$,#@;!*'()", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

func xmlEscape(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s))
	return strings.NewReplacer("&#34;", "&quot;", "&#39;", "&apos;").Replace(b.String())
}

// windowsQuote quotes for CommandLineToArgvW: backslashes before a quote are doubled and the
// quote escaped.
func windowsQuote(s string) string {
	var b strings.Builder
	n := 0
	for _, c := range s {
		if c == '\\' {
			n++
			continue
		}
		if c == '"' {
			b.WriteString(strings.Repeat(`\`, 2*n+1))
		} else {
			b.WriteString(strings.Repeat(`\`, n))
		}
		n = 0
		b.WriteRune(c)
	}
	b.WriteString(strings.Repeat(`\`, n))
	return b.String()
}
