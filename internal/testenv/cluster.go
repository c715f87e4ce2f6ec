package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
)

// K8sVersion is the Kubernetes release of the test cluster (kube-apiserver, controller-manager,
// scheduler), built with etcd and kwok from the Go module proxy by k8slab/build.sh.
const K8sVersion = "v1.37.2"

// LabDir is where k8slab/build.sh caches the cluster's binaries, by version, outside the
// checkout so that later runs reuse them.
func LabDir() string { return filepath.Join(ToolsDir(), "k8s-lab-"+K8sVersion) }

// lab is the cluster this test binary started, at most one per process.
var lab struct {
	once       sync.Once
	kubeconfig string
	run        string
	err        error
}

// Cluster returns the kubeconfig of a real Kubernetes API with one fake (kwok) node whose pods
// become Ready: $FERRY_TEST_KUBECONFIG when set (.ci/run starts one cluster for the whole test
// run), else one this test binary starts from LabDir, stopped by StopCluster (call it from
// TestMain). Tests share it: each uses its own namespace.
func Cluster(t testing.TB) string {
	t.Helper()
	if kc := os.Getenv("FERRY_TEST_KUBECONFIG"); kc != "" {
		return kc
	}
	bin := filepath.Join(LabDir(), "bin")
	for _, b := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "kwok-stages.yaml"} {
		if _, err := os.Stat(filepath.Join(bin, b)); err != nil {
			Missing(t, "Kubernetes test cluster: %s not built (run internal/testenv/k8slab/build.sh with LAB=%s)", b, LabDir())
		}
	}
	for _, tool := range []string{"openssl", "curl", "setsid"} {
		if _, err := exec.LookPath(tool); err != nil {
			Missing(t, "Kubernetes test cluster: %s not on PATH", tool)
		}
	}
	lab.once.Do(startLab)
	if lab.err != nil {
		t.Fatalf("start the Kubernetes test cluster: %v", lab.err)
	}
	return lab.kubeconfig
}

// startLab runs k8slab/up.sh on free ports in a temporary state folder.
func startLab() {
	run, err := os.MkdirTemp("", "ferry-k8s-")
	if err != nil {
		lab.err = err
		return
	}
	lab.run = run
	env := append(os.Environ(), "LAB="+LabDir(), "RUN="+run)
	for _, name := range []string{"API_PORT", "ETCD_PORT", "ETCD_PEER_PORT", "KCM_PORT", "SCHED_PORT", "KWOK_PORT"} {
		port, err := freePort()
		if err != nil {
			lab.err = err
			return
		}
		env = append(env, name+"="+strconv.Itoa(port))
	}
	cmd := exec.Command("bash", filepath.Join(k8slabDir(), "up.sh"))
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		lab.err = fmt.Errorf("up.sh: %v\n%s", err, out)
		return
	}
	lab.kubeconfig = filepath.Join(run, "kubeconfig")
}

// StopCluster stops the cluster Cluster started, if any.
func StopCluster() {
	if lab.run == "" {
		return
	}
	cmd := exec.Command("bash", filepath.Join(k8slabDir(), "down.sh"))
	cmd.Env = append(os.Environ(), "LAB="+LabDir(), "RUN="+lab.run, "GRACE=5")
	_ = cmd.Run()
	os.RemoveAll(lab.run)
}

// k8slabDir is the folder of this file's scripts.
func k8slabDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "k8slab")
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// KubeconfigWithContexts copies a kubeconfig and adds contexts with the given names that point
// where its current context does, so that a ferry.yaml whose environments name contexts (qa,
// prod) deploys to the test cluster.
func KubeconfigWithContexts(t testing.TB, src string, names ...string) string {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(src)
	if err != nil {
		t.Fatal(err)
	}
	cur := cfg.Contexts[cfg.CurrentContext]
	if cur == nil {
		t.Fatalf("%s has no current context", src)
	}
	for _, n := range names {
		c := *cur
		cfg.Contexts[n] = &c
	}
	dst := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, dst); err != nil {
		t.Fatal(err)
	}
	return dst
}
