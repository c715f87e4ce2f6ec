package image

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/ferry-ci/ferry/internal/ocilayout"
	"github.com/ferry-ci/ferry/pipeline"
	"github.com/ferry-ci/ferry/pipeline/config"
)

// Stage is the image stage: it builds the service's Dockerfile and keeps the image as an OCI
// image layout in the run, for the scan and push stages.
type Stage struct {
	// Keychain authenticates base image pulls.
	Keychain authn.Keychain
	// Source is the repository URL for the org.opencontainers.image.source label ("" omits it).
	Source string
	// CacheDir lets external builders keep pulled base images between builds.
	CacheDir string
}

var (
	_ pipeline.Stage       = (*Stage)(nil)
	_ pipeline.Skipper     = (*Stage)(nil)
	_ pipeline.Cacheable   = (*Stage)(nil)
	_ pipeline.Verifier    = (*Stage)(nil)
	_ pipeline.DryRunner   = (*Stage)(nil)
	_ pipeline.FileOutputs = (*Stage)(nil)
)

// Name is image.
func (s *Stage) Name() string { return config.StageImage }

// Skip skips services without an image section.
func (s *Stage) Skip(job *pipeline.Job) (string, bool) {
	if job.Service == nil || job.Service.Image == nil {
		return "no image section", true
	}
	return "", false
}

func (s *Stage) paths(job *pipeline.Job) (contextDir, dockerfile string) {
	img := job.Service.Image
	contextDir = filepath.Join(job.ServiceDir, filepath.FromSlash(img.Context))
	dockerfile = filepath.Join(job.ServiceDir, filepath.FromSlash(img.Dockerfile))
	return contextDir, dockerfile
}

// DryRun says what would be built and how.
func (s *Stage) DryRun(job *pipeline.Job) string {
	img := job.Service.Image
	return fmt.Sprintf("build %s/%s (context %s, %s, builder %s)", job.Service.Path, img.Dockerfile, img.Context, img.Platform, img.Builder)
}

// Run builds the image, stamped with the commit's time and OCI labels, and writes it as a
// layout in the stage folder.
func (s *Stage) Run(ctx context.Context, job *pipeline.Job) error {
	contextDir, dockerfile := s.paths(job)
	img := job.Service.Image
	keychain := s.Keychain
	if keychain == nil {
		keychain = authn.DefaultKeychain
	}
	ev := job.Run.Event
	version := job.Pipeline.Version
	if version == "" {
		version = ev.After
	}
	labels := map[string]string{
		"org.opencontainers.image.revision": ev.After,
		"org.opencontainers.image.version":  version,
		"org.opencontainers.image.created":  ev.Committed.UTC().Format(time.RFC3339),
	}
	if s.Source != "" {
		labels["org.opencontainers.image.source"] = s.Source
	}
	res, err := Build(ctx, Options{
		ContextDir: contextDir, Dockerfile: dockerfile, Target: img.Target, BuildArgs: img.Args,
		Platform: img.Platform, Labels: labels, Builder: img.Builder, Created: ev.Committed,
		Remote:   []remote.Option{remote.WithAuthFromKeychain(keychain), remote.WithContext(ctx)},
		Keychain: keychain,
		Log:      job.Log, WorkDir: job.Dir, CacheDir: s.CacheDir,
	})
	if err != nil {
		return err
	}
	defer res.Close()
	dir := filepath.Join(job.Dir, "layout")
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	ref := fmt.Sprintf("%s:%s", job.Pipeline.Name, version)
	if err := ocilayout.Write(dir, res.Image, ref); err != nil {
		return err
	}
	job.Outputs.Image = &pipeline.ImageOutput{Digest: res.Digest.String(), Layout: dir, Builder: res.Builder}
	fmt.Fprintf(job.Log, "image %s written to the run as an OCI layout\n", res.Digest)
	return nil
}

// Inputs: the build context as the Dockerfile sees it (every file .dockerignore keeps, with
// its mode and content), the Dockerfile, the image settings and the event fields that become
// labels. The same inputs build the same image, so the result can be reused.
func (s *Stage) Inputs(ctx context.Context, job *pipeline.Job) ([]byte, error) {
	contextDir, dockerfile := s.paths(job)
	sum, err := ContextDigest(contextDir, dockerfile)
	if err != nil {
		return nil, err
	}
	ev := job.Run.Event
	// The keys name the inputs when a miss says what changed.
	return json.Marshal(map[string]any{"build context": sum, "image settings": job.Service.Image, "revision": ev.After,
		"commit time": ev.Committed, "version": job.Pipeline.Version, "source label": s.Source})
}

// OutputFiles is the OCI layout: in this job's stage folder, where a restore puts it.
func (s *Stage) OutputFiles(job *pipeline.Job, out pipeline.Outputs) ([]pipeline.OutputRoot, pipeline.Outputs, error) {
	if out.Image == nil {
		return nil, out, nil
	}
	dir := filepath.Join(job.Dir, "layout")
	files, err := listFiles(dir)
	if err != nil {
		return nil, out, err
	}
	img := *out.Image
	img.Layout = dir
	out.Image = &img
	return []pipeline.OutputRoot{{Name: "layout", Dir: dir, Files: files}}, out, nil
}

// listFiles lists the regular files under dir as slash paths; none when dir is absent.
func listFiles(dir string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			rel, _ := filepath.Rel(dir, p)
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	return files, nil
}

// Verify checks that the layout is still there and holds the recorded image.
func (s *Stage) Verify(ctx context.Context, job *pipeline.Job, out pipeline.Outputs) error {
	if out.Image == nil {
		return errors.New("no image recorded")
	}
	img, err := ocilayout.Read(out.Image.Layout)
	if err != nil {
		return err
	}
	d, err := img.Digest()
	if err != nil {
		return err
	}
	if d.String() != out.Image.Digest {
		return fmt.Errorf("layout %s holds %s, not %s", out.Image.Layout, d, out.Image.Digest)
	}
	return nil
}

// ContextDigest hashes the Dockerfile and the build context as COPY sees it: every file and
// folder .dockerignore keeps, with its path, mode and content.
func ContextDigest(contextDir, dockerfile string) (string, error) {
	c, err := openContext(contextDir, dockerfile)
	if err != nil {
		return "", err
	}
	if err := c.list(); err != nil {
		return "", err
	}
	h := sha256.New()
	df, err := os.ReadFile(dockerfile)
	if err != nil {
		return "", err
	}
	fmt.Fprintf(h, "dockerfile\x00%d\x00", len(df))
	h.Write(df)
	for _, n := range c.names {
		fi := c.files[n]
		fmt.Fprintf(h, "%s\x00%o\x00", n, fi.Mode())
		switch {
		case fi.Mode().IsRegular():
			f, err := os.Open(filepath.Join(contextDir, filepath.FromSlash(n)))
			if err != nil {
				return "", err
			}
			_, err = io.Copy(h, f)
			f.Close()
			if err != nil {
				return "", err
			}
		case fi.Mode()&os.ModeSymlink != 0:
			target, err := os.Readlink(filepath.Join(contextDir, filepath.FromSlash(n)))
			if err != nil {
				return "", err
			}
			h.Write([]byte(target))
		}
		h.Write([]byte{0})
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}
