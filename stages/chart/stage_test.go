package chart

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/registry"

	"github.com/ferry-ci/ferry/internal/ocierr"
	"github.com/ferry-ci/ferry/internal/registrytest"
	"github.com/ferry-ci/ferry/internal/testenv"
	"github.com/ferry-ci/ferry/pipeline"
	"github.com/ferry-ci/ferry/pipeline/config"
	"github.com/ferry-ci/ferry/stages/push"
)

const (
	commit  = "5823783d7fb6248e82731902d77b8d1399252722"
	digestA = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	digestB = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

// exampleChart copies the example monorepo's chart into a new repository root and returns
// the root; the chart is at charts/<name> in it.
func exampleChart(t *testing.T, chartName string) string {
	t.Helper()
	root := t.TempDir()
	src := filepath.Join("..", "..", "examples", "shipping", "charts", chartName)
	if err := os.CopyFS(filepath.Join(root, "charts", chartName), os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	return root
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

type jobOpts struct {
	version string
	image   string // the pushed image digest; "" means the service has no image
	force   bool
}

// newJob is the chart stage of service delivery in a run whose push stage recorded
// REG/shipping/delivery@<image>.
func newJob(t *testing.T, reg, root string, o jobOpts) *pipeline.Job {
	t.Helper()
	svcCfg := &config.Service{Name: "delivery", Path: "src/delivery", Chart: "charts/delivery"}
	svc := &pipeline.ServiceRun{Name: "delivery", Version: o.version}
	if o.image != "" {
		svcCfg.Image = &config.Image{}
		svc.Stages = append(svc.Stages, &pipeline.StageState{ID: "push", Status: pipeline.Succeeded,
			Outputs: pipeline.Outputs{Push: &pipeline.PushOutput{Ref: reg + "/shipping/delivery@" + o.image, Digest: o.image}}})
	} else {
		svc.Stages = append(svc.Stages, &pipeline.StageState{ID: "push", Status: pipeline.Skipped, Reason: "no image section"})
	}
	svc.Stages = append(svc.Stages, &pipeline.StageState{ID: "chart", Status: pipeline.Pending})
	run := &pipeline.Run{ID: "r1", Services: []*pipeline.ServiceRun{svc}}
	run.Event.After = commit
	return &pipeline.Job{Run: run, Config: &config.Config{Registry: reg + "/shipping", Root: root}, Service: svcCfg,
		Pipeline: svc, Stage: "chart", Outputs: &pipeline.Outputs{}, Log: &bytes.Buffer{}, Dir: t.TempDir(),
		RepoRoot: root, Force: o.force}
}

func logOf(j *pipeline.Job) string { return j.Log.(*bytes.Buffer).String() }

// run runs the stage and fails the test on an error.
func run(t *testing.T, s *Stage, j *pipeline.Job) *pipeline.ChartOutput {
	t.Helper()
	if err := s.Run(t.Context(), j); err != nil {
		t.Fatalf("chart stage: %v\nlog:\n%s", err, logOf(j))
	}
	if j.Outputs.Chart == nil {
		t.Fatal("no chart output")
	}
	return j.Outputs.Chart
}

// tagDigest is what REG/shipping/helm/delivery:<tag> points at, "" when nothing.
func tagDigest(t *testing.T, reg, tag string) string {
	t.Helper()
	ref, err := name.NewTag(reg + "/shipping/helm/delivery:" + tag)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Head(ref)
	if ocierr.NotFound(err) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return desc.Digest.String()
}

// pull pulls a chart back with Helm's registry client.
func pull(t *testing.T, ref string) *registry.PullResult {
	t.Helper()
	c, err := registry.NewClient(registry.ClientOptPlainHTTP(), registry.ClientOptCredentialsFile(filepath.Join(t.TempDir(), "config.json")))
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Pull(ref)
	if err != nil {
		t.Fatalf("pull %s: %v", ref, err)
	}
	return res
}

func TestVersion(t *testing.T) {
	cases := []struct {
		version, commit        string
		chart, appVersion, tag string
		wantErr                bool
	}{
		{version: "1.0.2", commit: commit, chart: "1.0.2", appVersion: "1.0.2", tag: "1.0.2"},
		{version: "v1.0.2", commit: commit, chart: "1.0.2", appVersion: "1.0.2", tag: "1.0.2"},
		{version: "1.0.2+b7", commit: commit, chart: "1.0.2+b7", appVersion: "1.0.2+b7", tag: "1.0.2_b7"},
		{version: "2.0.0-rc.1+build.7", commit: commit, chart: "2.0.0-rc.1+build.7", appVersion: "2.0.0-rc.1+build.7", tag: "2.0.0-rc.1_build.7"},
		{commit: commit, chart: "0.0.0-5823783d7fb6", appVersion: "0.0.0-5823783d7fb6", tag: "0.0.0-5823783d7fb6"},
		{commit: strings.ToUpper(commit), chart: "0.0.0-5823783d7fb6", appVersion: "0.0.0-5823783d7fb6", tag: "0.0.0-5823783d7fb6"},
		// A numeric pre-release identifier may not start with 0.
		{commit: "012345678901abcdef", chart: "0.0.0-g012345678901", appVersion: "0.0.0-g012345678901", tag: "0.0.0-g012345678901"},
		{commit: "123456789012abcdef", chart: "0.0.0-123456789012", appVersion: "0.0.0-123456789012", tag: "0.0.0-123456789012"},
		{commit: "", wantErr: true},
		{commit: "abc", wantErr: true},
	}
	for _, tc := range cases {
		chart, app, tag, err := Version(tc.version, tc.commit)
		if tc.wantErr {
			if err == nil {
				t.Errorf("Version(%q, %q) = %s, want an error", tc.version, tc.commit, chart)
			}
			continue
		}
		if err != nil || chart != tc.chart || app != tc.appVersion || tag != tc.tag {
			t.Errorf("Version(%q, %q) = %q %q %q %v, want %q %q %q", tc.version, tc.commit, chart, app, tag, err, tc.chart, tc.appVersion, tc.tag)
		}
	}
}

// TestPushToARealRegistry pushes the example chart to distribution, then pushes it again, then
// changes it under the same version.
func TestPushToARealRegistry(t *testing.T) {
	reg := testenv.Registry(t)
	root := exampleChart(t, "delivery")
	s := &Stage{}

	j := newJob(t, reg, root, jobOpts{version: "1.0.2", image: digestA})
	out := run(t, s, j)
	if out.Name != "delivery" || out.Version != "1.0.2" || out.AppVersion != "1.0.2" || out.Tag != "1.0.2" ||
		out.Image != reg+"/shipping/delivery@"+digestA || !strings.HasPrefix(out.ContentDigest, "sha256:") {
		t.Errorf("output = %+v", out)
	}
	if out.Ref != reg+"/shipping/helm/delivery@"+out.Digest || !strings.HasPrefix(out.Digest, "sha256:") {
		t.Errorf("ref = %s, digest = %s", out.Ref, out.Digest)
	}
	if got := tagDigest(t, reg, "1.0.2"); got != out.Digest {
		t.Errorf("tag 1.0.2 points at %q, recorded %s", got, out.Digest)
	}
	res := pull(t, out.Ref)
	if m := res.Chart.Meta; m.Name != "delivery" || m.Version != "1.0.2" || m.AppVersion != "1.0.2" ||
		m.Annotations[AnnotationImage] != out.Image || m.Annotations[AnnotationContentDigest] != out.ContentDigest {
		t.Errorf("pulled chart metadata = %+v", m)
	}
	if res.Manifest.Digest != out.Digest {
		t.Errorf("pulled manifest %s, recorded %s", res.Manifest.Digest, out.Digest)
	}
	ch, err := loader.LoadArchive(bytes.NewReader(res.Chart.Data))
	if err != nil || ch.Metadata.Version != "1.0.2" || len(ch.Templates) != 1 {
		t.Fatalf("pulled archive: %v %+v", err, ch)
	}
	first := out

	t.Run("the same content again is a no-op", func(t *testing.T) {
		// New modification times and a new packaging folder: the archive's bytes differ.
		later := time.Now().Add(time.Hour)
		for _, f := range []string{"Chart.yaml", "values.yaml", "templates/deployment.yaml"} {
			if err := os.Chtimes(filepath.Join(root, "charts", "delivery", f), later, later); err != nil {
				t.Fatal(err)
			}
		}
		j := newJob(t, reg, root, jobOpts{version: "1.0.2", image: digestA})
		out := run(t, s, j)
		if *out != *first {
			t.Errorf("output = %+v, want %+v", out, first)
		}
		if log := logOf(j); !strings.Contains(log, "chart "+first.Ref+" already pushed: nothing to do") || strings.Contains(log, "Pushed:") {
			t.Errorf("log:\n%s", log)
		}
		if got := tagDigest(t, reg, "1.0.2"); got != first.Digest {
			t.Errorf("tag moved to %s", got)
		}
	})

	writeFile(t, filepath.Join(root, "charts", "delivery", "values.yaml"), "image:\n  repository: \"\"\n  tag: \"\"\nreplicas: 2\n")
	t.Run("other content under the same version is refused", func(t *testing.T) {
		j := newJob(t, reg, root, jobOpts{version: "1.0.2", image: digestA})
		err := s.Run(t.Context(), j)
		if !errors.Is(err, pipeline.ErrPermanent) || !errors.Is(err, ErrContentChanged) {
			t.Fatalf("err = %v, want a permanent ErrContentChanged", err)
		}
		var cc *ContentChangedError
		if !errors.As(err, &cc) || cc.Existing != first.Digest || cc.ExistingContent != first.ContentDigest || cc.Content == first.ContentDigest {
			t.Fatalf("err = %#v", cc)
		}
		for _, want := range []string{reg + "/shipping/helm/delivery:1.0.2", first.Digest, first.ContentDigest, cc.Content, "--force"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not name %s", err, want)
			}
		}
		if j.Outputs.Chart != nil {
			t.Errorf("output = %+v", j.Outputs.Chart)
		}
		if got := tagDigest(t, reg, "1.0.2"); got != first.Digest {
			t.Errorf("tag moved to %s", got)
		}
	})

	t.Run("force overwrites it", func(t *testing.T) {
		j := newJob(t, reg, root, jobOpts{version: "1.0.2", image: digestA, force: true})
		out := run(t, s, j)
		if out.Digest == first.Digest || out.ContentDigest == first.ContentDigest {
			t.Fatalf("forced push recorded the old chart: %+v", out)
		}
		if got := tagDigest(t, reg, "1.0.2"); got != out.Digest {
			t.Errorf("tag points at %s, want %s", got, out.Digest)
		}
		ch, err := loader.LoadArchive(bytes.NewReader(pull(t, out.Ref).Chart.Data))
		if err != nil || ch.Values["replicas"] != float64(2) {
			t.Errorf("pulled values = %v %v", ch.Values, err)
		}
		if !strings.Contains(logOf(j), "(forced)") {
			t.Errorf("log:\n%s", logOf(j))
		}
	})
}

// TestAnotherImageIsOtherContent: the same chart files for another image digest are another
// chart, so the version is not reused.
func TestAnotherImageIsOtherContent(t *testing.T) {
	reg := registrytest.InMemory(t)
	root := exampleChart(t, "delivery")
	first := run(t, &Stage{}, newJob(t, reg, root, jobOpts{version: "1.0.2", image: digestA}))
	err := (&Stage{}).Run(t.Context(), newJob(t, reg, root, jobOpts{version: "1.0.2", image: digestB}))
	if !errors.Is(err, ErrContentChanged) || !errors.Is(err, pipeline.ErrPermanent) {
		t.Fatalf("err = %v", err)
	}
	if got := tagDigest(t, reg, "1.0.2"); got != first.Digest {
		t.Errorf("tag moved to %s", got)
	}
}

// TestVersionTags pushes with each kind of version and checks the tag the chart lands at and
// the version Helm reads back.
func TestVersionTags(t *testing.T) {
	reg := registrytest.InMemory(t)
	root := exampleChart(t, "delivery")
	cases := []struct{ version, chartVersion, tag string }{
		{"1.0.2", "1.0.2", "1.0.2"},
		{"1.0.2+b7", "1.0.2+b7", "1.0.2_b7"},
		{"", "0.0.0-5823783d7fb6", "0.0.0-5823783d7fb6"},
	}
	for _, tc := range cases {
		t.Run(tc.tag, func(t *testing.T) {
			out := run(t, &Stage{}, newJob(t, reg, root, jobOpts{version: tc.version, image: digestA}))
			if out.Version != tc.chartVersion || out.Tag != tc.tag {
				t.Errorf("version %s, tag %s; want %s, %s", out.Version, out.Tag, tc.chartVersion, tc.tag)
			}
			if got := tagDigest(t, reg, tc.tag); got != out.Digest {
				t.Errorf("tag %s points at %q, recorded %s", tc.tag, got, out.Digest)
			}
			if m := pull(t, out.Ref).Chart.Meta; m.Version != tc.chartVersion || m.AppVersion != tc.chartVersion {
				t.Errorf("pulled version %s appVersion %s, want %s", m.Version, m.AppVersion, tc.chartVersion)
			}
		})
	}
}

func TestSkip(t *testing.T) {
	cases := []struct {
		svc    *config.Service
		skip   bool
		reason string
	}{
		{svc: &config.Service{Name: "frontend"}, skip: true, reason: "no chart"},
		{svc: nil, skip: true, reason: "no chart"},
		{svc: &config.Service{Name: "delivery", Chart: "charts/delivery"}},
	}
	for _, tc := range cases {
		reason, skip := (&Stage{}).Skip(&pipeline.Job{Service: tc.svc})
		if skip != tc.skip || reason != tc.reason {
			t.Errorf("Skip(%+v) = %q %v, want %q %v", tc.svc, reason, skip, tc.reason, tc.skip)
		}
	}
	// Run on its own says the same, and publishes nothing.
	j := newJob(t, "127.0.0.1:1", t.TempDir(), jobOpts{version: "1.0.2", image: digestA})
	j.Service.Chart = ""
	var skipErr *pipeline.SkipError
	if err := (&Stage{}).Run(t.Context(), j); !errors.As(err, &skipErr) || skipErr.Reason != "no chart" || j.Outputs.Chart != nil {
		t.Errorf("Run without a chart = %v, %+v", err, j.Outputs.Chart)
	}
}

func TestLintFailureIsPermanent(t *testing.T) {
	cases := []struct {
		name, file, content string
		want                []string
	}{
		{"template parse error", "templates/deployment.yaml", "kind: Deployment\nmetadata: {name: {{ .Release.Name }\n",
			[]string{"[ERROR] templates/", "parse error"}},
		{"no chart name", "Chart.yaml", "apiVersion: v2\nversion: 0.0.0\n",
			[]string{"[ERROR] Chart.yaml: name is required"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			reg := registrytest.InMemory(t)
			root := exampleChart(t, "delivery")
			writeFile(t, filepath.Join(root, "charts", "delivery", tc.file), tc.content)
			j := newJob(t, reg, root, jobOpts{version: "1.0.2", image: digestA})
			err := (&Stage{}).Run(t.Context(), j)
			if !errors.Is(err, pipeline.ErrPermanent) {
				t.Fatalf("err = %v, want a permanent error", err)
			}
			for _, w := range append(tc.want, "charts/delivery", "helm lint") {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if !strings.Contains(logOf(j), tc.want[0]) {
				t.Errorf("log lacks helm's message %q:\n%s", tc.want[0], logOf(j))
			}
			if got := tagDigest(t, reg, "1.0.2"); got != "" || j.Outputs.Chart != nil {
				t.Errorf("a chart that fails lint was pushed: %s %+v", got, j.Outputs.Chart)
			}
		})
	}
}

// TestExampleChartsLintClean keeps helm lint free of warnings and errors for the example
// charts (the INFO about a missing icon is fine).
func TestExampleChartsLintClean(t *testing.T) {
	for _, c := range []string{"delivery", "package"} {
		var log bytes.Buffer
		dir := filepath.Join("..", "..", "examples", "shipping", "charts", c)
		if err := Lint(dir, &log); err != nil {
			t.Errorf("%s: %v", c, err)
		}
		if strings.Contains(log.String(), "[WARNING]") || strings.Contains(log.String(), "[ERROR]") {
			t.Errorf("%s lint:\n%s", c, log.String())
		}
		if !strings.Contains(log.String(), "no errors") {
			t.Errorf("%s lint log:\n%s", c, log.String())
		}
	}
}

func TestWithoutImage(t *testing.T) {
	reg := registrytest.InMemory(t)
	root := exampleChart(t, "delivery")
	out := run(t, &Stage{}, newJob(t, reg, root, jobOpts{version: "1.0.2"}))
	if out.Image != "" {
		t.Errorf("image = %q", out.Image)
	}
	if _, ok := pull(t, out.Ref).Chart.Meta.Annotations[AnnotationImage]; ok {
		t.Error("a chart without an image has the image annotation")
	}

	// A service with an image whose push stage recorded none cannot get a chart.
	j := newJob(t, reg, root, jobOpts{version: "1.0.3"})
	j.Service.Image = &config.Image{}
	if err := (&Stage{}).Run(t.Context(), j); !errors.Is(err, pipeline.ErrPermanent) || !strings.Contains(err.Error(), "push stage recorded none") {
		t.Errorf("err = %v", err)
	}
}

func TestVerify(t *testing.T) {
	reg := registrytest.InMemory(t)
	root := exampleChart(t, "delivery")
	s := &Stage{}
	j := newJob(t, reg, root, jobOpts{version: "1.0.2", image: digestA})
	out := *run(t, s, j)
	if err := s.Verify(t.Context(), j, pipeline.Outputs{Chart: &out}); err != nil {
		t.Fatalf("verify a pushed chart: %v", err)
	}
	gone := out
	gone.Ref = reg + "/shipping/helm/delivery@" + digestB
	if err := s.Verify(t.Context(), j, pipeline.Outputs{Chart: &gone}); err == nil || !strings.Contains(err.Error(), "no longer in the registry") {
		t.Errorf("verify a missing chart: %v", err)
	}
	// The push stage ran again and recorded another image: the chart is not for it.
	j2 := newJob(t, reg, root, jobOpts{version: "1.0.2", image: digestB})
	if err := s.Verify(t.Context(), j2, pipeline.Outputs{Chart: &out}); err == nil || !strings.Contains(err.Error(), "packaged for image") {
		t.Errorf("verify for another image: %v", err)
	}
	if err := s.Verify(t.Context(), j, pipeline.Outputs{}); err == nil {
		t.Error("verify without an output passed")
	}
}

// TestCredentials pushes to a registry that wants basic authentication, with the keychain the
// push stage uses (FERRY_REGISTRY_USERNAME/PASSWORD for the config's registry).
func TestCredentials(t *testing.T) {
	reg := registrytest.AuthRegistry(t, "ferry", "s3cret-pw")
	root := exampleChart(t, "delivery")
	env := map[string]string{push.EnvUsername: "ferry", push.EnvPassword: "s3cret-pw"}
	kc := push.Keychain(func(k string) string { return env[k] }, reg)

	if err := (&Stage{}).Run(t.Context(), newJob(t, reg, root, jobOpts{version: "1.0.2", image: digestA})); err == nil {
		t.Fatal("anonymous push to an authenticating registry succeeded")
	}
	j := newJob(t, reg, root, jobOpts{version: "1.0.2", image: digestA})
	out := run(t, &Stage{Keychain: kc}, j)
	if strings.Contains(logOf(j), "s3cret-pw") {
		t.Errorf("the password is in the log:\n%s", logOf(j))
	}
	again := newJob(t, reg, root, jobOpts{version: "1.0.2", image: digestA})
	if got := run(t, &Stage{Keychain: kc}, again); got.Digest != out.Digest {
		t.Errorf("re-push with credentials: %s, want %s", got.Digest, out.Digest)
	}
	if err := (&Stage{Keychain: kc}).Verify(t.Context(), again, pipeline.Outputs{Chart: out}); err != nil {
		t.Errorf("verify with credentials: %v", err)
	}
}

func TestDryRun(t *testing.T) {
	root := exampleChart(t, "delivery")
	cases := []struct{ version, want string }{
		{"1.0.2+b7", "lint charts/delivery, package chart delivery 1.0.2+b7 (appVersion 1.0.2+b7) for the pushed image, push it to oci://localhost:5000/shipping/helm/delivery as 1.0.2_b7"},
		{"", "lint charts/delivery, package chart delivery 0.0.0-5823783d7fb6 (appVersion 0.0.0-5823783d7fb6) for the pushed image, push it to oci://localhost:5000/shipping/helm/delivery as 0.0.0-5823783d7fb6"},
	}
	for _, tc := range cases {
		if got := (&Stage{}).DryRun(newJob(t, "localhost:5000", root, jobOpts{version: tc.version, image: digestA})); got != tc.want {
			t.Errorf("DryRun(%q) =\n%s\nwant\n%s", tc.version, got, tc.want)
		}
	}
	noImage := newJob(t, "localhost:5000", root, jobOpts{version: "1.0.2"})
	if got, want := (&Stage{}).DryRun(noImage), "lint charts/delivery, package chart delivery 1.0.2 (appVersion 1.0.2) for no image of its own, push it to oci://localhost:5000/shipping/helm/delivery as 1.0.2"; got != want {
		t.Errorf("DryRun without an image =\n%s\nwant\n%s", got, want)
	}
}
