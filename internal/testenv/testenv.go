// Package testenv starts the real components Ferry's tests run against (an OCI registry, the
// Trivy CLI) on 127.0.0.1. When CI=true a missing component fails the test; elsewhere the test
// is skipped with the reason, so a laptop without the component can still run the rest.
package testenv

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-ci/ferry/internal/pinned"
)

// InCI reports whether the tests run in CI, where every real component must be present.
func InCI() bool { return os.Getenv("CI") == "true" }

// Missing stops the test because a real component is not available: a failure in CI, a skip
// with the reason elsewhere.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if InCI() {
		t.Fatalf("required test component missing (CI=true): %s", msg)
	}
	t.Skipf("component missing (set CI=true to make this a failure): %s", msg)
}

// LookBinary finds a program by the environment variable envVar (a path), then on PATH, then
// in the extra directories.
func LookBinary(envVar, name string, extra ...string) (string, bool) {
	if envVar != "" {
		if p := os.Getenv(envVar); p != "" {
			if _, err := os.Stat(p); err == nil {
				return p, true
			}
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, true
	}
	for _, d := range extra {
		p := filepath.Join(d, name)
		if _, err := os.Stat(p); err == nil {
			return p, true
		}
	}
	return "", false
}

// FreePort returns a port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

const registryConfig = `version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
http:
  addr: %s
`

// Registry starts Debian's docker-registry (distribution 2.8) on a free loopback port with
// storage in a temporary directory and returns its host:port. It is stopped when the test ends.
// FERRY_TEST_REGISTRY_BIN overrides the binary.
func Registry(t testing.TB) string {
	t.Helper()
	return RegistryWith(t, "")
}

// RegistryWith is Registry with more top-level sections of distribution's configuration
// (auth, for example) appended to the generated one.
func RegistryWith(t testing.TB, extraConfig string) string {
	t.Helper()
	bin, ok := LookBinary("FERRY_TEST_REGISTRY_BIN", "docker-registry")
	if !ok {
		Missing(t, "docker-registry not found (apt-get install docker-registry)")
	}
	dir := t.TempDir()
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		addr := fmt.Sprintf("127.0.0.1:%d", FreePort(t))
		cfg := filepath.Join(dir, fmt.Sprintf("config-%d.yml", attempt))
		body := fmt.Sprintf(registryConfig, filepath.Join(dir, "data"), addr) + extraConfig
		if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		logPath := filepath.Join(dir, fmt.Sprintf("registry-%d.log", attempt))
		logFile, err := os.Create(logPath)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "serve", cfg)
		cmd.Stdout, cmd.Stderr = logFile, logFile
		if err := cmd.Start(); err != nil {
			logFile.Close()
			t.Fatalf("start %s: %v", bin, err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		if err := waitHTTP(t.Context(), "http://"+addr+"/v2/", exited); err != nil {
			_ = cmd.Process.Kill()
			logFile.Close()
			out, _ := os.ReadFile(logPath)
			lastErr = fmt.Errorf("%w\n%s", err, out)
			continue // most likely the port was taken between FreePort and serve
		}
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			<-exited
			logFile.Close()
		})
		return addr
	}
	t.Fatalf("docker-registry did not start: %v", lastErr)
	return ""
}

// waitHTTP polls url until it answers (401 included: a registry that wants credentials is
// up), the process exits or 15 s pass.
func waitHTTP(ctx context.Context, url string, exited <-chan error) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode < 500 {
				return nil
			}
		}
		select {
		case err := <-exited:
			return fmt.Errorf("registry exited: %v", err)
		case <-ctx.Done():
			return fmt.Errorf("registry at %s not ready: %w", url, ctx.Err())
		case <-tick.C:
		}
	}
}

// ToolsDir is where `make tools` caches pinned tool binaries by version (pinned.ToolsDir),
// or a temporary folder when no cache folder is known.
func ToolsDir() string {
	if d := pinned.ToolsDir(os.Getenv); d != "" {
		return d
	}
	return filepath.Join(os.TempDir(), "ferry-tools")
}

// Trivy returns the path of the pinned Trivy CLI: $FERRY_TRIVY, trivy on PATH, or the copy
// `make tools` built into ToolsDir.
func Trivy(t testing.TB) string {
	t.Helper()
	version := pinned.TrivyVersion()
	p, ok := LookBinary("FERRY_TRIVY", "trivy", filepath.Dir(pinned.TrivyPath(ToolsDir())))
	if !ok {
		Missing(t, "trivy %s not found (run make tools)", version)
	}
	out, err := exec.Command(p, "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("%s --version: %v\n%s", p, err, out)
	}
	if !strings.Contains(string(out), strings.TrimPrefix(version, "v")) {
		t.Logf("warning: %s is not the pinned %s: %s", p, version, out)
	}
	return p
}
