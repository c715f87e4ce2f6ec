package deploy

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	chartcommon "helm.sh/helm/v4/pkg/chart/common"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/release/common"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ferry-ci/ferry/internal/testenv"
)

// These tests run against a real Kubernetes API (kube-apiserver, controller-manager, scheduler,
// etcd and kwok, which makes scheduled pods Ready), one namespace per test.

func TestMain(m *testing.M) {
	if os.Getenv(upgradeChild) != "" {
		os.Exit(runUpgradeChild())
	}
	code := m.Run()
	testenv.StopCluster()
	os.Exit(code)
}

// deployChart is a chart with a Deployment that renders the image as repository:tag and
// takes a nodeSelector, so that a test can make its pods unschedulable.
func deployChart(version string) *chart.Chart {
	tmpl := `apiVersion: apps/v1
kind: Deployment
metadata: {name: {{ .Release.Name }}}
spec:
  replicas: 1
  selector: {matchLabels: {app: {{ .Release.Name }}}}
  template:
    metadata: {labels: {app: {{ .Release.Name }}}}
    spec:
      {{- with .Values.nodeSelector }}
      nodeSelector: {{ toJson . }}
      {{- end }}
      containers:
        - name: app
          image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
`
	return &chart.Chart{
		Metadata:  &chart.Metadata{APIVersion: "v2", Name: "delivery", Version: version, AppVersion: version},
		Values:    map[string]any{"image": map[string]any{"repository": "", "tag": ""}},
		Templates: []*chartcommon.File{{Name: "templates/deployment.yaml", Data: []byte(tmpl)}},
	}
}

func newNamespace(t *testing.T) string {
	b := make([]byte, 4)
	rand.Read(b)
	return "t-" + hex.EncodeToString(b)
}

