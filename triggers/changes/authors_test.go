package changes_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ferry-ci/ferry/triggers/changes"
)

// TestAuthorsAndRefs builds a release history with the git CLI (trunk, a previous release
// branch and tag, the release under way) and asks both backends the same questions.
func TestAuthorsAndRefs(t *testing.T) {
	dir := t.TempDir()
	git := func(author string, args ...string) string {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_AUTHOR_NAME=A", "GIT_AUTHOR_EMAIL="+author,
			"GIT_COMMITTER_NAME=CI", "GIT_COMMITTER_EMAIL=ci@example.com")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	commit := func(author, file string) string {
		os.WriteFile(filepath.Join(dir, file), []byte(author), 0o644)
		git(author, "add", file)
		git(author, "commit", "-qm", file)
		return git(author, "rev-parse", "HEAD")
	}
	git("", "init", "-q", "-b", "main")
	base := commit("Alice@Example.com", "a")
	git("", "branch", "release/delivery/v1.0.1")
	git("", "tag", "-a", "-m", "v1.0.1", "delivery/v1.0.1")
	commit("bob@example.com", "b")
	git("", "checkout", "-q", "-b", "release/delivery/v1.0.2")
	carol := commit("carol@example.com", "c")

	for _, b := range []changes.Backend{changes.GitCLI, changes.GoGit} {
		t.Run(string(b), func(t *testing.T) {
			repo, err := changes.Open(dir, b)
			if err != nil {
				t.Fatal(err)
			}
			defer repo.Close()
			got, err := repo.Authors(t.Context(), base, carol)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 2 || got["carol@example.com"] != carol || got["bob@example.com"] == "" {
				t.Errorf("authors since the previous release = %v", got)
			}
			all, err := repo.Authors(t.Context(), "", carol)
			if _, ok := all["alice@example.com"]; err != nil || len(all) != 3 || !ok {
				t.Errorf("all authors = %v %v (lower-cased)", all, err)
			}
			if who, err := repo.Author(t.Context(), base); err != nil || who != "alice@example.com" {
				t.Errorf("author of the first commit = %q %v", who, err)
			}
			list, err := repo.Refs(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			refs := map[string]string{}
			for _, r := range list {
				refs[r.Name] = r.Commit
			}
			want := map[string]string{"refs/heads/main": refs["refs/heads/main"], "refs/heads/release/delivery/v1.0.1": base,
				"refs/heads/release/delivery/v1.0.2": carol, "refs/tags/delivery/v1.0.1": base}
			if diff := cmp.Diff(want, refs); diff != "" || refs["refs/heads/main"] == "" {
				t.Errorf("refs (-want +got, annotated tags peeled):\n%s", diff)
			}
		})
	}
	shallow := filepath.Join(t.TempDir(), "shallow")
	if out, err := exec.Command("git", "clone", "-q", "--depth", "1", "--branch", "release/delivery/v1.0.2", "file://"+dir, shallow).CombinedOutput(); err != nil {
		t.Fatalf("clone: %v %s", err, out)
	}
	repo, err := changes.Open(shallow, changes.Auto)
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()
	if _, err := repo.Authors(t.Context(), "", carol); err == nil || !strings.Contains(err.Error(), "shallow") {
		t.Errorf("a shallow clone's authors: %v", err)
	}
}
