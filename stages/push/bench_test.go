package push

import (
	"fmt"
	"math/rand"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/ferry-ci/ferry/internal/registrytest"
	"github.com/ferry-ci/ferry/internal/testenv"
)

// BenchmarkRepushUnchanged pushes the same 3×1 MiB image again and again to a real registry:
// every push after the first must upload nothing.
func BenchmarkRepushUnchanged(b *testing.B) {
	proxy := registrytest.NewProxy(b, testenv.Registry(b), registrytest.Faults{})
	p := newPusher(b, Options{})
	img := randomImage(b, 1, 1<<20, 3)
	repo := proxy.Host() + "/svc"
	if _, err := p.Push(b.Context(), img, repo, Tags{Immutable: []string{"1.0.0"}}, false); err != nil {
		b.Fatal(err)
	}
	proxy.Reset()
	for b.Loop() {
		got, err := p.Push(b.Context(), img, repo, Tags{Immutable: []string{"1.0.0"}}, false)
		if err != nil {
			b.Fatal(err)
		}
		if !got.AlreadyPresent {
			b.Fatal("re-push not reported as already present")
		}
	}
	s := proxy.Stats()
	b.ReportMetric(float64(s.BlobBytes)/float64(b.N), "blob-bytes/op")
	b.ReportMetric(float64(s.ManifestBytes)/float64(b.N), "manifest-bytes/op")
	b.ReportMetric(float64(s.Requests)/float64(b.N), "requests/op")
}

// BenchmarkPushOnSameRegistryBase pushes, each time to a new repository, an image made of a
// 3×1 MiB base from another repository of the same registry plus one new 256 KiB layer: the
// base layers are mounted and only the new layer and the config are uploaded.
func BenchmarkPushOnSameRegistryBase(b *testing.B) {
	proxy := registrytest.NewProxy(b, testenv.Registry(b), registrytest.Faults{})
	baseRef := mustRef(b, proxy.Host()+"/base/runtime:1")
	if err := remote.Write(baseRef, randomImage(b, 2, 1<<20, 3)); err != nil {
		b.Fatal(err)
	}
	base, err := remote.Image(baseRef)
	if err != nil {
		b.Fatal(err)
	}
	p := newPusher(b, Options{})
	var newLayerBytes, layerBytes, mounted int64
	i := 0
	for b.Loop() {
		b.StopTimer()
		layer, err := random.Layer(256<<10, types.DockerLayer, random.WithSource(rand.NewSource(int64(i))))
		if err != nil {
			b.Fatal(err)
		}
		img, err := mutate.AppendLayers(base, layer)
		if err != nil {
			b.Fatal(err)
		}
		size, _ := layer.Size()
		cfg, _ := img.ConfigName()
		newLayerBytes += size
		proxy.Reset()
		b.StartTimer()

		if _, err := p.Push(b.Context(), img, fmt.Sprintf("%s/team/app%d", proxy.Host(), i), Tags{Immutable: []string{"1"}}, false); err != nil {
			b.Fatal(err)
		}

		s := proxy.Stats()
		layerBytes += s.UploadedExcept(cfg.String())
		mounted += int64(len(s.Mounted))
		i++
	}
	b.ReportMetric(float64(layerBytes)/float64(b.N), "layer-bytes-uploaded/op")
	b.ReportMetric(float64(newLayerBytes)/float64(b.N), "new-layer-bytes/op")
	b.ReportMetric(float64(mounted)/float64(b.N), "layers-mounted/op")
}
