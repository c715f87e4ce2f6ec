package image

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/ferry-ci/ferry/internal/ocilayout"
	"github.com/ferry-ci/ferry/pipeline"
)

func TestContextDigestFollowsDockerignore(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("Dockerfile", "FROM scratch\nCOPY . /app\n")
	write(".dockerignore", "docs/\n*.tmp\n")
	write("main.go", "package main")
	write("docs/README.md", "docs")
	df := filepath.Join(dir, "Dockerfile")
	digest := func() string {
		t.Helper()
		d, err := ContextDigest(dir, df)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	base := digest()
	write("docs/README.md", "changed docs")
	write("x.tmp", "scratch")
	if digest() != base {
		t.Error("ignored files changed the context digest")
	}
	write("main.go", "package main // changed")
	changed := digest()
	if changed == base {
		t.Error("a copied file's change did not change the context digest")
	}
	os.Chmod(filepath.Join(dir, "main.go"), 0o755)
	if digest() == changed {
		t.Error("a mode change did not change the context digest")
	}
	write("Dockerfile", "FROM scratch\nCOPY . /srv\n")
	if digest() == changed {
		t.Error("a Dockerfile change did not change the context digest")
	}
}

func TestVerifyChecksTheLayout(t *testing.T) {
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "layout")
	if err := ocilayout.Write(dir, img, "a:1"); err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	s := &Stage{}
	ok := pipeline.Outputs{Image: &pipeline.ImageOutput{Digest: d.String(), Layout: dir}}
	if err := s.Verify(t.Context(), nil, ok); err != nil {
		t.Errorf("verify = %v", err)
	}
	wrong := pipeline.Outputs{Image: &pipeline.ImageOutput{Digest: "sha256:" + strings.Repeat("0", 64), Layout: dir}}
	if err := s.Verify(t.Context(), nil, wrong); err == nil {
		t.Error("a layout with another image verified")
	}
	gone := pipeline.Outputs{Image: &pipeline.ImageOutput{Digest: d.String(), Layout: filepath.Join(t.TempDir(), "nope")}}
	if err := s.Verify(t.Context(), nil, gone); err == nil {
		t.Error("a missing layout verified")
	}
}