func realCluster(t *testing.T, ns string) *cluster {
	t.Helper()
	kc := testenv.Cluster(t)
	c, err := connect(Target{Kubeconfig: kc, Namespace: ns}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.ensureNamespace(t.Context(), true, io.Discard); err != nil {
		t.Fatal(err)
	}
	return c
}

func imageVals(tag string) map[string]any {
	return map[string]any{"image": map[string]any{"repository": "registry.example.com/shipping/delivery", "tag": tag}}
}

const digestA = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

func TestDeployToRealCluster(t *testing.T) {
	c := realCluster(t, newNamespace(t))
	ctx := t.Context()
	rel, installed, err := c.installOrUpgrade(ctx, "delivery", deployChart("1.0.0"), imageVals("1.0.0@"+digestA), identity{run: "r1"}, time.Minute)
	if err != nil || !installed || rel.Version != 1 {
		t.Fatalf("install: %v (installed %v)", err, installed)
	}
	d, err := c.kube.AppsV1().Deployments(c.namespace).Get(ctx, "delivery", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Spec.Template.Spec.Containers[0].Image; got != "registry.example.com/shipping/delivery:1.0.0@"+digestA {
		t.Errorf("image = %s, want it pinned by digest", got)
	}
	if d.Status.ReadyReplicas != 1 {
		t.Errorf("install returned before the pod was ready: %+v", d.Status)
	}
	rel, installed, err = c.installOrUpgrade(ctx, "delivery", deployChart("1.0.1"), imageVals("1.0.1@"+digestA), identity{run: "r2"}, time.Minute)
	if err != nil || installed || rel.Version != 2 {
		t.Fatalf("upgrade: %v (installed %v)", err, installed)
	}

	// An unschedulable revision: the failure names the Deployment, the pods and the scheduler's
	// reason, and the release goes back to revision 2.
	bad := imageVals("1.0.2@" + digestA)
	bad["nodeSelector"] = map[string]any{"disktype": "none-has-this"}
	_, installed, err = c.installOrUpgrade(ctx, "delivery", deployChart("1.0.2"), bad, identity{run: "r3"}, 8*time.Second)
	if err == nil {
		t.Fatal("an unschedulable upgrade succeeded")
	}
	var log bytes.Buffer
	msg := c.failedMessage(ctx, &log, "delivery", installed, 8*time.Second, err)
	for _, want := range []string{"not ready within 8s", "Deployment delivery: ", "Unschedulable", "didn't match Pod's node affinity/selector", "rolled back to revision 2"} {
		if !strings.Contains(msg, want) {
			t.Errorf("failure message lacks %q:\n%s", want, msg)
		}
	}
	hist, _ := c.history("delivery")
	if last := hist[len(hist)-1]; last.Info.Status != common.StatusDeployed || last.Chart.Metadata.Version != "1.0.1" {
		t.Errorf("after the rollback the release is %s %s", last.Info.Status, last.Chart.Metadata.Version)
	}
}

// upgradeChild makes this test binary an upgrade that never gets ready, to be killed.
const upgradeChild = "FERRY_TEST_UPGRADE_CHILD"

func runUpgradeChild() int {
	kc, ns := os.Getenv("FERRY_TEST_KUBECONFIG_CHILD"), os.Getenv(upgradeChild)
	c, err := connect(Target{Kubeconfig: kc, Namespace: ns}, io.Discard)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	bad := imageVals("2.0.0@" + digestA)
	bad["nodeSelector"] = map[string]any{"disktype": "none-has-this"}
	_, _, err = c.installOrUpgrade(context.Background(), "delivery", deployChart("2.0.0"), bad, identity{run: "killed"}, 10*time.Minute)
	fmt.Fprintln(os.Stderr, "upgrade returned:", err)
	return 1
}

// TestRecoverUpgradeKilledMidway kills (SIGKILL) a process in the middle of an upgrade: the
// release is left pending-upgrade, which Helm refuses to upgrade. The next deploy recovers it.
func TestRecoverUpgradeKilledMidway(t *testing.T) {
	ns := newNamespace(t)
	c := realCluster(t, ns)
	ctx := t.Context()
	if _, _, err := c.installOrUpgrade(ctx, "delivery", deployChart("1.0.0"), imageVals("1.0.0@"+digestA), identity{run: "r1"}, time.Minute); err != nil {
		t.Fatal(err)
	}
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), upgradeChild+"="+ns, "FERRY_TEST_KUBECONFIG_CHILD="+testenv.Cluster(t))
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		hist, _ := c.history("delivery")
		if len(hist) == 2 && hist[1].Info.Status == common.StatusPendingUpgrade {
			break
		}
		if time.Now().After(deadline) {
			child.Process.Kill()
			t.Fatal("the upgrade never became pending")
		}
		time.Sleep(100 * time.Millisecond)
	}
	child.Process.Signal(syscall.SIGKILL)
	child.Wait()

	if _, _, err := c.installOrUpgrade(ctx, "delivery", deployChart("1.0.1"), imageVals("1.0.1@"+digestA), identity{run: "r2"}, time.Minute); err == nil ||
		!strings.Contains(err.Error(), "in progress") {
		t.Fatalf("Helm itself upgraded a pending release (%v): the test does not show what it should", err)
	}
	var log bytes.Buffer
	if err := c.recoverPending(ctx, "delivery", time.Minute, &log); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "left pending-upgrade (revision 2) by an interrupted run: rolled back to revision 1") {
		t.Errorf("recovery log: %q", log.String())
	}
	rel, _, err := c.installOrUpgrade(ctx, "delivery", deployChart("1.0.1"), imageVals("1.0.1@"+digestA), identity{run: "r2"}, time.Minute)
	if err != nil || rel.Version != 4 {
		t.Fatalf("deploy after the recovery: %v %+v", err, rel)
	}
}

// TestLeaseAcrossRuns has two runs deploy one release at once: the second waits for the
// first's lease, says who holds it, and goes on when it is released.
func TestLeaseAcrossRuns(t *testing.T) {
	c := realCluster(t, newNamespace(t))
	ctx := t.Context()
	var logB bytes.Buffer
	unlockA, err := c.lock(ctx, "delivery", "run A", io.Discard, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var errB error
	gotB := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		var unlock func()
		unlock, errB = c.lock(ctx, "delivery", "run B", &logB, time.Now)
		if errB == nil {
			close(gotB)
			unlock()
		}
	}()
	select {
	case <-gotB:
		t.Fatal("run B took the lease while run A held it")
	case <-time.After(2 * time.Second):
	}
	unlockA()
	wg.Wait()
	if errB != nil {
		t.Fatal(errB)
	}
	if !strings.Contains(logB.String(), "held by run A") {
		t.Errorf("run B's log: %q", logB.String())
	}
}
