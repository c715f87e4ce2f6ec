package image

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/ferry-ci/ferry/internal/registrytest"
	"github.com/ferry-ci/ferry/internal/testenv"
)

const serviceMain = `package main

import (
	"fmt"
	"net/http"
)

func main() {
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "hello") })
	http.ListenAndServe(":8080", nil)
}
`

// serviceContext compiles a small Go HTTP service and returns a build context with it and a
// Dockerfile on base (no RUN, so both builders can build it).
func serviceContext(b *testing.B, base string) string {
	b.Helper()
	src := b.TempDir()
	writeTree(b, src, map[string]string{"go.mod": "module svc\n\ngo 1.22\n", "main.go": serviceMain})
	dir := b.TempDir()
	cmd := exec.CommandContext(b.Context(), filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-trimpath", "-ldflags=-s -w", "-o", filepath.Join(dir, "svc"), ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64", "GOFLAGS=-mod=mod")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	writeTree(b, dir, map[string]string{
		"Dockerfile": "FROM " + base + "\nCOPY svc /usr/local/bin/svc\nUSER app\nEXPOSE 8080\nENTRYPOINT [\"/usr/local/bin/svc\"]\n",
	})
	return dir
}

// BenchmarkBuildPush builds a small Go service image (static binary on a busybox base) and
// pushes it to a new repository of the registry the base is in, with the native builder and
// with buildah. It reports the bytes uploaded per push and whether two builds gave the same
// digest.
func BenchmarkBuildPush(b *testing.B) {
	proxy := registrytest.NewProxy(b, testenv.Registry(b), registrytest.Faults{})
	base := proxy.Host() + "/base/busybox:1"
	push(b, base, busyboxImage(b))
	dir := serviceContext(b, base)
	cache := b.TempDir()

	for _, builder := range []string{Native, Buildah} {
		b.Run(builder, func(b *testing.B) {
			if builder == Buildah {
				requireBuildah(b)
			}
			var uploaded int64
			var digests []string
			i := 0
			for b.Loop() {
				res, err := Build(b.Context(), Options{ContextDir: dir, Builder: builder, Created: testEpoch, CacheDir: cache})
				if err != nil {
					b.Fatal(err)
				}
				digests = append(digests, res.Digest.String())
				proxy.Reset()
				ref, err := name.ParseReference(fmt.Sprintf("%s/svc-%s-%d:1", proxy.Host(), builder, i))
				if err != nil {
					b.Fatal(err)
				}
				if err := remote.Write(ref, res.Image); err != nil {
					b.Fatal(err)
				}
				uploaded += proxy.Stats().BlobBytes
				if err := res.Close(); err != nil {
					b.Fatal(err)
				}
				i++
			}
			same := 1.0
			for _, d := range digests {
				if d != digests[0] {
					same = 0
				}
			}
			b.ReportMetric(float64(uploaded)/float64(b.N), "blob-bytes-pushed/op")
			b.ReportMetric(same, "reproducible")
		})
	}
}
