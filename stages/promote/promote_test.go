package promote

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/ferry-ci/ferry/internal/registrytest"
	"github.com/ferry-ci/ferry/internal/testenv"
	"github.com/ferry-ci/ferry/pipeline"
	"github.com/ferry-ci/ferry/pipeline/config"
)

// pushed puts a random 3-layer image of about 3 MB in REGISTRY/shipping/delivery and returns
// its digest.
func pushed(t *testing.T, reg string) v1.Hash {
	t.Helper()
	img, err := random.Image(1<<20, 3)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	ref, _ := name.ParseReference(reg + "/shipping/delivery@" + d.String())
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	return d
}

func job(t *testing.T, reg string, digest v1.Hash, version string, force bool) *pipeline.Job {
	t.Helper()
	cfg := &config.Config{Registry: reg + "/shipping"}
	env := &config.Environment{Name: "prod", RegistryNamespace: "prod"}
	svc := &pipeline.ServiceRun{Name: "delivery", Version: version, Stages: []*pipeline.StageState{
		{ID: "push", Status: pipeline.Succeeded, Outputs: pipeline.Outputs{Push: &pipeline.PushOutput{
			Ref: reg + "/shipping/delivery@" + digest.String(), Digest: digest.String()}}},
		{ID: "promote:prod", Status: pipeline.Pending},
	}}
	run := &pipeline.Run{ID: "r1", Services: []*pipeline.ServiceRun{svc}}
	run.Event.After = "0123456789abcdef0123456789abcdef01234567"
	return &pipeline.Job{Run: run, Config: cfg, Pipeline: svc, Stage: "promote:prod", Env: env,
		Outputs: &pipeline.Outputs{}, Log: &bytes.Buffer{}, Force: force}
}

// TestPromoteOnARealRegistry runs against distribution, which checks that a manifest's blobs
// exist in the target repository: the copy must mount them, by digest, without uploading.
func TestPromoteOnARealRegistry(t *testing.T) {
	upstream := testenv.Registry(t)
	proxy := registrytest.NewProxy(t, upstream, registrytest.Faults{})
	reg := proxy.Host()
	digest := pushed(t, reg)
	proxy.Reset()

	j := job(t, reg, digest, "1.0.2", false)
	if err := (&Stage{}).Run(t.Context(), j); err != nil {
		t.Fatal(err)
	}
	out := j.Outputs.Promote
	if out == nil || out.Digest != digest.String() || out.Ref != reg+"/shipping/prod/delivery@"+digest.String() || out.Tags[0] != "1.0.2" {
		t.Fatalf("outputs = %+v", out)
	}
	desc, err := remote.Head(mustTag(t, reg+"/shipping/prod/delivery:1.0.2"))
	if err != nil || desc.Digest != digest {
		t.Fatalf("prod tag = %v %v, want %s", desc, err, digest)
	}
	st := proxy.Stats()
	if st.BlobBytes != 0 || len(st.Mounted) != 4 { // 3 layers and the config
		t.Errorf("promotion uploaded %d blob bytes and mounted %d blobs; want 0 and 4", st.BlobBytes, len(st.Mounted))
	}
	if st.ManifestBytes > 2048 {
		t.Errorf("manifest bytes = %d", st.ManifestBytes)
	}

	t.Run("again is a no-op", func(t *testing.T) {
		proxy.Reset()
		j := job(t, reg, digest, "1.0.2", false)
		if err := (&Stage{}).Run(t.Context(), j); err != nil {
			t.Fatal(err)
		}
		if st := proxy.Stats(); st.ManifestBytes != 0 || st.BlobBytes != 0 {
			t.Errorf("re-promotion wrote %+v", st)
		}
		if !strings.Contains(j.Log.(*bytes.Buffer).String(), "nothing to do") {
			t.Errorf("log = %q", j.Log)
		}
	})
	t.Run("another digest is refused", func(t *testing.T) {
		other := pushed(t, reg)
		err := (&Stage{}).Run(t.Context(), job(t, reg, other, "1.0.2", false))
		if err == nil || !strings.Contains(err.Error(), "releases are immutable") {
			t.Fatalf("err = %v", err)
		}
		if desc, _ := remote.Head(mustTag(t, reg+"/shipping/prod/delivery:1.0.2")); desc.Digest != digest {
			t.Errorf("the tag moved to %s", desc.Digest)
		}
		if err := (&Stage{}).Run(t.Context(), job(t, reg, other, "1.0.2", true)); err != nil {
			t.Fatalf("--force: %v", err)
		}
		if desc, _ := remote.Head(mustTag(t, reg+"/shipping/prod/delivery:1.0.2")); desc.Digest != other {
			t.Errorf("--force did not move the tag")
		}
	})
}

func TestPromoteNeedsAPush(t *testing.T) {
	j := job(t, "127.0.0.1:1", v1.Hash{}, "1.0.0", false)
	j.Pipeline.Stages[0].Outputs = pipeline.Outputs{}
	err := (&Stage{}).Run(t.Context(), j)
	if err == nil || !strings.Contains(err.Error(), "the push stage recorded no image") {
		t.Errorf("err = %v", err)
	}
}

func TestDestination(t *testing.T) {
	cfg := &config.Config{Registry: "myrepo.azurecr.io"}
	env := &config.Environment{Name: "prod", RegistryNamespace: "prod"}
	if got := Destination(cfg, env, "delivery", "1.2.3+b7", "abc"); got != "myrepo.azurecr.io/prod/delivery:1.2.3_b7" {
		t.Errorf("release = %s", got)
	}
	if got := Destination(cfg, env, "delivery", "", "abc"); got != "myrepo.azurecr.io/prod/delivery:abc" {
		t.Errorf("commit = %s", got)
	}
}

func mustTag(t *testing.T, s string) name.Tag {
	t.Helper()
	tag, err := name.NewTag(s)
	if err != nil {
		t.Fatal(err)
	}
	return tag
}
