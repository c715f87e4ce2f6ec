package deploy

import (
	"context"
	"fmt"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// diagnose says why a release's workloads are not ready, in words a person acts on: which
// Deployment, how many pods are ready, and each unready pod's reason (Unschedulable and the
// scheduler's message, ImagePullBackOff, CrashLoopBackOff, ...). Helm alone says "context
// deadline exceeded".
func (c *cluster) diagnose(ctx context.Context, name string) []string {
	deps, err := c.kube.AppsV1().Deployments(c.namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return []string{fmt.Sprintf("could not list Deployments in %s: %v", c.namespace, err)}
	}
	var out []string
	for i := range deps.Items {
		d := &deps.Items[i]
		if d.Annotations["meta.helm.sh/release-name"] != name {
			continue
		}
		if line := c.deploymentReport(ctx, d); line != "" {
			out = append(out, line)
		}
	}
	return out
}

// deploymentReport describes a Deployment whose newest revision is not ready, "" when it is.
// During a rolling update the old pods stay ready, so only the pods of the newest ReplicaSet
// count.
func (c *cluster) deploymentReport(ctx context.Context, d *appsv1.Deployment) string {
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	pods, err := c.newPods(ctx, d)
	if err != nil {
		return fmt.Sprintf("Deployment %s: could not list its pods: %v", d.Name, err)
	}
	ready := int32(0)
	var reasons []string
	seen := map[string]bool{}
	for i := range pods {
		if podReady(&pods[i]) {
			ready++
			continue
		}
		for _, r := range podReason(&pods[i]) {
			if !seen[r] {
				seen[r] = true
				reasons = append(reasons, fmt.Sprintf("pod %s: %s", pods[i].Name, r))
			}
		}
	}
	if ready >= want {
		return ""
	}
	sort.Strings(reasons)
	line := fmt.Sprintf("Deployment %s: %d/%d pods ready", d.Name, ready, want)
	if len(reasons) > 0 {
		line += "; " + strings.Join(reasons, "; ")
	}
	return line
}

// newPods are the pods of the Deployment's newest ReplicaSet (the revision being rolled out).
func (c *cluster) newPods(ctx context.Context, d *appsv1.Deployment) ([]corev1.Pod, error) {
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil, err
	}
	opts := metav1.ListOptions{LabelSelector: sel.String()}
	rss, err := c.kube.AppsV1().ReplicaSets(c.namespace).List(ctx, opts)
	if err != nil {
		return nil, err
	}
	hash := ""
	for _, rs := range rss.Items {
		if metav1.IsControlledBy(&rs, d) && rs.Annotations["deployment.kubernetes.io/revision"] == d.Annotations["deployment.kubernetes.io/revision"] {
			hash = rs.Labels["pod-template-hash"]
		}
	}
	pods, err := c.kube.CoreV1().Pods(c.namespace).List(ctx, opts)
	if err != nil {
		return nil, err
	}
	if hash == "" {
		return pods.Items, nil // no ReplicaSet yet (or a fake clientset): every pod counts
	}
	var out []corev1.Pod
	for _, p := range pods.Items {
		if p.Labels["pod-template-hash"] == hash {
			out = append(out, p)
		}
	}
	return out, nil
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// podReason is why one pod is not ready, nil when it is.
func podReason(p *corev1.Pod) []string {
	var out []string
	for _, cond := range p.Status.Conditions {
		if cond.Type == corev1.PodScheduled && cond.Status == corev1.ConditionFalse {
			out = append(out, strings.TrimSpace(cond.Reason+": "+cond.Message))
		}
	}
	statuses := append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...)
	for _, cs := range statuses {
		switch {
		case cs.State.Waiting != nil && cs.State.Waiting.Reason != "" && cs.State.Waiting.Reason != "ContainerCreating":
			out = append(out, fmt.Sprintf("container %s %s: %s", cs.Name, cs.State.Waiting.Reason, cs.State.Waiting.Message))
		case cs.State.Terminated != nil && cs.State.Terminated.ExitCode != 0:
			out = append(out, fmt.Sprintf("container %s terminated (%s, exit code %d)", cs.Name, cs.State.Terminated.Reason, cs.State.Terminated.ExitCode))
		}
	}
	return out
}
