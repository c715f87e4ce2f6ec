package promote

import (
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/ferry-ci/ferry/internal/evidencetest"
	"github.com/ferry-ci/ferry/internal/registrytest"
	"github.com/ferry-ci/ferry/internal/testenv"
	"github.com/ferry-ci/ferry/pipeline"
	"github.com/ferry-ci/ferry/pipeline/config"
	pev "github.com/ferry-ci/ferry/pipeline/evidence"
	"github.com/ferry-ci/ferry/stages/evidence"
)

// registries are the three kinds promotion must work on: distribution 2.8 (strict about
// blobs per repository, no referrers API: the referrers tag schema), and the in-memory
// registry without and with the referrers API.
func registries(t *testing.T) map[string]func(t *testing.T) string {
	return map[string]func(t *testing.T) string{
		"distribution": func(t *testing.T) string { return testenv.Registry(t) },
		"in-memory":    func(t *testing.T) string { return registrytest.InMemory(t) },
		"in-memory with referrers API": func(t *testing.T) string {
			srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0)), registry.WithReferrersSupport(true)))
			t.Cleanup(srv.Close)
			return strings.TrimPrefix(srv.URL, "http://")
		},
	}
}

func stage(r *evidencetest.Release) *Stage { return &Stage{Signers: r.Signers} }

// TestPromoteWithEvidence promotes a release and checks what the prod repository then has:
// the same digest under the version tag, every referrer of the pushed digest (scan report,
// provenance) plus the approvals, the cosign signature tag, and the chart by digest.
func TestPromoteWithEvidence(t *testing.T) {
	for kind, start := range registries(t) {
		t.Run(kind, func(t *testing.T) {
			reg := start(t)
			r := evidencetest.Push(t, reg, evidencetest.Options{Report: evidencetest.CleanReport, Passed: true})
			j := r.PromoteJob(t, false)
			if err := stage(r).Run(t.Context(), j); err != nil {
				t.Fatalf("%v\n%s", err, j.Log)
			}
			out := j.Outputs.Promote
			if out == nil || out.Digest != r.Image.String() || out.Ref != reg+"/shipping/prod/delivery@"+r.Image.String() || out.Tags[0] != "1.0.2" {
				t.Fatalf("outputs = %+v", out)
			}
			if head(t, reg+"/shipping/prod/delivery:1.0.2") != r.Image {
				t.Errorf("the prod tag does not hold %s", r.Image)
			}
			if out.Chart == nil || out.Chart.Ref != reg+"/shipping/prod/helm/delivery@"+r.Chart.Digest || head(t, reg+"/shipping/prod/helm/delivery:1.0.2").String() != r.Chart.Digest {
				t.Errorf("chart = %+v", out.Chart)
			}
			if head(t, reg+"/shipping/prod/delivery:"+r.CosignTag) != head(t, reg+"/shipping/delivery:"+r.CosignTag) {
				t.Errorf("the cosign signature tag was not copied")
			}
			types := referrerTypes(t, reg+"/shipping/prod/delivery@"+r.Image.String())
			for _, want := range []string{pev.ScanType, pev.ProvenanceType, pev.ApprovalsType} {
				if !slices.Contains(types, want) {
					t.Errorf("prod referrers %v lack %s", types, want)
				}
			}
			if len(out.Evidence) != 3 {
				t.Errorf("evidence = %v, want 3 referrers", out.Evidence)
			}

			again := r.PromoteJob(t, false)
			if err := stage(r).Run(t.Context(), again); err != nil {
				t.Fatal(err)
			}
			if log := fmt.Sprint(again.Log); !strings.Contains(log, "already holds") || !strings.Contains(log, "already attached") {
				t.Errorf("re-promotion log:\n%s", log)
			}
			if n := len(referrerTypes(t, reg+"/shipping/prod/delivery@"+r.Image.String())); n != 3 {
				t.Errorf("re-promotion left %d referrers, want 3", n)
			}
		})
	}
}

