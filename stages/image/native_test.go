package image

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/ferry-ci/ferry/internal/ocilayout"
	"github.com/ferry-ci/ferry/internal/registrytest"
	"github.com/ferry-ci/ferry/internal/testenv"
)

// baseImage pushes the small distro-like base to reg/base:1 and returns it.
func baseImage(t testing.TB, reg string) v1.Image {
	t.Helper()
	img := testImage(t, "linux/amd64", v1.Config{Env: []string{"PATH=/usr/bin:/bin"}, Cmd: []string{"/bin/sh"}}, baseLayer(t))
	push(t, reg+"/base:1", img)
	return img
}

func buildOK(t *testing.T, dir string, opt Options) *Result {
	t.Helper()
	opt.ContextDir = dir
	if opt.Builder == "" {
		opt.Builder = Native
	}
	if opt.Created.IsZero() {
		opt.Created = testEpoch
	}
	res, err := Build(t.Context(), opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := res.Close(); err != nil {
			t.Error(err)
		}
	})
	return res
}

func buildErr(t *testing.T, dir string, opt Options) error {
	t.Helper()
	opt.ContextDir = dir
	if opt.Builder == "" {
		opt.Builder = Native
	}
	res, err := Build(t.Context(), opt)
	if err == nil {
		res.Close()
		t.Fatal("build succeeded, want an error")
	}
	return err
}

// TestNativeAllInstructions builds a Dockerfile using every instruction the native builder
// supports and compares the config and the new layers with golden files.
func TestNativeAllInstructions(t *testing.T) {
	reg := registrytest.InMemory(t)
	baseImage(t, reg)
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"Dockerfile": `# syntax=docker/dockerfile:1
ARG BASE=example.invalid/base:1
FROM ${BASE} AS runtime
MAINTAINER ferry
ARG VERSION=dev
ARG UNSET
ENV APP_HOME=/srv/app VERSION=${VERSION}
LABEL org.example.team="payments" version=$VERSION
WORKDIR $APP_HOME
COPY --chown=app:staff --chmod=0750 bin/ ./bin/
COPY config.yaml /etc/app/
COPY *.txt docs/
COPY <<EOF /etc/motd
hello $VERSION
EOF
ADD notes.md /srv/
COPY tool /bin/tool
USER app
EXPOSE 8080 9090/udp 7000-7001
HEALTHCHECK --interval=30s --timeout=3s --retries=2 CMD ["/srv/app/bin/health"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/srv/app/bin/server"]
CMD serve --port 8080
`,
		"bin/server":  "#!/bin/sh\necho server\n",
		"bin/health":  "#!/bin/sh\nexit 0\n",
		"config.yaml": "port: 8080\n",
		"a.txt":       "a\n",
		"b.txt":       "b\n",
		"notes.md":    "# notes\n",
		"tool":        "#!/bin/sh\necho tool\n",
	})
	res := buildOK(t, dir, Options{
		BuildArgs: map[string]string{"BASE": reg + "/base:1", "VERSION": "1.2.3"},
		Labels:    map[string]string{"org.opencontainers.image.revision": "abc123"},
	})
	if res.Builder != Native {
		t.Errorf("Builder = %q, want native", res.Builder)
	}
	cfg, err := res.Image.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	js, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "all-instructions.config.json", string(js)+"\n")
	golden(t, "all-instructions.layers.txt", listLayers(t, newLayers(t, res.Image, 1)))

	fsys := files(t, res.Image)
	for p, want := range map[string]string{
		"etc/motd":            "hello 1.2.3\n",
		"usr/bin/tool":        "#!/bin/sh\necho tool\n", // through the /bin → usr/bin symlink
		"bin":                 "->usr/bin",
		"srv/app/docs/a.txt":  "a\n",
		"srv/notes.md":        "# notes\n",
		"etc/app/config.yaml": "port: 8080\n",
	} {
		if fsys[p] != want {
			t.Errorf("%s = %q, want %q", p, fsys[p], want)
		}
	}
}

