//go:build linux

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-ci/ferry/internal/gitserver"
)

// TestReleaseCutPushOverHTTPAsAProcess runs ferry as its own process (this test binary
// re-executed as ferry, see crash_test.go) in a checkout of a smart-HTTP remote that demands
// credentials: the push uses the checkout's http.extraheader as actions/checkout persists it,
// then FERRY_GIT_TOKEN, and without either fails leaving no branch behind. The go-git backend
// reads the repository in the second cut.
func TestReleaseCutPushOverHTTPAsAProcess(t *testing.T) {
	c, _ := releaseRepo(t)
	bare := filepath.Join(t.TempDir(), "shipping.git")
	gitOut(t, "", "clone", "-q", "--bare", c.dir, bare)
	gitOut(t, bare, "config", "http.receivepack", "true")
	srv := gitserver.Start(t, filepath.Dir(bare), gitserver.BasicHeader)
	url := srv.URL + "/shipping.git"
	c.git("remote", "add", "origin", url)
	c.git("config", "http."+srv.URL+"/.extraheader", "AUTHORIZATION: "+gitserver.BasicHeader)
	home := t.TempDir()
	ferry := func(token string, args ...string) (int, string, string) { // token: FERRY_GIT_TOKEN
		t.Helper()
		env := map[string]string{"HOME": home}
		if token != "" {
			env["FERRY_GIT_TOKEN"] = token
		}
		r := ferryProcess(t, c.dir, env, args...)
		return r.code, r.stdout, r.stderr
	}

	code, out, errOut := ferry("", "release", "cut", "delivery", "--bump", "auto", "--push", "--no-registry-check")
	if code != 0 || !strings.Contains(out, "branch release/delivery/v1.1.0 created at ") || !strings.Contains(out, "pushed to origin (credentials: http.extraheader)") {
		t.Fatalf("with http.extraheader: exit %d\n%s%s", code, out, errOut)
	}
	if got := gitOut(t, bare, "rev-parse", "refs/heads/release/delivery/v1.1.0"); got != gitOut(t, c.dir, "rev-parse", "main") {
		t.Errorf("remote branch at %s", got)
	}

	c.git("config", "--unset", "http."+srv.URL+"/.extraheader")
	code, out, errOut = ferry("secret", "release", "cut", "delivery", "--bump", "minor", "--pre", "rc", "--push", "--no-registry-check", "--git", "go-git")
	if code != 0 || !strings.Contains(out, "delivery v1.2.0-rc.1 (minor), after v1.1.0") || !strings.Contains(out, "credentials: FERRY_GIT_TOKEN") {
		t.Fatalf("with FERRY_GIT_TOKEN: exit %d\n%s%s", code, out, errOut)
	}
	if strings.Contains(out+errOut, "secret") {
		t.Errorf("the token is in the output:\n%s%s", out, errOut)
	}

	before := gitOut(t, c.dir, "for-each-ref")
	code, out, errOut = ferry("", "release", "cut", "delivery", "--bump", "minor", "--pre", "rc", "--push", "--no-registry-check")
	if code != 1 || !strings.Contains(errOut, "authentication required") {
		t.Errorf("without credentials: exit %d\n%s%s", code, out, errOut)
	}
	if after := gitOut(t, c.dir, "for-each-ref"); after != before {
		t.Errorf("a cut that could not ask the remote changed the refs:\n%s", after)
	}

	// The remote refuses the push itself: the local branch is deleted again.
	hook := filepath.Join(bare, "hooks", "pre-receive")
	if err := os.WriteFile(hook, []byte("#!/bin/sh\necho 'releases are frozen' >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = ferry("secret", "release", "cut", "delivery", "--bump", "minor", "--pre", "rc", "--push", "--no-registry-check")
	if code != 1 || !strings.Contains(errOut, "the local branch release/delivery/v1.2.0-rc.2 was deleted again") {
		t.Errorf("a refused push: exit %d\n%s%s", code, out, errOut)
	}
	if got := gitOut(t, c.dir, "branch", "--list", "release/delivery/v1.2.0-rc.2"); got != "" {
		t.Errorf("a failed push left the branch %q", got)
	}
}
