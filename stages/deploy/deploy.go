// Package deploy rolls a service's chart out to each environment with Helm v4 as a library:
// install or upgrade with the image pinned by digest, wait until ready, diagnose and roll back
// a failure, recover a release that a killed run left pending, all under a Lease per service
// and environment. It and stages/chart are the only packages that link Helm and client-go.
package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/ferry-ci/ferry/pipeline"
	"github.com/ferry-ci/ferry/pipeline/config"
	"github.com/ferry-ci/ferry/triggers"
)

// defaultWait bounds the wait for readiness when the environment sets no timeout.
const defaultWait = config.DefaultDeployTimeout

// Stage is the deploy stage.
type Stage struct {
	Keychain authn.Keychain
	// Kubeconfig is --kubeconfig or $KUBECONFIG ("" lets client-go look: ~/.kube/config, then
	// the in-cluster config).
	Kubeconfig string
	// PlainHTTP pulls charts over plain HTTP.
	PlainHTTP bool
	// Now is the clock of the lease (time.Now when nil).
	Now func() time.Time
	// connect is replaced by tests with Helm's memory driver and a fake clientset.
	connect func(Target, *pipeline.Job) (*cluster, error)
}

var (
	_ pipeline.Stage     = (*Stage)(nil)
	_ pipeline.Skipper   = (*Stage)(nil)
	_ pipeline.DryRunner = (*Stage)(nil)
)

// Name is deploy.
func (s *Stage) Name() string { return config.StageDeploy }

// Skip skips services without a chart.
func (s *Stage) Skip(job *pipeline.Job) (string, bool) {
	if job.Service.Chart == "" {
		return "no chart", true
	}
	return "", false
}

// DryRun says which chart goes where with which image.
func (s *Stage) DryRun(job *pipeline.Job) string {
	t := s.target(job.Env)
	return fmt.Sprintf("helm install-or-upgrade %s %s with the chart pushed by the chart stage and the image pinned by digest", job.Service.Name, describe(t))
}

func (s *Stage) target(env *config.Environment) Target {
	return Target{Kubeconfig: s.Kubeconfig, Context: env.KubeContext, Namespace: env.Namespace}
}

// Run deploys the service to the job's environment.
func (s *Stage) Run(ctx context.Context, job *pipeline.Job) error {
	if job.Env == nil {
		return pipeline.Permanent(errors.New("deploy runs only for an environment"))
	}
	chartOut, ok := job.Pipeline.Output(config.StageChart)
	if !ok || chartOut.Chart == nil {
		return pipeline.Permanent(errors.New("nothing to deploy: the chart stage recorded no chart"))
	}
	chartOut.Chart = chartFor(job, chartOut.Chart)
	img, err := imageFor(job)
	if err != nil {
		return pipeline.Permanent(err)
	}
	vals, valuesDigest, err := values(job.RepoRoot, job.Env, job.Service.ImageValues, img)
	if err != nil {
		return pipeline.Permanent(err)
	}
	c, err := s.open(job)
	if err != nil {
		return err
	}
	if err := c.ensureNamespace(ctx, job.Env.CreateNamespace, job.Log); err != nil {
		return pipeline.Permanent(err)
	}
	unlock, err := c.lock(ctx, job.Service.Name, "run "+job.Run.ID, job.Log, s.now)
	if err != nil {
		return err
	}
	defer unlock()
	id := identity{run: job.Run.ID, chartDigest: chartOut.Chart.Digest, valuesDigest: valuesDigest}
	return s.deploy(ctx, job, c, chartOut.Chart, img, vals, id)
}

// deploy runs under the lease: recover, skip what is done, install or upgrade, explain and
// roll back a failure.
func (s *Stage) deploy(ctx context.Context, job *pipeline.Job, c *cluster, ch *pipeline.ChartOutput, img image, vals map[string]any, id identity) error {
	name, wait := job.Service.Name, waitFor(job.Env)
	if err := c.recoverPending(ctx, name, wait, job.Log); err != nil {
		return err
	}
	out := &pipeline.DeployOutput{Release: name, Namespace: c.namespace, Chart: ch.Digest, Image: img.Repository + "@" + img.Digest}
	if rel, err := c.deployed(name, id); err != nil {
		return err
	} else if rel != nil {
		out.Revision = rel.Version
		job.Outputs.Deploy = out
		fmt.Fprintf(job.Log, "revision %d of %s in %s is this run's deploy: nothing to do\n", rel.Version, name, c.namespace)
		return nil
	}
	chrt, err := pullChart(ctx, ch.Ref, s.keychain(), s.PlainHTTP)
	if err != nil {
		return err
	}
	fmt.Fprintf(job.Log, "deploying %s %s to %s (chart %s, image %s)\n", name, chrt.Metadata.Version, c.namespace, ch.Digest, out.Image)
	rel, installed, err := c.installOrUpgrade(ctx, name, chrt, vals, id, wait)
	if err != nil {
		return c.failed(ctx, job, name, installed, wait, err)
	}
	out.Revision = rel.Version
	job.Outputs.Deploy = out
	fmt.Fprintf(job.Log, "%s revision %d is ready in %s\n", name, rel.Version, c.namespace)
	return nil
}