// TestNativeReproducible builds the same sources from two directories whose files have
// different modification times and group/other permission bits: same digest.
func TestNativeReproducible(t *testing.T) {
	reg := registrytest.InMemory(t)
	baseImage(t, reg)
	tree := map[string]string{
		"Dockerfile":    "FROM " + reg + "/base:1\nCOPY . /app/\nENTRYPOINT [\"/app/run\"]\n",
		"run":           "#!/bin/sh\necho run\n",
		"lib/a.go":      "package lib\n",
		"lib/b/c.txt":   "c\n",
		"static/empty/": "",
	}
	var digests []v1.Hash
	for i, perm := range []os.FileMode{0o644, 0o664} {
		dir := filepath.Join(t.TempDir(), "copy", strings.Repeat("x", i+1))
		writeTree(t, dir, tree)
		mtime := time.Date(2020+i, 1, 1, 0, 0, 0, int(time.Millisecond)*i, time.UTC)
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && filepath.Base(p) != "run" {
				if err := os.Chmod(p, perm); err != nil {
					return err
				}
			}
			return os.Chtimes(p, mtime, mtime)
		})
		if err != nil {
			t.Fatal(err)
		}
		digests = append(digests, buildOK(t, dir, Options{Created: testEpoch}).Digest)
	}
	if digests[0] != digests[1] {
		t.Errorf("same sources built in two places: %s and %s, want the same digest", digests[0], digests[1])
	}
	dir := filepath.Join(t.TempDir(), "later")
	writeTree(t, dir, tree)
	if later := buildOK(t, dir, Options{Created: testEpoch.Add(time.Hour)}).Digest; later == digests[0] {
		t.Errorf("a different Created gave the same digest %s", later)
	}
}

// TestNativeMultiPlatformBase resolves a multi-platform index to the requested platform.
func TestNativeMultiPlatformBase(t *testing.T) {
	reg := testenv.Registry(t)
	var idx v1.ImageIndex = mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, p := range []string{"linux/amd64", "linux/arm64/v8"} {
		img := testImage(t, p, v1.Config{}, baseLayer(t), testLayer(t, tfile{name: "platform", content: p}))
		plat, _ := v1.ParsePlatform(p)
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: plat}})
	}
	push(t, reg+"/multi:1", idx)

	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"Dockerfile": "FROM " + reg + "/multi:1\nCOPY hi.txt /\n", "hi.txt": "hi\n"})
	for _, p := range []string{"linux/amd64", "linux/arm64/v8"} {
		t.Run(p, func(t *testing.T) {
			res := buildOK(t, dir, Options{Platform: p})
			cfg, err := res.Image.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			if got := platformString(v1.Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant}); got != p {
				t.Errorf("config platform %s, want %s", got, p)
			}
			fsys := files(t, res.Image)
			if fsys["platform"] != p || fsys["hi.txt"] != "hi\n" {
				t.Errorf("platform file %q, hi.txt %q; want %q and hi", fsys["platform"], fsys["hi.txt"], p)
			}
		})
	}
	err := buildErr(t, dir, Options{Platform: "linux/s390x"})
	if want := "Dockerfile:1: FROM " + reg + "/multi:1: platform linux/s390x: "; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("err = %v, want prefix %q", err, want)
	}
}

func TestNativeScratch(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"Dockerfile": "FROM scratch\nCOPY app /app\nENTRYPOINT [\"/app\"]\n",
		"app":        "#!/bin/sh\n",
	})
	res := buildOK(t, dir, Options{Platform: "linux/arm64"})
	if mt, _ := res.Image.MediaType(); mt != types.OCIManifestSchema1 {
		t.Errorf("media type %s, want OCI", mt)
	}
	cfg, _ := res.Image.ConfigFile()
	ls, _ := res.Image.Layers()
	if cfg.OS != "linux" || cfg.Architecture != "arm64" || len(ls) != 1 || len(cfg.History) != 2 ||
		strings.Join(cfg.Config.Env, ",") != "PATH="+defaultPath || cfg.Created.Time != testEpoch {
		t.Errorf("scratch image: config %+v with %d layers", cfg, len(ls))
	}
	golden(t, "scratch.layers.txt", listLayers(t, ls))
}

