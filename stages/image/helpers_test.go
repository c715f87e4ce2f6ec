package image

import (
	"archive/tar"
	"bytes"
	"errors"
	"flag"
	"fmt"
	goldenfile "github.com/ferry-ci/ferry/internal/golden"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	goldenfile.Check(t, filepath.Join("testdata", name), []byte(got), *update)
}

// tfile is a file of a test layer; a name ending in / is a directory.
type tfile struct {
	name, content, link string
	mode                int64
	uid, gid            int
	symlink             bool
}

var testEpoch = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

// testLayer builds a layer from files, reproducibly.
func testLayer(t testing.TB, files ...tfile) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{Name: f.name, Mode: f.mode, Uid: f.uid, Gid: f.gid, ModTime: testEpoch}
		switch {
		case strings.HasSuffix(f.name, "/"):
			h.Typeflag = tar.TypeDir
		case f.symlink:
			h.Typeflag, h.Linkname = tar.TypeSymlink, f.link
		default:
			h.Typeflag, h.Size = tar.TypeReg, int64(len(f.content))
		}
		if h.Mode == 0 {
			h.Mode = 0o644
			if h.Typeflag != tar.TypeReg {
				h.Mode = 0o755
			}
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, f.content); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// testImage makes an image for platform from layers with a small config.
func testImage(t testing.TB, platform string, cfg v1.Config, layers ...v1.Layer) v1.Image {
	t.Helper()
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		t.Fatal(err)
	}
	p, err := v1.ParsePlatform(platform)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf.OS, cf.Architecture, cf.Variant = p.OS, p.Architecture, p.Variant
	cf.Config = cfg
	cf.Created = v1.Time{Time: testEpoch}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	return img
}

// baseLayer is a small distro-like root: users, a /bin → usr/bin symlink, a sticky /tmp.
func baseLayer(t testing.TB) v1.Layer {
	return testLayer(t,
		tfile{name: "etc/"},
		tfile{name: "etc/passwd", content: "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n"},
		tfile{name: "etc/group", content: "root:x:0:\napp:x:1000:\nstaff:x:50:app\n"},
		tfile{name: "usr/"},
		tfile{name: "usr/bin/"},
		tfile{name: "bin", symlink: true, link: "usr/bin"},
		tfile{name: "tmp/", mode: 0o1777},
	)
}

// push writes img (or an index) to ref.
func push(t testing.TB, ref string, img remote.Taggable) {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	switch x := img.(type) {
	case v1.Image:
		err = remote.Write(r, x)
	case v1.ImageIndex:
		err = remote.WriteIndex(r, x)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// writeTree writes files (relative path → content; a trailing / makes a directory) under dir.
func writeTree(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for p, content := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if strings.HasSuffix(p, "/") {
			if err := os.MkdirAll(full, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		mode := os.FileMode(0o644)
		if strings.HasPrefix(content, "#!") {
			mode = 0o755
		}
		if err := os.WriteFile(full, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
}

// listLayers renders the entries of layers: mode uid:gid size name [-> link].
func listLayers(t testing.TB, layers []v1.Layer) string {
	t.Helper()
	var sb strings.Builder
	for i, l := range layers {
		fmt.Fprintf(&sb, "layer %d\n", i)
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			line := fmt.Sprintf("  %s %04o %d:%d %d %s", typeChar(h), h.Mode, h.Uid, h.Gid, h.Size, h.Name)
			if h.Linkname != "" {
				line += " -> " + h.Linkname
			}
			if !h.ModTime.Equal(h.ModTime.Truncate(time.Second)) || h.Uname != "" || h.Gname != "" || len(h.PAXRecords) > 0 {
				line += " (not normalised)"
			}
			sb.WriteString(line + "\n")
		}
		rc.Close()
	}
	return sb.String()
}

func typeChar(h *tar.Header) string {
	switch h.Typeflag {
	case tar.TypeDir:
		return "d"
	case tar.TypeSymlink:
		return "l"
	}
	return "-"
}

// newLayers returns the layers img adds to a base with n layers.
func newLayers(t testing.TB, img v1.Image, n int) []v1.Layer {
	t.Helper()
	ls, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	return ls[n:]
}

// files returns the flattened filesystem of img: path → content (regular files) or "->link".
func files(t testing.TB, img v1.Image) map[string]string {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	out := map[string]string{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		p := cleanPath(h.Name)
		switch h.Typeflag {
		case tar.TypeReg:
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			out[p] = string(b)
		case tar.TypeSymlink:
			out[p] = "->" + h.Linkname
		case tar.TypeDir:
			out[p+"/"] = ""
		}
	}
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