// failed explains a failed deploy and undoes it: an upgrade goes back to the last deployed
// revision, a first install is uninstalled. The error names the unready workloads and says
// whether the undo worked.
func (c *cluster) failed(ctx context.Context, job *pipeline.Job, name string, installed bool, wait time.Duration, cause error) error {
	return pipeline.Permanent(errors.New(c.failedMessage(ctx, job.Log, name, installed, wait, cause)))
}

func (c *cluster) failedMessage(ctx context.Context, log io.Writer, name string, installed bool, wait time.Duration, cause error) string {
	why := c.diagnose(context.WithoutCancel(ctx), name)
	msg := helmError(cause, wait)
	if len(why) > 0 {
		msg += ": " + strings.Join(why, "; ")
	}
	undo := c.undo(context.WithoutCancel(ctx), name, installed, wait)
	full := fmt.Sprintf("deploy of %s to %s failed: %s; %s", name, c.namespace, msg, undo)
	fmt.Fprintln(log, full)
	return full
}

// minUndoWait bounds the undo from below: the failed revision's pods must terminate before the
// restored one counts as ready, which a short deploy timeout (set to fail fast) may not allow.
const minUndoWait = time.Minute

// undo rolls a failed upgrade back or uninstalls a failed first install, and says how it went.
func (c *cluster) undo(ctx context.Context, name string, installed bool, wait time.Duration) string {
	wait = max(wait, minUndoWait)
	if installed {
		if err := c.uninstall(ctx, name, wait); err != nil {
			return fmt.Sprintf("uninstalling the failed release failed too: %s", helmError(err, wait))
		}
		return "the failed first install was uninstalled"
	}
	hist, err := c.history(name)
	if err != nil {
		return fmt.Sprintf("rollback failed: %v", err)
	}
	to := lastDeployed(hist, hist[len(hist)-1].Version)
	if to == 0 {
		return "no earlier revision to roll back to"
	}
	if err := c.rollback(ctx, name, to, wait); err != nil {
		return fmt.Sprintf("rolling back to revision %d failed: %s", to, helmError(err, wait))
	}
	return fmt.Sprintf("rolled back to revision %d", to)
}

// helmError rewords Helm's timeout, whose message ends in a bare "context deadline exceeded",
// keeping what Helm says about which resource was not ready.
func helmError(err error, wait time.Duration) string {
	msg := err.Error()
	if !errors.Is(err, context.DeadlineExceeded) && !strings.Contains(msg, "context deadline exceeded") {
		return msg
	}
	msg = strings.Trim(strings.ReplaceAll(msg, "context deadline exceeded", ""), " :\n")
	if msg == "" {
		return fmt.Sprintf("not ready within %s", wait)
	}
	return fmt.Sprintf("not ready within %s (%s)", wait, strings.Join(strings.Fields(msg), " "))
}

func waitFor(env *config.Environment) time.Duration {
	if env.Timeout > 0 {
		return env.Timeout
	}
	return defaultWait
}

func (s *Stage) open(job *pipeline.Job) (*cluster, error) {
	if s.connect != nil {
		return s.connect(s.target(job.Env), job)
	}
	return connect(s.target(job.Env), job.Log)
}

func (s *Stage) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Stage) keychain() authn.Keychain {
	if s.Keychain != nil {
		return s.Keychain
	}
	return authn.DefaultKeychain
}

// chartFor is the chart the environment deploys: the promoted copy (same digest, in the
// environment's registry namespace) when the environment promotes, else the pushed chart.
func chartFor(job *pipeline.Job, pushed *pipeline.ChartOutput) *pipeline.ChartOutput {
	st := job.Pipeline.Stage(pipeline.NewStageID(config.StagePromote, job.Env.Name))
	if st == nil || st.Outputs.Promote == nil || st.Outputs.Promote.Chart == nil {
		return pushed
	}
	c := *pushed
	c.Ref = st.Outputs.Promote.Chart.Ref
	return &c
}

// imageFor is the image the environment runs: the promoted copy when the environment promotes,
// else the pushed image, with the tag it carries (the release version, else the commit).
func imageFor(job *pipeline.Job) (image, error) {
	src := pipeline.NewStageID(config.StagePromote, job.Env.Name)
	var out *pipeline.PushOutput
	for _, st := range job.Pipeline.Stages {
		if st.ID == src && st.Outputs.Promote != nil {
			out = &st.Outputs.Promote.PushOutput
		}
	}
	if out == nil {
		pushed, ok := job.Pipeline.Output(config.StagePush)
		if !ok || pushed.Push == nil {
			return image{}, errors.New("nothing to deploy: the push stage recorded no image")
		}
		out = pushed.Push
	}
	repo, _, ok := strings.Cut(out.Ref, "@")
	if !ok {
		return image{}, fmt.Errorf("image %q is not pinned by digest", out.Ref)
	}
	tag := job.Run.Event.After
	if v := job.Pipeline.Version; v != "" {
		tag = triggers.ImageTag(v)
	}
	return image{Repository: repo, Digest: out.Digest, Tag: tag}, nil
}