func TestNativeMultiStage(t *testing.T) {
	reg := registrytest.InMemory(t)
	baseImage(t, reg)
	push(t, reg+"/tools:1", testImage(t, "linux/amd64", v1.Config{}, testLayer(t,
		tfile{name: "tools/"}, tfile{name: "tools/tool", content: "tool", mode: 0o755, uid: 7, gid: 8})))
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"Dockerfile": `FROM ` + reg + `/base:1 AS build
COPY src/ /src/
WORKDIR /src

FROM scratch AS extra
COPY extra.txt /

FROM build AS unused
RUN exit 1

FROM build AS derived
ENV FROM_BUILD=1

FROM ` + reg + `/base:1
COPY --from=build /src/app /usr/local/bin/app
COPY --from=1 /extra.txt /opt/
COPY --from=` + reg + `/tools:1 /tools/tool /usr/local/bin/
COPY --from=derived /src/ /copied/
`,
		"src/app":     "#!/bin/sh\necho app\n",
		"src/lib/x":   "x\n",
		"extra.txt":   "extra\n",
		"Dockerfile2": "unused",
	})
	res := buildOK(t, dir, Options{})
	fsys := files(t, res.Image)
	for p, want := range map[string]string{
		"usr/local/bin/app":  "#!/bin/sh\necho app\n",
		"opt/extra.txt":      "extra\n",
		"usr/local/bin/tool": "tool",
		"copied/app":         "#!/bin/sh\necho app\n",
		"copied/lib/x":       "x\n",
	} {
		if fsys[p] != want {
			t.Errorf("%s = %q, want %q", p, fsys[p], want)
		}
	}
	if _, ok := fsys["src/app"]; ok {
		t.Error("the build stage's /src leaked into the final image")
	}
	golden(t, "multi-stage.layers.txt", listLayers(t, newLayers(t, res.Image, 1)))

	res = buildOK(t, dir, Options{Target: "extra"})
	if got := keys(files(t, res.Image)); strings.Join(got, ",") != "extra.txt" {
		t.Errorf("target extra has %v, want only extra.txt", got)
	}
}

func TestNativeDockerignore(t *testing.T) {
	tree := map[string]string{
		"Dockerfile":         "FROM scratch\nCOPY . /app/\n",
		".dockerignore":      "# comment\n*.log\nsecrets/\ndocs/**\n!docs/keep.md\n**/*.tmp\n",
		"main.go":            "package main\n",
		"debug.log":          "log\n",
		"secrets/key":        "k\n",
		"docs/a.md":          "a\n",
		"docs/keep.md":       "keep\n",
		"pkg/x.go":           "package pkg\n",
		"pkg/deep/cache.tmp": "tmp\n",
	}
	tests := []struct {
		name  string
		extra map[string]string
		want  []string
	}{
		{name: ".dockerignore", want: []string{".dockerignore", "Dockerfile", "docs/keep.md", "main.go", "pkg/x.go"}},
		{
			name:  "Dockerfile.dockerignore wins",
			extra: map[string]string{"Dockerfile.dockerignore": "*.log\n"},
			want: []string{".dockerignore", "Dockerfile", "Dockerfile.dockerignore", "docs/a.md", "docs/keep.md",
				"main.go", "pkg/deep/cache.tmp", "pkg/x.go", "secrets/key"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeTree(t, dir, tree)
			writeTree(t, dir, tt.extra)
			res := buildOK(t, dir, Options{})
			var got []string
			for _, p := range keys(files(t, res.Image)) {
				if !strings.HasSuffix(p, "/") {
					got = append(got, strings.TrimPrefix(p, "app/"))
				}
			}
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Errorf("copied\n %v\nwant\n %v", got, tt.want)
			}
		})
	}
}

func TestNativeChownChmod(t *testing.T) {
	reg := registrytest.InMemory(t)
	baseImage(t, reg)
	tests := []struct {
		flags string
		want  string // the layer's entries
	}{
		{"", "d 0755 0:0 0 out/\n  - 0644 0:0 2 out/f"},
		{"--chown=1000", "d 0755 1000:1000 0 out/\n  - 0644 1000:1000 2 out/f"},
		{"--chown=1000:2000", "d 0755 1000:2000 0 out/\n  - 0644 1000:2000 2 out/f"},
		{"--chown=app", "d 0755 1000:1000 0 out/\n  - 0644 1000:1000 2 out/f"},
		{"--chown=app:staff", "d 0755 1000:50 0 out/\n  - 0644 1000:50 2 out/f"},
		{"--chown=0:staff --chmod=0600", "d 0755 0:50 0 out/\n  - 0600 0:50 2 out/f"},
		{"--chmod=755", "d 0755 0:0 0 out/\n  - 0755 0:0 2 out/f"},
	}
	for _, tt := range tests {
		t.Run(tt.flags, func(t *testing.T) {
			dir := t.TempDir()
			writeTree(t, dir, map[string]string{
				"Dockerfile": "FROM " + reg + "/base:1\nCOPY " + tt.flags + " f /out/\n",
				"f":          "f\n",
			})
			res := buildOK(t, dir, Options{})
			got := listLayers(t, newLayers(t, res.Image, 1))
			if want := "layer 0\n  " + tt.want + "\n"; got != want {
				t.Errorf("layer\n%s\nwant\n%s", got, want)
			}
		})
	}
}

