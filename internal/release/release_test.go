// Package release holds no Go code: it tests the scripts that build Ferry's release files
// (build.sh, behind `make release`) and install them (install.sh, used by the GitHub Action and
// the Azure Pipelines template), the way a release and a CI runner use them.
package release

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

const snapshot = "v0.0.0-snapshot"

// platform is this machine's release platform, as build.sh names it.
var platform = runtime.GOOS + "/" + runtime.GOARCH

// buildRelease runs build.sh for this machine's platform from the checkout at root.
func buildRelease(t *testing.T, root, out string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(root, "internal/release/build.sh"))
	cmd.Env = append(os.Environ(), "VERSION="+snapshot, "PLATFORMS="+platform, "OUT="+out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build.sh: %v\n%s", err, b)
	}
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// copyCheckout copies the tracked files of the checkout into a new folder, as a second
// machine's checkout at another path.
func copyCheckout(t *testing.T, root string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "elsewhere", "ferry")
	files, err := exec.Command("git", "-C", root, "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	for _, f := range strings.Split(strings.TrimRight(string(files), "\x00"), "\x00") {
		src := filepath.Join(root, f)
		info, err := os.Lstat(src)
		if err != nil || !info.Mode().IsRegular() {
			continue // deleted in the work tree, or a symlink the build does not need
		}
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dst, f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, f), b, info.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// TestReleaseIsReproducible builds the release twice, from two checkouts at different paths,
// and wants the same checksums: anyone can rebuild a release and compare.
func TestReleaseIsReproducible(t *testing.T) {
	if testing.Short() {
		t.Skip("builds Ferry twice")
	}
	root := repoRoot(t)
	a, b := t.TempDir(), t.TempDir()
	buildRelease(t, root, a)
	buildRelease(t, copyCheckout(t, root), b)
	sumA, err := os.ReadFile(filepath.Join(a, "checksums.txt"))
	if err != nil {
		t.Fatal(err)
	}
	sumB, err := os.ReadFile(filepath.Join(b, "checksums.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(sumA, sumB) {
		t.Fatalf("two builds of one commit differ:\n%s\n%s", sumA, sumB)
	}
	name := "ferry_" + snapshot + "_" + strings.ReplaceAll(platform, "/", "_")
	if !strings.Contains(string(sumA), name+"\n") || !strings.Contains(string(sumA), name+".cdx.json\n") {
		t.Fatalf("checksums.txt lacks the binary or its SBOM:\n%s", sumA)
	}
	out, err := exec.Command(filepath.Join(a, name), "version").Output()
	if err != nil || strings.TrimSpace(string(out)) != "ferry "+snapshot {
		t.Fatalf("ferry version = %q, %v; want ferry %s", out, err, snapshot)
	}
	checkSBOM(t, filepath.Join(a, name+".cdx.json"))
}

// checkSBOM wants a CycloneDX document that names Ferry's version and lists the modules
// linked into the binary.
func checkSBOM(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var sbom struct {
		BOMFormat string `json:"bomFormat"`
		Metadata  struct {
			Component struct{ Name, Version string }
		}
		Components []struct{ Name, Version, Purl string }
	}
	if err := json.Unmarshal(b, &sbom); err != nil {
		t.Fatalf("SBOM: %v", err)
	}
	if sbom.BOMFormat != "CycloneDX" || sbom.Metadata.Component.Version != snapshot {
		t.Fatalf("SBOM format %q, version %q", sbom.BOMFormat, sbom.Metadata.Component.Version)
	}
	for _, c := range sbom.Components {
		if c.Name == "github.com/google/go-containerregistry" && strings.HasPrefix(c.Purl, "pkg:golang/") {
			return
		}
	}
	t.Fatalf("SBOM lists %d components, not go-containerregistry", len(sbom.Components))
}

// TestInstallRelease installs a release binary from a release server the way the Action and
// the Azure template do, and refuses one whose checksum does not match.
func TestInstallRelease(t *testing.T) {
	if testing.Short() {
		t.Skip("builds Ferry")
	}
	root := repoRoot(t)
	releases := t.TempDir()
	buildRelease(t, root, filepath.Join(releases, snapshot))
	srv := httptest.NewServer(http.FileServer(http.Dir(releases)))
	defer srv.Close()

	install := func(t *testing.T, version string) (string, string, error) {
		bin := t.TempDir()
		cmd := exec.Command(filepath.Join(root, "internal/release/install.sh"))
		cmd.Env = append(os.Environ(), "FERRY_VERSION="+version, "FERRY_RELEASES="+srv.URL, "BIN="+bin)
		out, err := cmd.CombinedOutput()
		return bin, string(out), err
	}

	t.Run("verified", func(t *testing.T) {
		bin, out, err := install(t, snapshot)
		if err != nil {
			t.Fatalf("install.sh: %v\n%s", err, out)
		}
		got, err := exec.Command(filepath.Join(bin, "ferry"), "version").Output()
		if err != nil || strings.TrimSpace(string(got)) != "ferry "+snapshot {
			t.Fatalf("installed ferry version = %q, %v", got, err)
		}
	})
	t.Run("unpublished", func(t *testing.T) {
		_, out, err := install(t, "v9.9.9")
		if err == nil || !strings.Contains(out, "is v9.9.9 a published Ferry release?") {
			t.Fatalf("install of an unpublished version: %v\n%s", err, out)
		}
	})
	t.Run("tampered", func(t *testing.T) {
		name := "ferry_" + snapshot + "_" + strings.ReplaceAll(platform, "/", "_")
		f, err := os.OpenFile(filepath.Join(releases, snapshot, name), os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteString("tampered"); err != nil {
			t.Fatal(err)
		}
		f.Close()
		bin, out, err := install(t, snapshot)
		if err == nil || !strings.Contains(out, "not installed") {
			t.Fatalf("install of a tampered binary: %v\n%s", err, out)
		}
		if _, err := os.Stat(filepath.Join(bin, "ferry")); !os.IsNotExist(err) {
			t.Fatalf("a tampered binary was installed: %v", err)
		}
	})
}

// TestAzureTemplateUsesInstallScript keeps the Azure Pipelines template pointing at the
// install script this package tests, at the path a release tag serves it from.
func TestAzureTemplateUsesInstallScript(t *testing.T) {
	root := repoRoot(t)
	b, err := os.ReadFile(filepath.Join(root, "examples/ci/azure/ferry-steps.yml"))
	if err != nil {
		t.Fatal(err)
	}
	const url = "https://raw.githubusercontent.com/ferry-ci/ferry/$FERRY_VERSION/internal/release/install.sh"
	if !strings.Contains(string(b), url) {
		t.Fatalf("ferry-steps.yml does not install with %s", url)
	}
	if _, err := os.Stat(filepath.Join(root, "internal/release/install.sh")); err != nil {
		t.Fatal(err)
	}
}
