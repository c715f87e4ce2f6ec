package push

import (
	"bytes"
	"errors"
	"fmt"
	goldenfile "github.com/ferry-ci/ferry/internal/golden"
	"math/rand"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/ferry-ci/ferry/internal/registrytest"
	"github.com/ferry-ci/ferry/internal/testenv"
)

// fastRetry keeps retries quick in tests. A blob upload (HEAD, POST, PATCH, PUT) meets at least
// one fault in about 60% of its tries at a 20% fault rate, so it needs many tries to be safe.
var fastRetry = RetryPolicy{Attempts: 20, Initial: time.Millisecond, Factor: 1.4}

func newPusher(t testing.TB, opt Options) *Pusher {
	t.Helper()
	if opt.Keychain == nil {
		opt.Keychain = authn.NewMultiKeychain() // anonymous; no docker config of the machine
	}
	if opt.Retry == (RetryPolicy{}) {
		opt.Retry = fastRetry
	}
	p, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func randomImage(t testing.TB, seed int64, size, layers int64) v1.Image {
	t.Helper()
	img, err := random.Image(size, layers, random.WithSource(rand.NewSource(seed)))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func mustRef(t testing.TB, s string) name.Reference {
	t.Helper()
	ref, err := name.ParseReference(s)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

func digestOf(t testing.TB, img v1.Image) v1.Hash {
	t.Helper()
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// registries returns the registries a behaviour is checked against: the in-memory one always,
// the real distribution when it is installed.
func registries(t *testing.T) map[string]func(t *testing.T) string {
	return map[string]func(t *testing.T) string{
		"memory":       func(t *testing.T) string { return registrytest.InMemory(t) },
		"distribution": func(t *testing.T) string { return testenv.Registry(t) },
	}
}

func TestPushDigestAndTags(t *testing.T) {
	for regName, start := range registries(t) {
		t.Run(regName, func(t *testing.T) {
			host := start(t)
			p := newPusher(t, Options{})
			img := randomImage(t, 1, 1024, 2)
			got, err := p.Push(t.Context(), img, host+"/team/svc", Tags{Immutable: []string{"1.2.3", "latest", "1.2.3"}}, false)
			if err != nil {
				t.Fatal(err)
			}
			want := host + "/team/svc@" + digestOf(t, img).String()
			if got.Ref != want || got.Digest != digestOf(t, img) || got.AlreadyPresent {
				t.Fatalf("Push = %+v, want Ref %s, not already present", got, want)
			}
			if strings.Join(got.Tags, ",") != "1.2.3,latest" {
				t.Errorf("Tags = %q, want [1.2.3 latest]", got.Tags)
			}
			for _, tag := range got.Tags {
				desc, err := remote.Head(mustRef(t, host+"/team/svc:"+tag))
				if err != nil {
					t.Fatal(err)
				}
				if desc.Digest != got.Digest {
					t.Errorf("tag %s points at %s, want %s", tag, desc.Digest, got.Digest)
				}
			}
		})
	}
}

// TestCommitTagMoves pushes two images built from one commit (a main build and a release, or
// two releases at one commit): the commit tag moves to the latest with a log line, the
// release tags of both stay.
func TestCommitTagMoves(t *testing.T) {
	for regName, start := range registries(t) {
		t.Run(regName, func(t *testing.T) {
			repo := start(t) + "/svc"
			var log bytes.Buffer
			p := newPusher(t, Options{Log: &log})
			first, second := randomImage(t, 1, 2048, 2), randomImage(t, 2, 2048, 2)
			const commit = "0123456789abcdef0123456789abcdef01234567"
			if _, err := p.Push(t.Context(), first, repo, Tags{Immutable: []string{"1.0.0"}, Moving: []string{commit}}, false); err != nil {
				t.Fatal(err)
			}
			if _, err := p.Push(t.Context(), second, repo, Tags{Immutable: []string{"1.0.1"}, Moving: []string{commit}}, false); err != nil {
				t.Fatalf("second image of the commit: %v", err)
			}
			for tag, want := range map[string]v1.Hash{commit: digestOf(t, second), "1.0.0": digestOf(t, first), "1.0.1": digestOf(t, second)} {
				desc, err := remote.Head(mustRef(t, repo+":"+tag))
				if err != nil || desc.Digest != want {
					t.Errorf("tag %s → %v (%v), want %s", tag, desc, err, want)
				}
			}
			if want := "moving tag " + repo + ":" + commit + " from " + digestOf(t, first).String(); !strings.Contains(log.String(), want) {
				t.Errorf("log does not say the commit tag moved (%q):\n%s", want, log.String())
			}
		})
	}
}

func TestPushTagImmutability(t *testing.T) {
	for regName, start := range registries(t) {
		t.Run(regName, func(t *testing.T) {
			proxy := registrytest.NewProxy(t, start(t), registrytest.Faults{})
			repo := proxy.Host() + "/svc"
			var log bytes.Buffer
			p := newPusher(t, Options{Log: &log})
			first, second := randomImage(t, 1, 2048, 2), randomImage(t, 2, 2048, 2)
			ctx := t.Context()

			if _, err := p.Push(ctx, first, repo, Tags{Immutable: []string{"1.0.0"}}, false); err != nil {
				t.Fatal(err)
			}

			proxy.Reset()
			_, err := p.Push(ctx, second, repo, Tags{Immutable: []string{"latest", "1.0.0"}}, false)
			if !errors.Is(err, ErrTagMoved) {
				t.Fatalf("push of another image under 1.0.0: err = %v, want ErrTagMoved", err)
			}
			var moved *TagMovedError
			if !errors.As(err, &moved) || moved.Tag != repo+":1.0.0" || moved.Existing != digestOf(t, first) || moved.Pushing != digestOf(t, second) {
				t.Fatalf("err = %#v, want TagMovedError for %s:1.0.0 %s → %s", moved, repo, digestOf(t, first), digestOf(t, second))
			}
			wantMsg := "push " + repo + "@" + digestOf(t, second).String() + ": tag " + repo + ":1.0.0 already points at " +
				digestOf(t, first).String() + ", not " + digestOf(t, second).String() + " (release tags are immutable; force moves it)"
			if err.Error() != wantMsg {
				t.Errorf("error\n got %s\nwant %s", err, wantMsg)
			}
			if s := proxy.Stats(); s.BlobBytes != 0 || s.ManifestBytes != 0 || len(s.Uploaded) != 0 {
				t.Errorf("refused push uploaded something: %+v", s)
			}
			if _, err := remote.Head(mustRef(t, repo+":latest")); err == nil {
				t.Error("refused push set tag latest")
			}

			got, err := p.Push(ctx, second, repo, Tags{Immutable: []string{"1.0.0"}}, true)
			if err != nil {
				t.Fatalf("forced push: %v", err)
			}
			desc, err := remote.Head(mustRef(t, repo+":1.0.0"))
			if err != nil || desc.Digest != got.Digest || got.Digest != digestOf(t, second) {
				t.Fatalf("after force, 1.0.0 → %v (%v), want %s", desc, err, digestOf(t, second))
			}

			proxy.Reset()
			again, err := p.Push(ctx, second, repo, Tags{Immutable: []string{"1.0.0"}}, false)
			if err != nil {
				t.Fatalf("identical re-push: %v", err)
			}
			if !again.AlreadyPresent || again.Ref != got.Ref {
				t.Errorf("identical re-push = %+v, want AlreadyPresent and Ref %s", again, got.Ref)
			}
			if s := proxy.Stats(); s.BlobBytes != 0 || s.ManifestBytes != 0 {
				t.Errorf("identical re-push uploaded something: %+v", s)
			}
			if !strings.Contains(log.String(), "moving tag "+repo+":1.0.0") {
				t.Errorf("log does not mention the forced move:\n%s", log.String())
			}
		})
	}
}

func TestPushAddsMissingTagWithoutUploadingBlobs(t *testing.T) {
	proxy := registrytest.NewProxy(t, testenv.Registry(t), registrytest.Faults{})
	repo := proxy.Host() + "/svc"
	p := newPusher(t, Options{})
	img := randomImage(t, 3, 4096, 3)
	if _, err := p.Push(t.Context(), img, repo, Tags{}, false); err != nil {
		t.Fatal(err)
	}
	proxy.Reset()
	got, err := p.Push(t.Context(), img, repo, Tags{Immutable: []string{"2.0.0"}}, false)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := img.RawManifest()
	if err != nil {
		t.Fatal(err)
	}
	s := proxy.Stats()
	if !got.AlreadyPresent || s.BlobBytes != 0 || s.ManifestBytes != int64(len(raw)) {
		t.Errorf("tagging a present image: %+v, stats %+v; want AlreadyPresent, 0 blob bytes, one manifest PUT (%d bytes)", got, s, len(raw))
	}
}

// TestPushMountsBaseLayers pushes an image built on a base from another repository of the
// same (real) registry: the base layers are mounted, only the new layer and the config are
// uploaded.
func TestPushMountsBaseLayers(t *testing.T) {
	proxy := registrytest.NewProxy(t, testenv.Registry(t), registrytest.Faults{})
	ctx := t.Context()
	baseRef := mustRef(t, proxy.Host()+"/base/runtime:1")
	if err := remote.Write(baseRef, randomImage(t, 10, 64<<10, 3)); err != nil {
		t.Fatal(err)
	}
	base, err := remote.Image(baseRef) // its layers know their source repository
	if err != nil {
		t.Fatal(err)
	}
	layer, err := random.Layer(32<<10, types.DockerLayer, random.WithSource(rand.NewSource(11)))
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(base, layer)
	if err != nil {
		t.Fatal(err)
	}

	proxy.Reset()
	p := newPusher(t, Options{})
	if _, err := p.Push(ctx, img, proxy.Host()+"/team/app", Tags{Immutable: []string{"1"}}, false); err != nil {
		t.Fatal(err)
	}
	s := proxy.Stats()
	baseLayers, _ := base.Layers()
	for _, l := range baseLayers {
		d, _ := l.Digest()
		if _, uploaded := s.Uploaded[d.String()]; uploaded {
			t.Errorf("base layer %s was uploaded, want mounted", d)
		}
	}
	if len(s.Mounted) != len(baseLayers) {
		t.Errorf("mounted %d blobs (%v), want the %d base layers", len(s.Mounted), s.Mounted, len(baseLayers))
	}
	ld, _ := layer.Digest()
	cfg, _ := img.ConfigName()
	if len(s.Uploaded) != 2 || s.Uploaded[ld.String()] == 0 || s.Uploaded[cfg.String()] == 0 {
		t.Errorf("uploaded %v, want only the new layer %s and the config %s", s.Uploaded, ld, cfg)
	}
}

// TestPushThroughFaults pushes through a proxy that fails 20% of the requests with 503, 429
// or a dropped connection.
func TestPushThroughFaults(t *testing.T) {
	upstream := testenv.Registry(t)
	for _, seed := range []uint64{1, 2, 3} {
		proxy := registrytest.NewProxy(t, upstream, registrytest.Faults{Rate: 0.2, Seed: seed})
		p := newPusher(t, Options{})
		img := randomImage(t, int64(seed), 256<<10, 4)
		got, err := p.Push(t.Context(), img, fmt.Sprintf("%s/flaky%d", proxy.Host(), seed), Tags{Immutable: []string{"v1"}}, false)
		if err != nil {
			t.Fatalf("seed %d: push through faults: %v (stats %+v)", seed, err, proxy.Stats())
		}
		s := proxy.Stats()
		if got.Digest != digestOf(t, img) {
			t.Errorf("seed %d: digest %s, want %s", seed, got.Digest, digestOf(t, img))
		}
		desc, err := remote.Head(mustRef(t, fmt.Sprintf("%s/flaky%d:v1", upstream, seed)))
		if err != nil || desc.Digest != got.Digest {
			t.Errorf("seed %d: registry has v1 → %v (%v), want %s", seed, desc, err, got.Digest)
		}
		faults := s.Faults[registrytest.Unavailable] + s.Faults[registrytest.TooManyRequests] + s.Faults[registrytest.Drop]
		if faults == 0 {
			t.Errorf("seed %d: no fault injected in %d requests", seed, s.Requests)
		}
		t.Logf("seed %d: %d requests, faults %v", seed, s.Requests, s.Faults)
	}
}

func TestPushBasicAuthNeverLogsPassword(t *testing.T) {
	const user, password = "ferry", "s3cr3t-Pa55word"
	host := registrytest.AuthRegistry(t, user, password)
	t.Setenv("DOCKER_CONFIG", t.TempDir()) // no credentials from the machine
	img := randomImage(t, 5, 1024, 1)

	tests := []struct {
		name     string
		env      map[string]string
		wantErr  string
		wantPush bool
	}{
		{name: "right password", env: map[string]string{EnvUsername: user, EnvPassword: password}, wantPush: true},
		{name: "wrong password", env: map[string]string{EnvUsername: user, EnvPassword: password + "-wrong"}, wantErr: "401 Unauthorized"},
		{name: "no credentials", env: map[string]string{}, wantErr: "401 Unauthorized"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var log goldenfile.SyncBuffer
			p := newPusher(t, Options{Keychain: Keychain(func(k string) string { return tt.env[k] }, host), Log: &log})
			got, err := p.Push(t.Context(), img, host+"/private/app", Tags{Immutable: []string{"1"}}, false)
			switch {
			case tt.wantPush && err != nil:
				t.Fatalf("push: %v", err)
			case !tt.wantPush && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("push: err = %v, want one containing %s", err, tt.wantErr)
			case tt.wantPush && got.Digest != digestOf(t, img):
				t.Fatalf("pushed %s, want %s", got.Digest, digestOf(t, img))
			}
			for _, text := range []string{log.String(), errString(err)} {
				if strings.Contains(text, password) {
					t.Errorf("password appears in %q", text)
				}
			}
		})
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestKeychain(t *testing.T) {
	t.Setenv("DOCKER_CONFIG", t.TempDir()) // the default keychain finds nothing
	tests := []struct {
		name     string
		env      map[string]string
		registry string
		want     authn.AuthConfig
		wantErr  string
	}{
		{name: "none", env: nil, registry: "example.azurecr.io", want: authn.AuthConfig{}},
		{
			name:     "env for the config's registry",
			env:      map[string]string{EnvUsername: "u", EnvPassword: "p"},
			registry: "example.azurecr.io",
			want:     authn.AuthConfig{Username: "u", Password: "p"},
		},
		{
			name:     "env not sent to the docker hub for base images",
			env:      map[string]string{EnvUsername: "u", EnvPassword: "p"},
			registry: "index.docker.io",
			want:     authn.AuthConfig{},
		},
		{
			name:     "host overrides the config's registry",
			env:      map[string]string{EnvUsername: "u", EnvPassword: "p", EnvHost: "other.example.com"},
			registry: "example.azurecr.io",
			want:     authn.AuthConfig{},
		},
		{
			name:     "env limited to its host",
			env:      map[string]string{EnvUsername: "u", EnvPassword: "p", EnvHost: "example.azurecr.io"},
			registry: "example.azurecr.io",
			want:     authn.AuthConfig{Username: "u", Password: "p"},
		},
		{
			name:     "env not sent to another registry",
			env:      map[string]string{EnvUsername: "u", EnvPassword: "p", EnvHost: "example.azurecr.io"},
			registry: "index.docker.io",
			want:     authn.AuthConfig{},
		},
		{
			name:     "docker hub host spelling",
			env:      map[string]string{EnvUsername: "u", EnvPassword: "p", EnvHost: "docker.io"},
			registry: "index.docker.io",
			want:     authn.AuthConfig{Username: "u", Password: "p"},
		},
		{
			name:     "user without password",
			env:      map[string]string{EnvUsername: "u"},
			registry: "example.azurecr.io",
			wantErr:  "credentials for example.azurecr.io: FERRY_REGISTRY_USERNAME and FERRY_REGISTRY_PASSWORD must be set together",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kc := Keychain(func(k string) string { return tt.env[k] }, "example.azurecr.io", "runs.example.com")
			reg, err := name.NewRegistry(tt.registry)
			if err != nil {
				t.Fatal(err)
			}
			auth, err := kc.Resolve(reg)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("err = %v, want %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := auth.Authorization()
			if err != nil {
				t.Fatal(err)
			}
			if *got != tt.want {
				t.Errorf("auth = %+v, want %+v", *got, tt.want)
			}
		})
	}
}

func TestNewRejectsBadRetry(t *testing.T) {
	for _, r := range []RetryPolicy{{Attempts: -1}, {Factor: 0.5}, {Initial: -time.Second}} {
		if _, err := New(Options{Retry: r}); err == nil {
			t.Errorf("New(Retry: %+v) succeeded, want an error", r)
		}
	}
}
