package deploy

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	release "helm.sh/helm/v4/pkg/release/v1"
)

// Revision is one revision of a release, as ferry history shows it.
type Revision struct {
	Revision    int       `json:"revision"`
	Status      string    `json:"status"`
	Chart       string    `json:"chart"`
	AppVersion  string    `json:"appVersion"`
	Updated     time.Time `json:"updated"`
	Description string    `json:"description"`
	// Run is the Ferry run that deployed it ("" for revisions made by others or by rollback).
	Run string `json:"run,omitempty"`
}

func revisionOf(r *release.Release) Revision {
	rev := Revision{Revision: r.Version, Run: r.Labels[labelRun]}
	if r.Info != nil {
		rev.Status, rev.Updated, rev.Description = string(r.Info.Status), r.Info.LastDeployed, r.Info.Description
	}
	if r.Chart != nil && r.Chart.Metadata != nil {
		rev.Chart, rev.AppVersion = r.Chart.Metadata.Name+"-"+r.Chart.Metadata.Version, r.Chart.Metadata.AppVersion
	}
	return rev
}

// History lists a release's revisions, oldest first.
func History(ctx context.Context, t Target, name string) ([]Revision, error) {
	c, err := connect(t, io.Discard)
	if err != nil {
		return nil, err
	}
	hist, err := c.history(name)
	if err != nil {
		return nil, err
	}
	out := make([]Revision, len(hist))
	for i, r := range hist {
		out[i] = revisionOf(r)
	}
	return out, nil
}

// Rollback returns a release to a revision (0: the last deployed one before the current), under
// the release's lease, and waits until it is ready.
func Rollback(ctx context.Context, t Target, name string, revision int, wait time.Duration, log io.Writer) (Revision, error) {
	c, err := connect(t, log)
	if err != nil {
		return Revision{}, err
	}
	host, _ := os.Hostname()
	unlock, err := c.lock(ctx, name, fmt.Sprintf("ferry rollback on %s (pid %d)", host, os.Getpid()), log, time.Now)
	if err != nil {
		return Revision{}, err
	}
	defer unlock()
	hist, err := c.history(name)
	if err != nil {
		return Revision{}, err
	}
	if len(hist) == 0 {
		return Revision{}, fmt.Errorf("release %s has no revisions in %s", name, c.namespace)
	}
	if revision == 0 {
		if revision = lastDeployed(hist, hist[len(hist)-1].Version); revision == 0 {
			return Revision{}, fmt.Errorf("release %s has no earlier deployed revision", name)
		}
	}
	if wait == 0 {
		wait = defaultWait
	}
	if err := c.rollback(ctx, name, revision, wait); err != nil {
		return Revision{}, fmt.Errorf("roll %s back to revision %d: %s", name, revision, helmError(err, wait))
	}
	hist, err = c.history(name)
	if err != nil {
		return Revision{}, err
	}
	return revisionOf(hist[len(hist)-1]), nil
}
