package workspace_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-ci/ferry/internal/testenv"
	"github.com/ferry-ci/ferry/pipeline"
	"github.com/ferry-ci/ferry/pipeline/workspace"
	"github.com/ferry-ci/ferry/triggers"
	"github.com/ferry-ci/ferry/triggers/changes"
)

// sourceServices depend on a root file, a glob and, through global, on go.work.
var sourceServices = []triggers.Service{
	{Name: "orders", Path: "svc/orders", DependsOn: []triggers.Dependency{{File: "go.mod"}}},
	{Name: "billing", Path: "svc/billing", DependsOn: []triggers.Dependency{{Glob: "proto/**/*.proto"}}},
	{Name: "api", Path: "svc/api", DependsOn: []triggers.Dependency{{Service: "orders"}}},
}

var sourceFiles = map[string]string{
	"svc/orders/main.go":  "package main",
	"svc/billing/main.go": "package main",
	"svc/api/main.go":     "package main",
	"go.mod":              "module example.com/shop\n",
	"go.work":             "go 1.26\n",
	"proto/v1/bill.proto": "syntax = \"proto3\";",
	"proto/README.md":     "protos",
	"README.md":           "shop",
}

// TestSourceDigestsKeyEveryInput commits one change per case and checks which services'
// digests change: the file, glob and global dependencies must key the cache.
func TestSourceDigestsKeyEveryInput(t *testing.T) {
	cases := []struct {
		name    string
		prefix  string // the config root inside the repository
		change  map[string]string
		changed []string // services whose digest changes
	}{
		{"root file", "", map[string]string{"go.mod": "module example.com/shop\n\ngo 1.26\n"}, []string{"orders", "api"}},
		{"glob match", "", map[string]string{"proto/v1/bill.proto": "syntax = \"proto2\";"}, []string{"billing"}},
		{"new glob match", "", map[string]string{"proto/v2/pay.proto": "x"}, []string{"billing"}},
		{"file the glob does not match", "", map[string]string{"proto/README.md": "more"}, nil},
		{"global", "", map[string]string{"go.work": "go 1.27\n"}, []string{"orders", "billing", "api"}},
		{"unrelated", "", map[string]string{"README.md": "more"}, nil},
		{"own folder", "", map[string]string{"svc/billing/x.go": "package main"}, []string{"billing"}},
		{"root file under a prefix", "mono", map[string]string{"go.mod": "changed"}, []string{"orders", "api"}},
		{"glob under a prefix", "mono", map[string]string{"proto/v1/bill.proto": "changed"}, []string{"billing"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			repo := t.TempDir()
			root := filepath.Join(repo, tc.prefix)
			writeFiles(t, root, sourceFiles)
			git(t, repo, "init", "-q", "-b", "main")
			git(t, repo, "add", "-A")
			git(t, repo, "commit", "-q", "-m", "base")
			before := digests(t, repo, tc.prefix)
			writeFiles(t, root, tc.change)
			git(t, repo, "add", "-A")
			git(t, repo, "commit", "-q", "-m", "change")
			after := digests(t, repo, tc.prefix)
			var changed []string
			for _, s := range sourceServices {
				if before[s.Name] != after[s.Name] {
					changed = append(changed, s.Name)
				}
			}
			if strings.Join(changed, ",") != strings.Join(tc.changed, ",") {
				t.Errorf("changed digests: %v, want %v", changed, tc.changed)
			}
		})
	}
}

func TestSourceDigestsDirty(t *testing.T) {
	cases := []struct {
		name  string
		path  string
		dirty []string // services without a digest
	}{
		{"root file", "go.mod", []string{"orders", "api"}},
		{"untracked file in a glob's folder", "proto/v3/new.proto", []string{"billing"}},
		{"global", "go.work", []string{"orders", "billing", "api"}},
		{"unrelated", "README.md", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			repo := t.TempDir()
			writeFiles(t, repo, sourceFiles)
			git(t, repo, "init", "-q", "-b", "main")
			git(t, repo, "add", "-A")
			git(t, repo, "commit", "-q", "-m", "base")
			writeFiles(t, repo, map[string]string{tc.path: "uncommitted"})
			s := newSourceDigests(t, repo, "")
			var dirty []string
			for _, svc := range sourceServices {
				_, err := s.Digest(t.Context(), svc.Name)
				switch {
				case errors.Is(err, pipeline.ErrDirty):
					dirty = append(dirty, svc.Name)
				case err != nil:
					t.Fatal(err)
				}
			}
			if strings.Join(dirty, ",") != strings.Join(tc.dirty, ",") {
				t.Errorf("dirty: %v, want %v", dirty, tc.dirty)
			}
		})
	}
}

func newSourceDigests(t *testing.T, repo, prefix string) *workspace.SourceDigests {
	t.Helper()
	r, err := changes.Open(repo, changes.Auto)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return &workspace.SourceDigests{Repo: r, Services: sourceServices, Global: []triggers.Dependency{{File: "go.work"}}, Prefix: prefix}
}

func digests(t *testing.T, repo, prefix string) map[string]string {
	t.Helper()
	s := newSourceDigests(t, repo, prefix)
	out := map[string]string{}
	for _, svc := range sourceServices {
		d, err := s.Digest(t.Context(), svc.Name)
		if err != nil {
			t.Fatalf("digest of %s: %v", svc.Name, err)
		}
		out[svc.Name] = d
	}
	return out
}

func writeFiles(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		path := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func git(t *testing.T, dir string, args ...string) {
	t.Helper()
	bin, ok := testenv.LookBinary("", "git")
	if !ok {
		testenv.Missing(t, "git not found on PATH")
	}
	cmd := exec.Command(bin, append([]string{"-C", dir}, args...)...)
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL="+os.DevNull,
		"GIT_AUTHOR_NAME=A", "GIT_AUTHOR_EMAIL=a@example.com", "GIT_COMMITTER_NAME=C", "GIT_COMMITTER_EMAIL=c@example.com")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
}
