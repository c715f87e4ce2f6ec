// Package registrytest provides registries for tests: go-containerregistry's in-memory
// registry under httptest for fast unit tests, a fault-injecting and byte-counting reverse
// proxy to put in front of any registry, and a real docker-registry that requires basic
// authentication.
package registrytest

import (
	"io"
	"log"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"
)

// InMemory starts go-containerregistry's in-memory registry on a loopback port and returns its
// host:port. It is lenient where real registries are strict (for example it accepts manifests
// whose blobs live in another repository), so behaviour that depends on per-repository blobs
// or mounts belongs in tests against testenv.Registry.
func InMemory(t testing.TB) string {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}
