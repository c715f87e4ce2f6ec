package registrytest

import (
	"errors"
	"math/rand"
	"net/http"
	"slices"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

func TestProxyCountsBytes(t *testing.T) {
	p := NewProxy(t, InMemory(t), Faults{})
	img, err := random.Image(4096, 2, random.WithSource(rand.NewSource(1)))
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(p.Host() + "/repo:1")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	s := p.Stats()
	raw, _ := img.RawManifest()
	cfg, _ := img.RawConfigFile()
	cfgName, _ := img.ConfigName()
	var want int64 = int64(len(cfg))
	layers, _ := img.Layers()
	for _, l := range layers {
		size, _ := l.Size()
		d, _ := l.Digest()
		want += size
		if s.Uploaded[d.String()] != size {
			t.Errorf("layer %s: counted %d bytes, want %d", d, s.Uploaded[d.String()], size)
		}
	}
	if s.BlobBytes != want || s.ManifestBytes != int64(len(raw)) || s.Uploaded[cfgName.String()] != int64(len(cfg)) {
		t.Errorf("stats %+v, want %d blob bytes and %d manifest bytes", s, want, len(raw))
	}
	if s.BlobBytesTo["repo"] != want || s.ManifestBytesTo["repo"] != int64(len(raw)) || len(s.BlobBytesTo) != 1 {
		t.Errorf("by repository: blobs %v, manifests %v", s.BlobBytesTo, s.ManifestBytesTo)
	}
	if got := s.UploadedExcept(cfgName.String()); got != want-int64(len(cfg)) {
		t.Errorf("UploadedExcept(config) = %d, want %d", got, want-int64(len(cfg)))
	}
}

// faultSequence sends the same requests through a new proxy and records the status of each
// (0 for a dropped connection).
func faultSequence(t *testing.T, upstream string, f Faults) []int {
	p := NewProxy(t, upstream, f)
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	var out []int
	for range 200 {
		resp, err := client.Get("http://" + p.Host() + "/v2/")
		if err != nil {
			out = append(out, 0)
			continue
		}
		resp.Body.Close()
		out = append(out, resp.StatusCode)
		if resp.StatusCode == http.StatusTooManyRequests && resp.Header.Get("Retry-After") == "" {
			t.Error("429 without Retry-After")
		}
	}
	return out
}

func TestProxyFaultsAreDeterministic(t *testing.T) {
	upstream := InMemory(t)
	f := Faults{Rate: 0.2, Seed: 42}
	a, b := faultSequence(t, upstream, f), faultSequence(t, upstream, f)
	if !slices.Equal(a, b) {
		t.Errorf("same seed, different faults:\n%v\n%v", a, b)
	}
	if c := faultSequence(t, upstream, Faults{Rate: 0.2, Seed: 43}); slices.Equal(a, c) {
		t.Error("different seeds gave the same faults")
	}
	counts := map[int]int{}
	inARow, maxInARow := 0, 0
	for _, code := range a {
		counts[code]++
		if code != http.StatusOK {
			inARow++
			maxInARow = max(maxInARow, inARow)
		} else {
			inARow = 0
		}
	}
	failed := len(a) - counts[http.StatusOK]
	if failed < 20 || failed > 60 || counts[0] == 0 || counts[503] == 0 || counts[429] == 0 {
		t.Errorf("faults %v in %d requests, want about 20%% of each kind", counts, len(a))
	}
	if maxInARow > 2 {
		t.Errorf("%d faults in a row for the same request, want at most 2", maxInARow)
	}
}

func TestInMemoryIsEmpty(t *testing.T) {
	ref, err := name.ParseReference(InMemory(t) + "/nothing:here")
	if err != nil {
		t.Fatal(err)
	}
	_, err = remote.Head(ref)
	var terr *transport.Error
	if !errors.As(err, &terr) || terr.StatusCode != http.StatusNotFound {
		t.Errorf("Head on an empty registry: %v, want 404", err)
	}
}
