package deploy

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/kube"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/ferry-ci/ferry/pipeline/config"
)

// Target is where one environment's releases live: a kubeconfig context and a namespace.
type Target struct {
	// Kubeconfig is the kubeconfig file; "" means $KUBECONFIG, then ~/.kube/config, then the
	// in-cluster config of a pod.
	Kubeconfig string
	// Context is the kubeconfig context ("" is the current one).
	Context   string
	Namespace string
}

// cluster is a connection to one target: Helm's action configuration for releases and a
// clientset for the lease, the namespace and diagnostics. Tests make one from Helm's memory
// driver and client-go's fake clientset.
type cluster struct {
	helm      *action.Configuration
	kube      kubernetes.Interface
	namespace string
}

// FieldManager is the manager of the fields Ferry's deploys apply (server-side apply). Helm
// otherwise names it after the executable, so that a ferry built or installed under another
// name (ferry.exe, a test binary, a wrapper) would conflict with the fields of the last deploy.
const FieldManager = "ferry"

func init() { kube.ManagedFieldsManager = FieldManager }

// connect opens the target. Helm logs through slog to log, so its warnings land in the
// stage's log.
func connect(t Target, log io.Writer) (*cluster, error) {
	ns := t.Namespace
	if ns == "" {
		ns = config.DefaultNamespace
	}
	flags := genericclioptions.NewConfigFlags(true)
	flags.KubeConfig, flags.Context, flags.Namespace = &t.Kubeconfig, &t.Context, &ns
	// As Helm's CLI does: client-go's default burst of 10 throttles the status watcher and the
	// apply of a chart's resources (measured: 3× the CLI's time per upgrade without this).
	flags.WrapConfigFn = func(c *rest.Config) *rest.Config {
		c.Burst = 100
		return c
	}
	cfg := action.NewConfiguration()
	cfg.SetLogger(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if err := cfg.Init(flags, ns, "secret"); err != nil {
		return nil, fmt.Errorf("kubernetes %s: %w", describe(t), err)
	}
	rest, err := flags.ToRESTConfig()
	if err != nil {
		return nil, fmt.Errorf("kubernetes %s: %w", describe(t), err)
	}
	kube, err := kubernetes.NewForConfig(rest)
	if err != nil {
		return nil, fmt.Errorf("kubernetes %s: %w", describe(t), err)
	}
	return &cluster{helm: cfg, kube: kube, namespace: ns}, nil
}

// describe names a target for messages: never the kubeconfig's contents.
func describe(t Target) string {
	ctx := t.Context
	if ctx == "" {
		ctx = "current context"
	} else {
		ctx = "context " + ctx
	}
	return fmt.Sprintf("(%s, namespace %s)", ctx, t.Namespace)
}

// ensureNamespace creates the namespace when allowed, or says that it is missing.
func (c *cluster) ensureNamespace(ctx context.Context, create bool, log io.Writer) error {
	_, err := c.kube.CoreV1().Namespaces().Get(ctx, c.namespace, metav1.GetOptions{})
	switch {
	case err == nil:
		return nil
	case !apierrors.IsNotFound(err):
		return fmt.Errorf("namespace %s: %w", c.namespace, err)
	case !create:
		return fmt.Errorf("namespace %s does not exist (set createNamespace: true on the environment to let Ferry create it)", c.namespace)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: c.namespace, Labels: map[string]string{"app.kubernetes.io/managed-by": "ferry"}}}
	if _, err := c.kube.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create namespace %s: %w", c.namespace, err)
	}
	fmt.Fprintf(log, "created namespace %s\n", c.namespace)
	return nil
}
