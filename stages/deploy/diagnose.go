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
		want := int32(1)
		if d.Spec.Replicas != nil {
			want = *d.Spec.Replicas
		}
		if d.Status.ReadyReplicas >= want && d.Status.UpdatedReplicas >= want {
			continue
		}
		line := fmt.Sprintf("Deployment %s: %d/%d pods ready", d.Name, d.Status.ReadyReplicas, want)
		if reasons := c.podReasons(ctx, d); len(reasons) > 0 {
			line += "; " + strings.Join(reasons, "; ")
		}
		out = append(out, line)
	}
	return out
}

// podReasons lists why the Deployment's pods are not ready, once per distinct reason.
func (c *cluster) podReasons(ctx context.Context, d *appsv1.Deployment) []string {
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil
	}
	pods, err := c.kube.CoreV1().Pods(c.namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return []string{fmt.Sprintf("could not list its pods: %v", err)}
	}
	seen := map[string]bool{}
	var out []string
	for i := range pods.Items {
		for _, r := range podReason(&pods.Items[i]) {
			if !seen[r] {
				seen[r] = true
				out = append(out, fmt.Sprintf("pod %s: %s", pods.Items[i].Name, r))
			}
		}
	}
	sort.Strings(out)
	return out
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
