package image

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/ferry-ci/ferry/internal/registrytest"
	"github.com/ferry-ci/ferry/internal/testenv"
)

// busyboxImage is a base with a static busybox as /bin/sh and friends, made from the
// machine's /usr/bin/busybox (Debian's busybox-static).
func busyboxImage(t testing.TB) v1.Image {
	t.Helper()
	bin, ok := testenv.LookBinary("FERRY_TEST_BUSYBOX", "busybox")
	if !ok {
		testenv.Missing(t, "busybox not found (apt-get install busybox-static)")
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	files := []tfile{
		{name: "bin/"},
		{name: "bin/busybox", content: string(data), mode: 0o755},
		{name: "etc/"},
		{name: "etc/passwd", content: "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n"},
		{name: "etc/group", content: "root:x:0:\napp:x:1000:\n"},
		{name: "tmp/", mode: 0o1777},
	}
	for _, applet := range []string{"sh", "echo", "cat", "mkdir", "ls", "true"} {
		files = append(files, tfile{name: "bin/" + applet, symlink: true, link: "busybox"})
	}
	return testImage(t, "linux/amd64", v1.Config{Env: []string{"PATH=/bin"}, Cmd: []string{"/bin/sh"}}, testLayer(t, files...))
}

// requireBuildah skips (fails in CI) when buildah is missing.
func requireBuildah(t testing.TB) {
	t.Helper()
	if _, ok := testenv.LookBinary("", "buildah"); !ok {
		testenv.Missing(t, "buildah not found (apt-get install buildah)")
	}
}

// TestBuildahRun builds a Dockerfile with RUN: auto picks buildah (docker without buildx is
// passed over), which pulls the base from a plain-HTTP loopback registry.
func TestBuildahRun(t *testing.T) {
	requireBuildah(t)
	reg := testenv.Registry(t)
	base := busyboxImage(t)
	push(t, reg+"/busybox:1", base)

	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"Dockerfile": `FROM ` + reg + `/busybox:1
ARG GREETING=hello
RUN mkdir -p /out && echo "$GREETING from RUN" > /out/run.txt
COPY hello.txt /out/
USER app
CMD ["cat", "/out/run.txt"]
`,
		"hello.txt": "hello from the context\n",
	})
	var log strings.Builder
	res := buildOK(t, dir, Options{
		Builder:   Auto,
		BuildArgs: map[string]string{"GREETING": "s3cret-greeting"},
		Labels:    map[string]string{"org.opencontainers.image.revision": "abc123"},
		Log:       &log,
	})
	if res.Builder != Buildah {
		t.Fatalf("Builder = %s, want buildah", res.Builder)
	}
	fsys := files(t, res.Image)
	if got := fsys["out/run.txt"]; got != "s3cret-greeting from RUN\n" {
		t.Errorf("/out/run.txt = %q", got)
	}
	if got := fsys["out/hello.txt"]; got != "hello from the context\n" {
		t.Errorf("/out/hello.txt = %q", got)
	}
	cfg, err := res.Image.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Config.User != "app" || strings.Join(cfg.Config.Cmd, " ") != "cat /out/run.txt" ||
		cfg.Config.Labels["org.opencontainers.image.revision"] != "abc123" || !cfg.Created.Time.Equal(testEpoch) {
		t.Errorf("config: user %q, cmd %q, labels %v, created %s", cfg.Config.User, cfg.Config.Cmd, cfg.Config.Labels, cfg.Created)
	}
	if strings.Contains(log.String(), "s3cret-greeting") {
		t.Errorf("the build arg value appears in the log:\n%s", log.String())
	}
	t.Log(log.String())
	if !strings.Contains(log.String(), "--build-arg GREETING=…") {
		t.Errorf("log lacks the redacted buildah command line:\n%s", log.String())
	}
}

// staticKeychain answers with one user and password for one registry.
type staticKeychain struct{ host, user, password string }

func (k staticKeychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	if r.RegistryStr() != k.host {
		return authn.Anonymous, nil
	}
	return authn.FromConfig(authn.AuthConfig{Username: k.user, Password: k.password}), nil
}

// TestBuildahPrivateBase builds FROM an image in a registry that requires a password: buildah
// gets the credentials Ferry has for that registry in an auth file of its own (without one it
// fails with 401), and the password reaches neither its command line nor the log.
func TestBuildahPrivateBase(t *testing.T) {
	requireBuildah(t)
	const user, password = "ferry", "s3cr3t-Pa55word"
	reg := registrytest.AuthRegistry(t, user, password)
	r, err := name.ParseReference(reg + "/busybox:1")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, busyboxImage(t), remote.WithAuth(&authn.Basic{Username: user, Password: password})); err != nil {
		t.Fatal(err)
	}
	t.Setenv("REGISTRY_AUTH_FILE", filepath.Join(t.TempDir(), "none.json")) // nothing from the machine
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"Dockerfile": "FROM " + reg + "/busybox:1\nRUN echo built > /built.txt\n"})
	var log strings.Builder
	res := buildOK(t, dir, Options{Builder: Buildah, Keychain: staticKeychain{reg, user, password}, Log: &log})
	if got := files(t, res.Image)["built.txt"]; got != "built\n" {
		t.Errorf("/built.txt = %q", got)
	}
	if strings.Contains(log.String(), password) {
		t.Errorf("the password appears in the log:\n%s", log.String())
	}
}