func TestNativeErrors(t *testing.T) {
	reg := registrytest.InMemory(t)
	baseImage(t, reg)
	var tarGz bytes.Buffer
	tarGz.Write([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff})
	tests := []struct {
		name       string
		dockerfile string
		opt        Options
		want       string
	}{
		{
			name:       "RUN in native mode",
			dockerfile: "FROM scratch\nCOPY a.txt /\nRUN echo hi\n",
			want:       "Dockerfile:3: RUN is not supported by the native builder (use builder auto or an external builder: buildah, docker, podman)",
		},
		{
			name:       "unknown stage",
			dockerfile: "FROM scratch AS one\nCOPY a.txt /\n\nFROM scratch\nCOPY a.txt /\nCOPY a.txt /b.txt\nCOPY --from=nosuch /x /x\n",
			want:       "Dockerfile:7: COPY --from=nosuch: unknown stage",
		},
		{
			name:       "stage defined later",
			dockerfile: "FROM scratch\nCOPY --from=later /x /x\nFROM scratch AS later\n",
			opt:        Options{Target: "0"},
			want:       `Dockerfile: target stage "0" not found (stages: later)`,
		},
		{
			name:       "missing source",
			dockerfile: "FROM scratch\nCOPY nosuch.txt /\n",
			want:       "Dockerfile:2: COPY nosuch.txt: no such file or directory in the build context",
		},
		{
			name:       "ignored source",
			dockerfile: "FROM scratch\nCOPY secret.txt /\n",
			want:       "Dockerfile:2: COPY secret.txt: excluded by .dockerignore",
		},
		{
			name:       "glob without match",
			dockerfile: "FROM scratch\nCOPY *.go /src/\n",
			want:       "Dockerfile:2: COPY *.go: no file in the build context matches",
		},
		{
			name:       "several sources to a file",
			dockerfile: "FROM scratch\nCOPY a.txt Dockerfile /dest\n",
			want:       "Dockerfile:2: COPY /dest: when copying more than one source file the destination must be a directory and end with a /",
		},
		{
			name:       "unknown instruction",
			dockerfile: "FROM scratch\nCOPPY a.txt /\n",
			want:       "Dockerfile:2: unknown instruction: COPPY (did you mean COPY?)",
		},
		{
			name:       "no FROM",
			dockerfile: "ARG X=1\n",
			want:       "Dockerfile: no FROM instruction",
		},
		{
			name:       "chown by name on scratch",
			dockerfile: "FROM scratch\nCOPY --chown=app a.txt /\n",
			want:       `Dockerfile:2: COPY --chown=app: unknown user "app": the image has no /etc/passwd`,
		},
		{
			name:       "chown unknown user",
			dockerfile: "FROM " + reg + "/base:1\nCOPY --chown=ghost:app a.txt /\n",
			want:       `Dockerfile:2: COPY --chown=ghost:app: unknown user "ghost": not in the image's /etc/passwd`,
		},
		{
			name:       "chown unknown group",
			dockerfile: "FROM " + reg + "/base:1\nCOPY --chown=app:ghosts a.txt /\n",
			want:       `Dockerfile:2: COPY --chown=app:ghosts: unknown group "ghosts": not in the image's /etc/group`,
		},
		{
			name:       "bad chmod",
			dockerfile: "FROM scratch\nCOPY --chmod=u+x a.txt /\n",
			want:       "Dockerfile:2: COPY --chmod=u+x: want an octal mode such as 0755",
		},
		{
			name:       "ADD URL",
			dockerfile: "FROM scratch\nADD https://example.com/x.tgz /\n",
			want:       "Dockerfile:2: ADD https://example.com/x.tgz: remote URLs are not supported by the native builder (use builder auto or an external builder: buildah, docker, podman)",
		},
		{
			name:       "ADD local archive",
			dockerfile: "FROM scratch\nADD app.tar.gz /\n",
			want:       "Dockerfile:2: ADD app.tar.gz: extracting local archives is not supported by the native builder (use COPY, or an external builder: buildah, docker, podman)",
		},
		{
			name:       "VOLUME",
			dockerfile: "FROM scratch\nVOLUME /data\n",
			want:       "Dockerfile:2: VOLUME is not supported by the native builder (use builder auto or an external builder: buildah, docker, podman)",
		},
		{
			name:       "unknown target",
			dockerfile: "FROM scratch AS build\n",
			opt:        Options{Target: "test"},
			want:       `Dockerfile: target stage "test" not found (stages: build)`,
		},
		{
			name:       "unknown builder",
			dockerfile: "FROM scratch\n",
			opt:        Options{Builder: "kaniko"},
			want:       `build Dockerfile: unknown builder "kaniko" (want auto, native, buildah, docker or podman)`,
		},
		{
			name:       "WORKDIR over a file",
			dockerfile: "FROM " + reg + "/base:1\nWORKDIR /etc/passwd/x\n",
			want:       "Dockerfile:2: WORKDIR /etc/passwd/x: /etc/passwd exists and is not a directory",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeTree(t, dir, map[string]string{
				"Dockerfile":    tt.dockerfile,
				"a.txt":         "a\n",
				"secret.txt":    "s\n",
				".dockerignore": "secret.txt\n",
				"app.tar.gz":    tarGz.String(),
			})
			err := buildErr(t, dir, tt.opt)
			if err.Error() != tt.want {
				t.Errorf("error\n got %s\nwant %s", err, tt.want)
			}
		})
	}
}

