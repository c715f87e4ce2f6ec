package deploy

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"

	"github.com/ferry-ci/ferry/internal/testenv"
)

// The deploy benchmarks upgrade one release on the real test cluster, alternating between two
// images, through Ferry's use of the SDK and through the helm v4 CLI (built by k8slab/build.sh)
// with the same chart, values and wait. Run:
//
//	go test -run '^$' -bench Deploy -benchtime 10x ./stages/deploy/
//
// Figures are in docs/PERFORMANCE.md.

func BenchmarkDeploySDK(b *testing.B) {
	ns := benchNamespace(b)
	kc := testenv.Cluster(b)
	c, err := connect(Target{Kubeconfig: kc, Namespace: ns}, io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	if err := c.ensureNamespace(b.Context(), true, io.Discard); err != nil {
		b.Fatal(err)
	}
	ch := deployChart("1.0.0")
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		vals := imageVals(fmt.Sprintf("1.0.%d@%s", i%2, digestA))
		if _, _, err := c.installOrUpgrade(b.Context(), "delivery", ch, vals, identity{run: fmt.Sprint(i)}, time.Minute); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDeployHelmCLI(b *testing.B) {
	helm := filepath.Join(testenv.LabDir(), "bin", "helm")
	if _, err := os.Stat(helm); err != nil {
		testenv.Missing(b, "helm CLI not built (internal/testenv/k8slab/build.sh helm)")
	}
	ns := benchNamespace(b)
	kc := testenv.Cluster(b)
	dir := b.TempDir()
	if err := chartutil.SaveDir(deployChart("1.0.0"), dir); err != nil {
		b.Fatal(err)
	}
	chartDir := filepath.Join(dir, "delivery")
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		cmd := exec.Command(helm, "upgrade", "--install", "delivery", chartDir, "--namespace", ns, "--create-namespace",
			"--wait=watcher", "--timeout", "1m", "--kubeconfig", kc,
			"--set", "image.repository=registry.example.com/shipping/delivery",
			"--set", fmt.Sprintf("image.tag=1.0.%d@%s", i%2, digestA))
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("helm: %v\n%s", err, out)
		}
	}
}

func benchNamespace(b *testing.B) string {
	b.Helper()
	return fmt.Sprintf("bench-%d", time.Now().UnixNano()%1_000_000)
}
