// Package gitserver serves bare git repositories over git's smart HTTP protocol for tests:
// git http-backend behind net/http/cgi, answering 401 to requests without the expected
// Authorization header, as a hosted git server does.
package gitserver

import (
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-ci/ferry/internal/testenv"
)

// BasicHeader is the Authorization value Start requires by default: basic x-access-token:secret.
const BasicHeader = "basic eC1hY2Nlc3MtdG9rZW46c2VjcmV0"

// Start serves the repositories under root (root/<name>.git at URL/<name>.git) until the test
// ends. Requests must carry Authorization: header (case-insensitively in its scheme). Pushes
// need http.receivepack=true in the repository's config.
func Start(t testing.TB, root, header string) *httptest.Server {
	t.Helper()
	bin, ok := testenv.LookBinary("", "git")
	if !ok {
		testenv.Missing(t, "git not found on PATH")
	}
	execPath, err := exec.Command(bin, "--exec-path").Output()
	if err != nil {
		t.Fatalf("git --exec-path: %v", err)
	}
	backend := &cgi.Handler{
		Path: filepath.Join(strings.TrimSpace(string(execPath)), "git-http-backend"),
		Env:  []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.EqualFold(r.Header.Get("Authorization"), header) {
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			http.Error(w, "credentials required", http.StatusUnauthorized)
			return
		}
		backend.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}
