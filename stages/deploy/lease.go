package deploy

import (
	"context"
	"fmt"
	"io"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// A coordination.k8s.io Lease per service and environment, in the target namespace, keeps two
// runs (on any machines) from deploying one release at once. It is held by the run, renewed
// while the deploy runs and expires when its holder dies, so a killed job blocks the next one
// for at most leaseDuration.
const (
	leaseDuration = 30 * time.Second
	leaseRenew    = 10 * time.Second
	leasePoll     = time.Second
)

// leaseName is the lease of a release.
func leaseName(release string) string { return "ferry-deploy-" + release }

// lock takes the release's lease for holder, waiting while another live holder has it (saying
// once which). The returned unlock stops renewing and releases it.
func (c *cluster) lock(ctx context.Context, release, holder string, log io.Writer, now func() time.Time) (unlock func(), err error) {
	name := leaseName(release)
	said := ""
	for {
		other, err := c.tryLease(ctx, name, holder, now())
		if err != nil {
			return nil, fmt.Errorf("lease %s/%s: %w", c.namespace, name, err)
		}
		if other == "" {
			break
		}
		if other != said {
			fmt.Fprintf(log, "waiting for lease %s/%s, held by %s\n", c.namespace, name, other)
			said = other
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for lease %s/%s held by %s: %w", c.namespace, name, other, ctx.Err())
		case <-time.After(leasePoll):
		}
	}
	renewCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-renewCtx.Done():
				return
			case <-time.After(leaseRenew):
				if _, err := c.tryLease(renewCtx, name, holder, now()); err != nil && renewCtx.Err() == nil {
					fmt.Fprintf(log, "renewing lease %s/%s: %v\n", c.namespace, name, err)
				}
			}
		}
	}()
	return func() {
		stop()
		<-done
		c.releaseLease(context.WithoutCancel(ctx), name, holder)
	}, nil
}

// tryLease takes or renews the lease; other is the live holder that keeps us out, "" when we
// hold it now.
func (c *cluster) tryLease(ctx context.Context, name, holder string, now time.Time) (other string, err error) {
	leases := c.kube.CoordinationV1().Leases(c.namespace)
	l, err := leases.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = leases.Create(ctx, newLease(name, c.namespace, holder, now), metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			return "another run", nil // lost the race: look again
		}
		return "", err
	}
	if err != nil {
		return "", err
	}
	if h := holderOf(l); h != "" && h != holder && !expired(l, now) {
		return h, nil
	}
	if holderOf(l) != holder {
		transitions := int32(1)
		if l.Spec.LeaseTransitions != nil {
			transitions += *l.Spec.LeaseTransitions
		}
		l.Spec.LeaseTransitions = &transitions
		l.Spec.AcquireTime = &metav1.MicroTime{Time: now}
	}
	h, secs := holder, int32(leaseDuration/time.Second)
	l.Spec.HolderIdentity, l.Spec.LeaseDurationSeconds = &h, &secs
	l.Spec.RenewTime = &metav1.MicroTime{Time: now}
	if _, err := leases.Update(ctx, l, metav1.UpdateOptions{}); apierrors.IsConflict(err) {
		return "another run", nil
	} else if err != nil {
		return "", err
	}
	return "", nil
}

// releaseLease gives the lease up, if it is still ours, so that the next deploy need not wait
// for it to expire.
func (c *cluster) releaseLease(ctx context.Context, name, holder string) {
	leases := c.kube.CoordinationV1().Leases(c.namespace)
	l, err := leases.Get(ctx, name, metav1.GetOptions{})
	if err != nil || holderOf(l) != holder {
		return
	}
	empty := ""
	l.Spec.HolderIdentity = &empty
	_, _ = leases.Update(ctx, l, metav1.UpdateOptions{})
}

func newLease(name, ns, holder string, now time.Time) *coordinationv1.Lease {
	secs := int32(leaseDuration / time.Second)
	t := metav1.MicroTime{Time: now}
	return &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app.kubernetes.io/managed-by": "ferry"}},
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: &holder, LeaseDurationSeconds: &secs, AcquireTime: &t, RenewTime: &t},
	}
}

func holderOf(l *coordinationv1.Lease) string {
	if l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}

func expired(l *coordinationv1.Lease, now time.Time) bool {
	if l.Spec.RenewTime == nil || l.Spec.LeaseDurationSeconds == nil {
		return true
	}
	return now.After(l.Spec.RenewTime.Add(time.Duration(*l.Spec.LeaseDurationSeconds) * time.Second))
}
