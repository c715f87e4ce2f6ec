package registrytest

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/ferry-ci/ferry/internal/testenv"
	"golang.org/x/crypto/bcrypt"
)

// AuthRegistry starts Debian's docker-registry (distribution 2.8) on a free loopback port,
// requiring basic authentication with user and password (htpasswd, bcrypt), and returns its
// host:port. Like testenv.Registry it fails when CI=true and the binary is missing and skips
// elsewhere; it is stopped when the test ends.
func AuthRegistry(t testing.TB, user, password string) string {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	htpasswd := filepath.Join(t.TempDir(), "htpasswd")
	if err := os.WriteFile(htpasswd, []byte(user+":"+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return testenv.RegistryWith(t, fmt.Sprintf("auth:\n  htpasswd:\n    realm: ferry-test\n    path: %s\n", htpasswd))
}