// TestPromotionBytes counts, through a proxy in front of distribution, what promoting a 50 MB
// image with its evidence sends to the registry: no blob bytes but the approvals evidence
// (the layers, the config, the scan report and the provenance are mounted), and manifests.
func TestPromotionBytes(t *testing.T) {
	upstream := testenv.Registry(t)
	proxy := registrytest.NewProxy(t, upstream, registrytest.Faults{})
	r := evidencetest.Push(t, proxy.Host(), evidencetest.Options{LayerSize: 10 << 20, Layers: 5, Report: evidencetest.CleanReport, Passed: true})
	proxy.Reset()
	j := r.PromoteJob(t, false)
	if err := stage(r).Run(t.Context(), j); err != nil {
		t.Fatalf("%v\n%s", err, j.Log)
	}
	st := proxy.Stats()
	img, _ := remote.Get(mustRef(t, proxy.Host()+"/shipping/prod/delivery@"+r.Image.String()))
	var approvals int64
	for _, d := range approvalsDigests(t, proxy.Host(), r.Image) {
		approvals += st.Uploaded[d]
	}
	t.Logf("promotion of a 50 MB image: %d requests, %d blob bytes uploaded (%d of them the approvals evidence), %d manifest bytes (image manifest %d), %d blobs mounted",
		st.Requests, st.BlobBytes, approvals, st.ManifestBytes, len(img.Manifest), len(st.Mounted))
	if st.BlobBytes != approvals {
		t.Errorf("uploaded %d blob bytes; only the approvals evidence (%d bytes) is new", st.BlobBytes, approvals)
	}
	if imageBytes := int64(len(img.Manifest)) + st.UploadedExcept(approvalsDigests(t, proxy.Host(), r.Image)...); imageBytes > 2048 {
		t.Errorf("the image's copy moved %d bytes, want ≤ 2 KB", imageBytes)
	}
	// Manifests: the image, the chart, the cosign tag, three evidence manifests and the
	// referrers tag index, rewritten for each referrer (distribution has no referrers API).
	if st.ManifestBytes > 8<<10 {
		t.Errorf("manifest bytes = %d, want ≤ 8 KB", st.ManifestBytes)
	}
}

// approvalsDigests are the blobs of the approvals evidence in prod.
func approvalsDigests(t *testing.T, reg string, image v1.Hash) []string {
	t.Helper()
	subject, _ := name.NewDigest(reg + "/shipping/prod/delivery@" + image.String())
	descs, err := evidence.Referrers(t.Context(), subject, nil)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range descs {
		if d.ArtifactType != pev.ApprovalsType {
			continue
		}
		m, err := remote.Get(subject.Context().Digest(d.Digest.String()))
		if err != nil {
			t.Fatal(err)
		}
		p, err := pev.ParseManifest(m.Manifest)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p.Payload.Digest.String())
	}
	return out
}