// TestAutoWithoutExternalBuilder checks the message when a Dockerfile needs an external
// builder and none is on PATH.
func TestAutoWithoutExternalBuilder(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"Dockerfile": "FROM scratch\nRUN true\n"})
	err := buildErr(t, dir, Options{Builder: Auto})
	want := "build Dockerfile: no external builder found for a Dockerfile with RUN: looked for buildah, docker (buildx), podman on PATH"
	if err.Error() != want {
		t.Errorf("error\n got %s\nwant %s", err, want)
	}
	// Without RUN, auto builds natively.
	writeTree(t, dir, map[string]string{"Dockerfile": "FROM scratch\nCOPY Dockerfile /\n"})
	if res := buildOK(t, dir, Options{Builder: Auto}); res.Builder != Native {
		t.Errorf("auto picked %s for a Dockerfile without RUN, want native", res.Builder)
	}
}

func TestLayoutRoundTripMountsBase(t *testing.T) {
	proxy := registrytest.NewProxy(t, testenv.Registry(t), registrytest.Faults{})
	reg := proxy.Host()
	base := baseImage(t, reg)
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"Dockerfile": "FROM " + reg + "/base:1\nCOPY app /app\n", "app": "app\n"})
	res := buildOK(t, dir, Options{})

	layoutDir := filepath.Join(t.TempDir(), "layout")
	if err := ocilayout.Write(layoutDir, res.Image, reg+"/team/app:1.0.0"); err != nil {
		t.Fatal(err)
	}
	if err := res.Close(); err != nil { // the layout must not need the build's files
		t.Fatal(err)
	}
	index, err := os.ReadFile(filepath.Join(layoutDir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"org.opencontainers.image.ref.name":"` + reg + `/team/app:1.0.0"`, `"org.opencontainers.image.base.name":"` + reg + `/base:1"`} {
		if !strings.Contains(string(index), want) {
			t.Errorf("index.json lacks %s:\n%s", want, index)
		}
	}
	img, err := ocilayout.Read(layoutDir)
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := img.Digest(); d != res.Digest {
		t.Errorf("layout image %s, built %s", d, res.Digest)
	}

	proxy.Reset()
	push(t, reg+"/team/app:1.0.0", img)
	s := proxy.Stats()
	baseLayers, _ := base.Layers()
	if len(s.Mounted) != len(baseLayers) {
		t.Errorf("pushing the layout mounted %v, want the %d base layers", s.Mounted, len(baseLayers))
	}
	pushed, _ := img.Digest()
	if pushed != res.Digest {
		t.Errorf("pushed %s, want %s", pushed, res.Digest)
	}

	if _, err := ocilayout.Read(t.TempDir()); err == nil || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Read(empty dir) = %v, want a not-exist error", err)
	}
}

func TestBuildHonoursCancellation(t *testing.T) {
	reg := registrytest.InMemory(t)
	baseImage(t, reg)
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"Dockerfile": "FROM " + reg + "/base:1\nCOPY a /a\n", "a": "a"})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := Build(ctx, Options{ContextDir: dir, Builder: Native})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Build with a cancelled context: %v, want context.Canceled", err)
	}
}
