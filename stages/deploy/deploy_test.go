package deploy

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v4/pkg/action"
	chartcommon "helm.sh/helm/v4/pkg/chart/common"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	kubefake "helm.sh/helm/v4/pkg/kube/fake"
	"helm.sh/helm/v4/pkg/release/common"
	release "helm.sh/helm/v4/pkg/release/v1"
	"helm.sh/helm/v4/pkg/storage"
	"helm.sh/helm/v4/pkg/storage/driver"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sfake "k8s.io/client-go/kubernetes/fake"

	"github.com/ferry-ci/ferry/pipeline/config"
)

// These unit tests run deploy's release logic on Helm's memory driver and fake kube client,
// with client-go's fake clientset for the lease and the diagnosis. deploy_cluster_test.go runs
// the stage against a real Kubernetes API.

func fakeCluster(t *testing.T, kube *kubefake.FailingKubeClient) *cluster {
	t.Helper()
	if kube == nil {
		kube = &kubefake.FailingKubeClient{PrintingKubeClient: kubefake.PrintingKubeClient{Out: io.Discard}}
	}
	cfg := &action.Configuration{Releases: storage.Init(driver.NewMemory()), KubeClient: kube, Capabilities: chartcommon.DefaultCapabilities}
	return &cluster{helm: cfg, kube: k8sfake.NewClientset(), namespace: "backend-qa"}
}

func testChart(version string) *chart.Chart {
	return &chart.Chart{
		Metadata: &chart.Metadata{APIVersion: "v2", Name: "delivery", Version: version, AppVersion: version},
		Values:   map[string]any{"image": map[string]any{"repository": "", "tag": ""}},
		Templates: []*chartcommon.File{{Name: "templates/cm.yaml", Data: []byte(
			"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: delivery}\ndata: {image: \"{{ .Values.image.repository }}:{{ .Values.image.tag }}\"}\n")}},
	}
}

func storeRelease(t *testing.T, c *cluster, version int, status common.Status) {
	t.Helper()
	r := &release.Release{Name: "delivery", Namespace: c.namespace, Version: version, Chart: testChart("1.0.0"),
		Info: &release.Info{Status: status, LastDeployed: time.Unix(1700000000+int64(version), 0)}}
	if err := c.helm.Releases.Create(r); err != nil {
		t.Fatal(err)
	}
}

func statuses(t *testing.T, c *cluster) []string {
	t.Helper()
	hist, err := c.history("delivery")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range hist {
		out = append(out, string(r.Info.Status))
	}
	return out
}

func TestInstallUpgradeAndResume(t *testing.T) {
	c := fakeCluster(t, nil)
	ctx := t.Context()
	id := identity{run: "20261202-101010.000-abcdef", chartDigest: "sha256:" + strings.Repeat("a", 64), valuesDigest: "sha256:" + strings.Repeat("b", 64)}
	rel, installed, err := c.installOrUpgrade(ctx, "delivery", testChart("1.0.0"), map[string]any{}, id, time.Minute)
	if err != nil || !installed || rel.Version != 1 {
		t.Fatalf("first deploy: %v installed=%v %+v", err, installed, rel)
	}
	if got, _ := c.deployed("delivery", id); got == nil || got.Version != 1 {
		t.Errorf("a resumed run must find its own revision: %+v", got)
	}
	if got, _ := c.deployed("delivery", identity{run: "another", chartDigest: id.chartDigest, valuesDigest: id.valuesDigest}); got != nil {
		t.Errorf("another run's revision counted as this run's: %+v", got)
	}
	id2 := id
	id2.run = "20261202-111111.000-fedcba"
	rel, installed, err = c.installOrUpgrade(ctx, "delivery", testChart("1.0.1"), map[string]any{}, id2, time.Minute)
	if err != nil || installed || rel.Version != 2 || rel.Labels[labelRun] != id2.run || rel.Labels[labelChart] != strings.Repeat("a", 40) {
		t.Fatalf("upgrade: %v installed=%v %+v", err, installed, rel)
	}
}

func TestFailedUpgradeIsExplainedAndRolledBack(t *testing.T) {
	kube := &kubefake.FailingKubeClient{PrintingKubeClient: kubefake.PrintingKubeClient{Out: io.Discard}}
	c := fakeCluster(t, kube)
	ctx := t.Context()
	id := identity{run: "r1"}
	if _, _, err := c.installOrUpgrade(ctx, "delivery", testChart("1.0.0"), map[string]any{}, id, time.Minute); err != nil {
		t.Fatal(err)
	}
	// The new revision never gets ready: its pod cannot be scheduled.
	replicas := int32(1)
	c.kube.(*k8sfake.Clientset).AppsV1().Deployments(c.namespace).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "delivery", Annotations: map[string]string{"meta.helm.sh/release-name": "delivery"}},
		Spec:       appsv1.DeploymentSpec{Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "delivery"}}},
	}, metav1.CreateOptions{})
	c.kube.(*k8sfake.Clientset).CoreV1().Pods(c.namespace).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "delivery-7d9f", Labels: map[string]string{"app": "delivery"}},
		Status: corev1.PodStatus{Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse,
			Reason: "Unschedulable", Message: "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector."}}},
	}, metav1.CreateOptions{})
	kube.WaitError = context.DeadlineExceeded
	_, installed, err := c.installOrUpgrade(ctx, "delivery", testChart("1.0.1"), map[string]any{}, identity{run: "r2"}, time.Minute)
	if err == nil {
		t.Fatal("the upgrade did not fail")
	}
	kube.WaitError = nil
	var log bytes.Buffer
	msg := c.failedMessage(ctx, &log, "delivery", installed, time.Minute, err)
	for _, want := range []string{"not ready within 1m0s", "Deployment delivery: 0/1 pods ready", "pod delivery-7d9f: Unschedulable: 0/1 nodes are available", "rolled back to revision 1"} {
		if !strings.Contains(msg, want) {
			t.Errorf("failure message %q lacks %q", msg, want)
		}
	}
	if strings.Contains(msg, "context deadline exceeded") {
		t.Errorf("failure message is Helm's bare timeout: %q", msg)
	}
	if got := statuses(t, c); strings.Join(got, ",") != "superseded,failed,deployed" {
		t.Errorf("history after the rollback: %v", got)
	}
}

