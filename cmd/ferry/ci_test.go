package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCIGenerateGolden(t *testing.T) {
	repo := exampleRepo(t)
	for _, target := range []string{"github", "azure"} {
		t.Run(target, func(t *testing.T) {
			r := runFerry(t, repo, nil, "", "ci", "generate", target)
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			// The example keeps runs locally: the environment jobs could not resume them.
			if !strings.Contains(r.stderr, "warning: ferry.yaml keeps runs on the machine") {
				t.Errorf("stderr = %q, want the state warning", r.stderr)
			}
			golden(t, "ci/generate-"+target+".golden", r.stdout)
		})
	}
}

func TestCIGenerateCheck(t *testing.T) {
	repo := exampleRepo(t)
	file := filepath.Join(repo, ".github", "workflows", "ferry.yml")
	steps := []struct {
		name   string
		prep   func()
		args   []string
		code   int
		stdout string // a part of it
		stderr string
	}{
		{"missing file drifts", nil, []string{"--check"}, exitFailed, "+name: Ferry", "does not exist"},
		{"write", nil, nil, 0, "", ""},
		{"equal", nil, []string{"--check"}, 0, "is up to date", ""},
		{"an edit drifts", func() {
			data, _ := os.ReadFile(file)
			os.WriteFile(file, []byte(strings.Replace(string(data), "timeout-minutes: 15", "timeout-minutes: 20", 1)), 0o644)
		}, []string{"--check"}, exitFailed, "-    timeout-minutes: 20\n+    timeout-minutes: 15\n", "differs (-1 +1 lines) from what ferry ci generate github writes"},
		{"a config change drifts", func() {
			os.WriteFile(file, []byte(runFerry(t, repo, nil, "", "ci", "generate", "github").stdout), 0o644)
			cfg := filepath.Join(repo, "ferry.yaml")
			data, _ := os.ReadFile(cfg)
			os.WriteFile(cfg, []byte(strings.Replace(string(data), "include: [main]", "include: [main, develop]", 1)), 0o644)
		}, []string{"--check"}, exitFailed, "+      - develop\n", "differs"},
		{"regenerate", nil, nil, 0, "", ""},
		{"equal again", nil, []string{"--check"}, 0, "is up to date", ""},
	}
	for _, s := range steps {
		if s.prep != nil {
			s.prep()
		}
		args := append([]string{"ci", "generate", "github", "-o", file}, s.args...)
		r := runFerry(t, repo, nil, "", args...)
		if r.code != s.code || !strings.Contains(r.stdout, s.stdout) || !strings.Contains(r.stderr, s.stderr) {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want %d, %q, %q", s.name, r.code, r.stdout, r.stderr, s.code, s.stdout, s.stderr)
		}
	}
}

func TestCIGenerateUsage(t *testing.T) {
	repo := exampleRepo(t)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"ci", "generate", "gitlab"}, `generate "gitlab": expected github or azure`},
		{[]string{"ci", "generate", "github", "--check"}, "--check needs -o FILE"},
		{[]string{"ci", "generate"}, "accepts 1 arg(s), received 0"},
		{[]string{"ci", "generate", "azure", "--config", "nosuch.yaml"}, "no config at nosuch.yaml"},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			r := runFerry(t, repo, nil, "", tc.args...)
			if r.code != exitUsage || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", r.code, r.stderr, exitUsage, tc.want)
			}
		})
	}
}
