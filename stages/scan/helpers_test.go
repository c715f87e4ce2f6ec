package scan

import (
	"archive/tar"
	"bytes"
	"flag"
	goldenfile "github.com/ferry-ci/ferry/internal/golden"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/ferry-ci/ferry/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite golden files and the recorded trivy report in testdata")

// fixtureYAML is the fixture vulnerability DB of these tests.
const fixtureYAML = "testdata/trivy-db.yaml"

// fixtureDB builds the fixture DB into a fresh trivy cache dir and returns the dir. With
// push set, it also publishes the DB as an OCI artifact at that reference.
func fixtureDB(t *testing.T, push string) string {
	t.Helper()
	return testenv.FixtureDB(t, fixtureYAML, push)
}

// vulnApp builds testdata/vulnapp against the given golang.org/x/text version, statically
// and with -trimpath, with the given build tags.
func vulnApp(t *testing.T, xtext string, tags ...string) []byte {
	t.Helper()
	src := t.TempDir()
	err := os.CopyFS(src, os.DirFS("testdata/vulnapp"))
	if err != nil {
		t.Fatal(err)
	}
	goCmd := func(args ...string) {
		t.Helper()
		cmd := exec.CommandContext(t.Context(), "go", args...)
		cmd.Dir = src
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off", "GOFLAGS=-mod=readonly", "GOTOOLCHAIN=local")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go %v: %v\n%s", args, err, out)
		}
	}
	goCmd("mod", "edit", "-require=golang.org/x/text@"+xtext)
	args := []string{"build", "-trimpath", "-o", "vulnapp"}
	if len(tags) > 0 {
		args = append(args, "-tags", tags[0])
	}
	goCmd(append(args, ".")...)
	b, err := os.ReadFile(filepath.Join(src, "vulnapp"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// appImage packs the binary as /usr/local/bin/vulnapp in a one-layer image.
func appImage(t *testing.T, bin []byte) v1.Image {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, d := range []string{"usr/", "usr/local/", "usr/local/bin/"} {
		if err := tw.WriteHeader(&tar.Header{Name: d, Typeflag: tar.TypeDir, Mode: 0o755}); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.WriteHeader(&tar.Header{Name: "usr/local/bin/vulnapp", Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(bin))}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write(bin); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	layerBytes := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerBytes)), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.Append(empty.Image, mutate.Addendum{Layer: layer})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = "linux", runtime.GOARCH
	cfg.Config.Entrypoint = []string{"/usr/local/bin/vulnapp"}
	img, err = mutate.ConfigFile(img, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// writeLayout writes img as an OCI image layout in dir.
func writeLayout(t *testing.T, dir string, img v1.Image) string {
	t.Helper()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img); err != nil {
		t.Fatal(err)
	}
	return dir
}

// pushImage pushes img to registry/repo and returns its reference by digest.
func pushImage(t *testing.T, registry, repo string, img v1.Image) string {
	t.Helper()
	tag, err := name.NewTag(registry + "/" + repo + ":test")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img, remote.WithContext(t.Context())); err != nil {
		t.Fatalf("pushing %s: %v", tag, err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return tag.Context().Digest(d.String()).String()
}

// fakeTrivy writes an executable shell script standing in for trivy.
func fakeTrivy(t *testing.T, script string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "trivy")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+script), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// golden compares got with testdata/golden/name, or rewrites the file with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	goldenfile.Check(t, filepath.Join("testdata", "golden", name), got, *update)
}
