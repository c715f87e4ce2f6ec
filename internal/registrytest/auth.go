package registrytest

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/ferry-ci/ferry/internal/testenv"
	"golang.org/x/crypto/bcrypt"
)

const htpasswdConfig = `version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
auth:
  htpasswd:
    realm: ferry-test
    path: %s
http:
  addr: %s
`

// AuthRegistry starts Debian's docker-registry (distribution 2.8) on a free loopback port,
// requiring basic authentication with user and password (htpasswd, bcrypt), and returns its
// host:port. Like testenv.Registry it fails when CI=true and the binary is missing and skips
// elsewhere; it is stopped when the test ends.
func AuthRegistry(t testing.TB, user, password string) string {
	t.Helper()
	bin, ok := testenv.LookBinary("FERRY_TEST_REGISTRY_BIN", "docker-registry")
	if !ok {
		testenv.Missing(t, "docker-registry not found (apt-get install docker-registry)")
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	htpasswd := filepath.Join(dir, "htpasswd")
	if err := os.WriteFile(htpasswd, []byte(user+":"+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var lastErr error
	for attempt := range 3 {
		addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
		cfg := filepath.Join(dir, fmt.Sprintf("config-%d.yml", attempt))
		body := fmt.Sprintf(htpasswdConfig, filepath.Join(dir, "data"), htpasswd, addr)
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
		if err := waitUnauthorized(t.Context(), "http://"+addr+"/v2/", exited); err != nil {
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
	t.Fatalf("docker-registry with htpasswd did not start: %v", lastErr)
	return ""
}

// waitUnauthorized polls url until it answers 401 (the registry is up and wants credentials),
// the process exits or 15 s pass.
func waitUnauthorized(ctx context.Context, url string, exited <-chan error) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusUnauthorized {
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