// TestPromoteRefuses: nothing reaches prod (no tag, no chart, no evidence) when the target
// tag holds another digest, when the approval is of another digest, or when the gate did not
// pass.
func TestPromoteRefuses(t *testing.T) {
	reg := registrytest.InMemory(t)
	r := evidencetest.Push(t, reg, evidencetest.Options{Report: evidencetest.CleanReport, Passed: true})
	other := evidencetest.Push(t, reg, evidencetest.Options{})
	tests := []struct {
		name string
		job  func() *pipeline.Job
		want string
	}{
		{"approval of another digest", func() *pipeline.Job {
			return r.PromoteJob(t, false, r.Approval(t, r.Alice, "alice@example.com", other.Image.String(), r.Chart.Digest))
		}, "alice@example.com approved image " + other.Image.String()},
		{"approval of another chart", func() *pipeline.Job {
			return r.PromoteJob(t, false, r.Approval(t, r.Alice, "alice@example.com", r.Image.String(), other.Chart.Digest))
		}, "but promotion would copy"},
		{"a forged approval", func() *pipeline.Job {
			return r.PromoteJob(t, false, r.Approval(t, r.Mallory, "alice@example.com", r.Image.String(), r.Chart.Digest))
		}, "no signed approval by alice@example.com"},
		{"gate not passed", func() *pipeline.Job {
			j := r.PromoteJob(t, false)
			j.Pipeline.Stage("approve:prod").Status = pipeline.Waiting
			return j
		}, "prod is not approved"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := stage(r).Run(t.Context(), tt.job())
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "nothing promoted") {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			assertNothingPromoted(t, reg, r)
		})
	}
	t.Run("target tag holds another digest", func(t *testing.T) {
		j := r.PromoteJob(t, false)
		dst, _ := name.NewTag(reg + "/shipping/prod/delivery:1.0.2")
		desc, err := remote.Get(mustRef(t, other.Pushed))
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Push(dst, desc); err != nil {
			t.Fatal(err)
		}
		err = stage(r).Run(t.Context(), j)
		if err == nil || !strings.Contains(err.Error(), "already holds "+other.Image.String()) || !strings.Contains(err.Error(), "nothing promoted") {
			t.Fatalf("err = %v", err)
		}
		if head(t, dst.String()) != other.Image {
			t.Errorf("the tag moved")
		}
		if _, err := remote.Head(mustRef(t, reg+"/shipping/prod/helm/delivery:1.0.2")); err == nil {
			t.Errorf("the chart was promoted")
		}
		if n := len(referrerTypes(t, reg+"/shipping/prod/delivery@"+r.Image.String())); n != 0 {
			t.Errorf("%d referrers were attached", n)
		}
		if err := stage(r).Run(t.Context(), r.PromoteJob(t, true)); err != nil {
			t.Fatalf("--force: %v", err)
		}
		if head(t, dst.String()) != r.Image {
			t.Errorf("--force did not move the tag")
		}
	})
}

func assertNothingPromoted(t *testing.T, reg string, r *evidencetest.Release) {
	t.Helper()
	for _, ref := range []string{reg + "/shipping/prod/delivery:1.0.2", reg + "/shipping/prod/helm/delivery:1.0.2"} {
		if _, err := remote.Head(mustRef(t, ref)); err == nil {
			t.Errorf("%s exists", ref)
		}
	}
	if n := len(referrerTypes(t, reg+"/shipping/prod/delivery@"+r.Image.String())); n != 0 {
		t.Errorf("%d referrers were attached in prod", n)
	}
}

func TestPromoteNeedsAPush(t *testing.T) {
	r := &evidencetest.Release{}
	j := &pipeline.Job{Pipeline: &pipeline.ServiceRun{Name: "delivery"}, Env: &config.Environment{Name: "prod", RegistryNamespace: "prod"},
		Config: &config.Config{Registry: "127.0.0.1:1"}, Run: &pipeline.Run{ID: "r"}, Outputs: &pipeline.Outputs{}, Log: io.Discard}
	err := stage(r).Run(t.Context(), j)
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
	ch := &pipeline.ChartOutput{Name: "delivery", Tag: "1.2.3_b7"}
	if got := ChartDestination(cfg, env, ch); got != "myrepo.azurecr.io/prod/helm/delivery:1.2.3_b7" {
		t.Errorf("chart = %s", got)
	}
}

func referrerTypes(t *testing.T, image string) []string {
	t.Helper()
	d, err := name.NewDigest(image)
	if err != nil {
		t.Fatal(err)
	}
	descs, err := evidence.Referrers(t.Context(), d, nil)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, x := range descs {
		out = append(out, x.ArtifactType)
	}
	return out
}

func head(t *testing.T, ref string) v1.Hash {
	t.Helper()
	desc, err := remote.Head(mustRef(t, ref))
	if err != nil {
		t.Fatalf("%s: %v", ref, err)
	}
	return desc.Digest
}

func mustRef(t *testing.T, s string) name.Reference {
	t.Helper()
	ref, err := name.ParseReference(s)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}
