package report

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ferry-ci/ferry/pipeline"
	"github.com/ferry-ci/ferry/pipeline/mask"
)

func TestEscapes(t *testing.T) {
	tests := []struct {
		name string
		fn   func(string) string
		in   string
		want string
	}{
		{"github data", ghData, "50% done\r\nnext: a,b", "50%25 done%0D%0Anext: a,b"},
		{"github property", ghProperty, "a:b,c%\n", "a%3Ab%2Cc%25%0A"},
		{"azure data", azureEscape, "50% done\r\n;]", "50%AZP25 done%0D%0A;]"},
		{"azure property", azureProperty, "a;b]c%\n", "a%3Bb%5Dc%AZP25%0A"},
		{"markdown cell", mdCell, "a|b\r\nc", `a\|b<br>c`},
		{"one line", oneLine, "a\r\nb\nc", "a b c"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.fn(tt.in); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestWriteGitHubOutput(t *testing.T) {
	tests := []struct {
		name, value string
		want        *regexp.Regexp
	}{
		{"single line", `{"a":"b"}`, regexp.MustCompile(`^x=\{"a":"b"\}\n$`)},
		{"multi-line uses a heredoc", "line 1\nline 2", regexp.MustCompile(`^x<<(ghadelimiter_[A-Z2-7]+)\nline 1\nline 2\n(ghadelimiter_[A-Z2-7]+)\n$`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := writeGitHubOutput(&b, "x", tt.value); err != nil {
				t.Fatal(err)
			}
			m := tt.want.FindStringSubmatch(b.String())
			if m == nil {
				t.Fatalf("got %q", b.String())
			}
			if len(m) == 3 && m[1] != m[2] {
				t.Errorf("delimiters differ: %q", b.String())
			}
		})
	}
}

func TestDigestRef(t *testing.T) {
	tests := []struct {
		ref, digest, want string
	}{
		{"registry.example.com/app:1.0", "sha256:ab", "registry.example.com/app@sha256:ab"},
		{"registry.example.com:5000/team/app:1.0", "sha256:ab", "registry.example.com:5000/team/app@sha256:ab"},
		{"registry.example.com:5000/team/app", "sha256:ab", "registry.example.com:5000/team/app@sha256:ab"},
		{"registry.example.com/app@sha256:ab", "sha256:ab", "registry.example.com/app@sha256:ab"},
		{"registry.example.com/app:1.0", "", "registry.example.com/app:1.0"},
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			if got := digestRef(&pipeline.PushOutput{Ref: tt.ref, Digest: tt.digest}); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestLogCommandsDefused checks that a stage log cannot issue CI commands through a renderer.
func TestLogCommandsDefused(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "test.log")
	content := "::add-mask::x\n##vso[task.setvariable variable=PATH]/evil\n  ##[error]fake\nok ##vso[task.complete result=Failed]\nno newline at the end"
	if err := os.WriteFile(log, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	e := pipeline.Event{Kind: pipeline.StageFinished, Run: "r", Service: "svc", Stage: "test", Status: pipeline.Succeeded, LogFile: log}

	t.Run("github", func(t *testing.T) {
		var out bytes.Buffer
		g := NewGitHub(&out, GitHubOptions{})
		g.Report(e)
		lines := strings.Split(out.String(), "\n")
		// group, stop-commands, 5 log lines, resume, endgroup.
		if len(lines) < 9 || !strings.HasPrefix(lines[1], "::stop-commands::") || lines[7] != "::"+strings.TrimPrefix(lines[1], "::stop-commands::")+"::" || lines[8] != "::endgroup::" {
			t.Errorf("log not fenced by stop-commands:\n%s", out.String())
		}
		if lines[6] != "no newline at the end" {
			t.Errorf("last log line %q", lines[6])
		}
	})
	t.Run("azure", func(t *testing.T) {
		var out bytes.Buffer
		a := NewAzure(&out, AzureOptions{})
		a.Report(e)
		for line := range strings.Lines(out.String()) {
			if strings.Contains(line, "##vso[") || strings.HasPrefix(strings.TrimLeft(line, " "), "##[") && !strings.HasPrefix(line, "##[group]") && !strings.HasPrefix(line, "##[endgroup]") {
				t.Errorf("live command in output: %q", line)
			}
		}
		if !strings.Contains(out.String(), "no newline at the end\n##[endgroup]\n") {
			t.Errorf("group not closed on its own line:\n%s", out.String())
		}
	})
}

// TestRenderersBehindMasker runs every renderer with its output going through the masker, with
// the secret in event messages and in a log file (which the engine masks already; the
// masker in front of the renderer is the second line of defence).
func TestRenderersBehindMasker(t *testing.T) {
	const secret = "hunter2-very-secret"
	m := mask.New(secret)
	type renderer interface {
		pipeline.Reporter
		Close() error
	}
	renderers := map[string]func(w io.Writer, s *scenario) renderer{
		"terminal": func(w io.Writer, s *scenario) renderer {
			return NewTerminal(w, TerminalOptions{Verbose: true, Now: fixedNow})
		},
		"terminal live": func(w io.Writer, s *scenario) renderer {
			return NewTerminal(w, TerminalOptions{TTY: true, Progress: true, Now: fixedNow})
		},
		"github": func(w io.Writer, s *scenario) renderer {
			return NewGitHub(w, GitHubOptions{RepoRoot: s.repo})
		},
		"azure": func(w io.Writer, s *scenario) renderer {
			return NewAzure(w, AzureOptions{RepoRoot: s.repo})
		},
		"jsonl": func(w io.Writer, s *scenario) renderer { return NewJSONLines(w) },
	}
	for name, mk := range renderers {
		t.Run(name, func(t *testing.T) {
			s := newScenario(t)
			for i, e := range s.events {
				switch e.Kind {
				case pipeline.StageLog, pipeline.StageFinished:
					if e.Message != "" {
						s.events[i].Message = e.Message + " token=" + secret
					}
				}
				if e.LogFile != "" {
					f, err := os.OpenFile(e.LogFile, os.O_APPEND|os.O_WRONLY, 0)
					if err != nil {
						t.Fatal(err)
					}
					_, _ = f.WriteString("curl -u deploy:" + secret + " https://x\n")
					_ = f.Close()
				}
			}
			var out bytes.Buffer
			w := m.Writer(&out)
			r := mk(w, s) // the renderer writes to the masker, which writes to out
			s.play(r)
			if err := r.Close(); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(out.String(), secret) {
				t.Errorf("secret in output:\n%s", out.String())
			}
			if !strings.Contains(out.String(), "***") {
				t.Errorf("nothing masked:\n%s", out.String())
			}
		})
	}
}
