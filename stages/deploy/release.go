package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"helm.sh/helm/v4/pkg/action"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/kube"
	ri "helm.sh/helm/v4/pkg/release"
	"helm.sh/helm/v4/pkg/release/common"
	release "helm.sh/helm/v4/pkg/release/v1"
	"helm.sh/helm/v4/pkg/storage/driver"
)

// Release labels record what each revision is, so that a resumed run recognises its own
// deploy. Label values are at most 63 characters: digests are cut to 40 hex digits.
const (
	labelRun    = "ferry.dev/run"
	labelChart  = "ferry.dev/chart"
	labelValues = "ferry.dev/values"
)

// identity is what a revision is made of.
type identity struct {
	run, chartDigest, valuesDigest string
}

func (id identity) labels() map[string]string {
	return map[string]string{labelRun: id.run, labelChart: shortDigest(id.chartDigest), labelValues: shortDigest(id.valuesDigest)}
}

// shortDigest fits a sha256:… digest into a label value.
func shortDigest(d string) string {
	if len(d) > 7 && d[:7] == "sha256:" {
		d = d[7:]
	}
	if len(d) > 40 {
		d = d[:40]
	}
	return d
}

// history returns the release's revisions, oldest first; none when it was never installed.
func (c *cluster) history(name string) ([]*release.Release, error) {
	h := action.NewHistory(c.helm)
	h.Max = 256
	list, err := h.Run(name)
	if errors.Is(err, driver.ErrReleaseNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("history of %s: %w", name, err)
	}
	out := make([]*release.Release, 0, len(list))
	for _, r := range list {
		rel, err := asRelease(r)
		if err != nil {
			return nil, err
		}
		out = append(out, rel)
	}
	slices.SortFunc(out, func(a, b *release.Release) int { return a.Version - b.Version })
	return out, nil
}

// asRelease is the v1 release behind Helm v4's Releaser interface.
func asRelease(r ri.Releaser) (*release.Release, error) {
	rel, ok := r.(*release.Release)
	if !ok {
		return nil, fmt.Errorf("unexpected release type %T", r)
	}
	return rel, nil
}

// lastDeployed is the newest revision that was deployed (or superseded by a later one), 0 when
// none ever was.
func lastDeployed(hist []*release.Release, before int) int {
	for i := len(hist) - 1; i >= 0; i-- {
		r := hist[i]
		if r.Version < before && (r.Info.Status == common.StatusDeployed || r.Info.Status == common.StatusSuperseded) {
			return r.Version
		}
	}
	return 0
}

// recoverPending undoes what a killed run left: Helm refuses to touch a release in
// pending-install, pending-upgrade or pending-rollback, and only the client that set that
// state clears it. The release goes back to its last deployed revision, or is uninstalled when
// it never deployed. Run under the lease, so no live deploy is in progress.
func (c *cluster) recoverPending(ctx context.Context, name string, wait time.Duration, log io.Writer) error {
	hist, err := c.history(name)
	if err != nil || len(hist) == 0 {
		return err
	}
	last := hist[len(hist)-1]
	status, revision := last.Info.Status, last.Version // the actions below change last
	if !status.IsPending() {
		return nil
	}
	if to := lastDeployed(hist, revision); to > 0 {
		if err := c.rollback(ctx, name, to, wait); err != nil {
			return fmt.Errorf("release %s was left %s (revision %d) by an interrupted run; rolling back to revision %d: %w", name, status, revision, to, err)
		}
		fmt.Fprintf(log, "release %s was left %s (revision %d) by an interrupted run: rolled back to revision %d\n", name, status, revision, to)
		return nil
	}
	if err := c.uninstall(ctx, name, wait); err != nil {
		return fmt.Errorf("release %s was left %s by an interrupted run and never deployed; uninstalling it: %w", name, status, err)
	}
	fmt.Fprintf(log, "release %s was left %s by an interrupted run and never deployed: uninstalled it\n", name, status)
	return nil
}

// deployed returns the current revision when it is exactly id (a resumed run whose deploy
// went through before the journal heard of it).
func (c *cluster) deployed(name string, id identity) (*release.Release, error) {
	hist, err := c.history(name)
	if err != nil || len(hist) == 0 {
		return nil, err
	}
	last := hist[len(hist)-1]
	if last.Info.Status != common.StatusDeployed {
		return nil, nil
	}
	for k, v := range id.labels() {
		if last.Labels[k] != v {
			return nil, nil
		}
	}
	return last, nil
}

// install or upgrade, waiting until everything is ready. The first revision of a release is an
// install (Helm's action package has no install-or-upgrade).
func (c *cluster) installOrUpgrade(ctx context.Context, name string, ch *chart.Chart, vals map[string]any, id identity, wait time.Duration) (*release.Release, bool, error) {
	hist, err := c.history(name)
	if err != nil {
		return nil, false, err
	}
	if len(hist) == 0 || allUninstalled(hist) {
		in := action.NewInstall(c.helm)
		in.ReleaseName, in.Namespace, in.Labels = name, c.namespace, id.labels()
		in.WaitStrategy, in.Timeout = kube.StatusWatcherStrategy, wait
		r, err := in.RunWithContext(ctx, ch, vals)
		rel, _ := asReleaseOrNil(r)
		return rel, true, err
	}
	up := action.NewUpgrade(c.helm)
	up.Namespace, up.Labels = c.namespace, id.labels()
	up.WaitStrategy, up.Timeout = kube.StatusWatcherStrategy, wait
	r, err := up.RunWithContext(ctx, name, ch, vals)
	rel, _ := asReleaseOrNil(r)
	return rel, false, err
}

func allUninstalled(hist []*release.Release) bool {
	for _, r := range hist {
		if r.Info.Status != common.StatusUninstalled {
			return false
		}
	}
	return true
}

func asReleaseOrNil(r ri.Releaser) (*release.Release, error) {
	if r == nil {
		return nil, nil
	}
	return asRelease(r)
}

// rollback returns the release to a revision and waits for it.
func (c *cluster) rollback(ctx context.Context, name string, revision int, wait time.Duration) error {
	rb := action.NewRollback(c.helm)
	rb.Version, rb.WaitStrategy, rb.Timeout = revision, kube.StatusWatcherStrategy, wait
	return rb.Run(name)
}

// uninstall removes a release that never deployed, with its history.
func (c *cluster) uninstall(ctx context.Context, name string, wait time.Duration) error {
	un := action.NewUninstall(c.helm)
	un.WaitStrategy, un.Timeout = kube.StatusWatcherStrategy, wait
	_, err := un.Run(name)
	return err
}
