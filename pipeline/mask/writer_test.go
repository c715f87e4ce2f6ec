package mask

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

// TestWriterSplit writes a line in two parts, cut at every position, and expects the same
// output as masking the whole text at once.
func TestWriterSplit(t *testing.T) {
	const secret = "p4ss/w0rd+secret"
	m := New(secret, "other-secret")
	texts := map[string]string{
		"line":          "login with " + secret + " ok\n",
		"no newline":    "login with " + secret,
		"two lines":     "a " + secret + "\nb " + secret + "\n",
		"overlap":       "x other-secret" + secret + "y\n",
		"only a secret": secret,
	}
	for name, text := range texts {
		t.Run(name, func(t *testing.T) {
			want := m.Mask(text)
			for i := 0; i <= len(text); i++ {
				var out bytes.Buffer
				w := m.Writer(&out)
				for _, part := range []string{text[:i], text[i:]} {
					if n, err := w.Write([]byte(part)); err != nil || n != len(part) {
						t.Fatalf("split %d: Write = %d, %v", i, n, err)
					}
				}
				if err := w.Close(); err != nil {
					t.Fatalf("split %d: Close: %v", i, err)
				}
				if out.String() != want {
					t.Errorf("split at %d: got %q, want %q", i, out.String(), want)
				}
			}
		})
	}
}

// TestWriterFlushesLines checks that complete lines are written at once, before Close.
func TestWriterFlushesLines(t *testing.T) {
	m := New("secret-value")
	var out bytes.Buffer
	w := m.Writer(&out)
	_, _ = w.Write([]byte("one secret-value\ntwo sec"))
	if got := out.String(); got != "one ***\n" {
		t.Errorf("after first write: %q", got)
	}
	_, _ = w.Write([]byte("ret-value"))
	if got := out.String(); got != "one ***\n" {
		t.Errorf("a partial line was written: %q", got)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != "one ***\ntwo ***" {
		t.Errorf("after Close: %q", got)
	}
}

// TestWriterBound writes more than MaxBuffer bytes without a newline with a secret split
// across the two writes at every position: the writer must flush before Close and still
// catch the secret on the boundary.
func TestWriterBound(t *testing.T) {
	const secret = "a-long-secret-split-at-the-buffer-bound"
	m := New(secret)
	pad := strings.Repeat("x", MaxBuffer+7)
	for i := 1; i < len(secret); i++ {
		var out bytes.Buffer
		w := m.Writer(&out)
		first, second := pad+secret[:i], secret[i:]+"yyy"
		_, _ = w.Write([]byte(first))
		if out.Len() == 0 {
			t.Fatalf("split %d: nothing written after %d bytes without a newline", i, len(first))
		}
		_, _ = w.Write([]byte(second))
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if want := pad + "***yyy"; out.String() != want {
			t.Fatalf("split %d: secret not masked across the bound (tail %q)", i, out.String()[max(0, out.Len()-60):])
		}
	}
}

func TestWriterError(t *testing.T) {
	w := New("secret").Writer(failingWriter{})
	if _, err := w.Write([]byte("line\n")); !errors.Is(err, errBroken) {
		t.Errorf("Write error = %v, want %v", err, errBroken)
	}
	if err := w.Close(); !errors.Is(err, errBroken) {
		t.Errorf("Close error = %v, want %v", err, errBroken)
	}
}

// BenchmarkWriter streams ordinary log lines through a masker that knows twenty tokens and a
// multi-line key: the cost every line of every stage log pays.
func BenchmarkWriter(b *testing.B) {
	var secrets []string
	for i := range 20 {
		secrets = append(secrets, strings.Repeat(string(rune('a'+i)), 30)+"-token")
	}
	secrets = append(secrets, strings.Repeat("MIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n", 25))
	m := New(secrets...)
	line := []byte(strings.Repeat("ordinary build output with words and numbers 12345 ", 2) + "\n")
	b.SetBytes(int64(len(line)))
	w := m.Writer(io.Discard)
	for b.Loop() {
		if _, err := w.Write(line); err != nil {
			b.Fatal(err)
		}
	}
}