func TestRecoverPending(t *testing.T) {
	cases := []struct {
		name    string
		history []common.Status
		want    string // the statuses afterwards
		log     string
	}{
		{"pending upgrade after a deployed revision", []common.Status{common.StatusDeployed, common.StatusPendingUpgrade},
			"superseded,pending-upgrade,deployed", "left pending-upgrade (revision 2) by an interrupted run: rolled back to revision 1"},
		{"pending rollback", []common.Status{common.StatusSuperseded, common.StatusDeployed, common.StatusPendingRollback},
			"superseded,superseded,pending-rollback,deployed", "rolled back to revision 2"},
		{"pending install that never deployed", []common.Status{common.StatusPendingInstall},
			"", "left pending-install by an interrupted run and never deployed: uninstalled it"},
		{"nothing pending", []common.Status{common.StatusDeployed}, "deployed", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := fakeCluster(t, nil)
			for i, st := range tc.history {
				storeRelease(t, c, i+1, st)
			}
			var log bytes.Buffer
			if err := c.recoverPending(t.Context(), "delivery", time.Minute, &log); err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(statuses(t, c), ","); got != tc.want {
				t.Errorf("statuses = %s, want %s", got, tc.want)
			}
			if !strings.Contains(log.String(), tc.log) || (tc.log == "" && log.Len() > 0) {
				t.Errorf("log = %q, want %q", log.String(), tc.log)
			}
		})
	}
}

func TestLeaseIsExclusive(t *testing.T) {
	c := fakeCluster(t, nil)
	now := time.Now()
	clock := func() time.Time { return now }
	var logA, logB bytes.Buffer
	unlockA, err := c.lock(t.Context(), "delivery", "run A", &logA, clock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2500*time.Millisecond)
	defer cancel()
	if _, err := c.lock(ctx, "delivery", "run B", &logB, clock); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("run B got the lease run A holds: %v", err)
	}
	if !strings.Contains(logB.String(), "held by run A") {
		t.Errorf("the waiting deploy does not say who holds the lease: %q", logB.String())
	}
	unlockA()
	unlockB, err := c.lock(t.Context(), "delivery", "run B", &logB, clock)
	if err != nil {
		t.Fatalf("after A released it: %v", err)
	}
	unlockB()

	// A holder that died stops renewing: its lease expires and the next run takes it.
	if _, err := c.lock(t.Context(), "delivery", "run C", io.Discard, clock); err != nil {
		t.Fatal(err)
	}
	later := func() time.Time { return now.Add(leaseDuration + time.Second) }
	unlockD, err := c.lock(t.Context(), "delivery", "run D", io.Discard, later)
	if err != nil {
		t.Fatalf("an expired lease was not taken over: %v", err)
	}
	unlockD()
}

func TestValues(t *testing.T) {
	root := t.TempDir()
	writeFile(t, root, "deploy/qa.yaml", "replicas: 2\nimage: {pullPolicy: Always}\n")
	env := &config.Environment{Name: "qa", Values: []string{"deploy/qa.yaml"}, Set: map[string]string{"replicas": "3", "ingress.host": "qa.example.com"}}
	img := image{Repository: "127.0.0.1:5000/shipping/delivery", Digest: "sha256:" + strings.Repeat("c", 64), Tag: "1.0.2"}
	vals, digest, err := values(root, env, config.DefaultImageValues(), img)
	if err != nil {
		t.Fatal(err)
	}
	imgVals := vals["image"].(map[string]any)
	if imgVals["repository"] != img.Repository || imgVals["tag"] != "1.0.2@"+img.Digest || imgVals["pullPolicy"] != "Always" {
		t.Errorf("image values = %v", imgVals)
	}
	if vals["replicas"] != int64(3) || vals["ingress"].(map[string]any)["host"] != "qa.example.com" {
		t.Errorf("values = %v: set entries must win over files", vals)
	}
	_, again, _ := values(root, env, config.DefaultImageValues(), img)
	if again != digest || !strings.HasPrefix(digest, "sha256:") {
		t.Errorf("values digest not stable: %s %s", digest, again)
	}
	split, _, err := values(root, env, config.ImageValues{Repository: "app.image.repo", Tag: "app.image.version", Digest: "app.image.digest"}, img)
	if err != nil {
		t.Fatal(err)
	}
	if app := split["app"].(map[string]any)["image"].(map[string]any); app["digest"] != img.Digest || app["version"] != "1.0.2" {
		t.Errorf("configured image keys = %v", app)
	}
}

func writeFile(t *testing.T, root, rel, data string) {
	t.Helper()
	p := filepath.Join(root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}
