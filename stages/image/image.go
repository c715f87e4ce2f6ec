// Package image builds a container image from a service's Dockerfile.
//
// The native builder assembles the image without a daemon, the way ko does: base images are
// pulled with go-containerregistry, local files become reproducible tar layers (sorted
// entries, fixed timestamps and modes), and the config records every metadata instruction. It
// supports every Dockerfile instruction that does not run a command in the image; for those
// (RUN and friends) Build hands the Dockerfile to an external builder — buildah, docker buildx
// or podman — and loads its OCI output, so that what comes out is a v1.Image either way.
//
// The stage keeps the result as an OCI image layout (internal/ocilayout), which the scan and
// push stages read.
package image

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
)

// Builder names for Options.Builder.
const (
	Auto    = "auto"
	Native  = "native"
	Buildah = "buildah"
	Docker  = "docker"
	Podman  = "podman"
)

// Options says what to build and how.
type Options struct {
	ContextDir string            // build context
	Dockerfile string            // path; default ContextDir/Dockerfile
	Target     string            // stage to build; default the last one
	BuildArgs  map[string]string // --build-arg values
	Platform   string            // os/arch[/variant]; default linux/amd64
	// Labels are added to the image config after the Dockerfile's own, for example
	// org.opencontainers.image.revision, .source, .version and .created.
	Labels map[string]string
	// Builder is Auto (native when the Dockerfile needs nothing the native builder lacks,
	// such as RUN; else the first external builder found), Native, Buildah, Docker or Podman.
	Builder string
	// Created is the timestamp of the config, the history and every file of new layers; the
	// caller passes the commit time so that a build is reproducible. Zero means the Unix epoch.
	Created time.Time
	Remote  []remote.Option // auth and transport for pulling base images (native builder)
	// Keychain gives external builders the credentials of the base images' registries, in
	// an auth file of their own that names those registries only.
	Keychain authn.Keychain
	Log      io.Writer // progress lines; build arg values never appear in them
	// WorkDir holds temporary files (new layers, external builders' output) until
	// Result.Close; default os.TempDir().
	WorkDir string
	// CacheDir keeps external builders' storage (pulled base images) between builds; empty
	// means a fresh storage per build, removed by Result.Close.
	CacheDir string
}

// Result is a built image.
type Result struct {
	Image   v1.Image
	Digest  v1.Hash
	Builder string // the builder that ran: native, buildah, docker or podman

	workDir string
}

// Close removes the temporary files the image is read from; the Image is unusable after it.
// Write it somewhere first (ocilayout.Write, push).
func (r *Result) Close() error {
	if r == nil || r.workDir == "" {
		return nil
	}
	return os.RemoveAll(r.workDir)
}

// build is the state shared by the builders.
type build struct {
	opt        Options
	df         *dockerfile
	platform   v1.Platform
	target     int
	stages     []int // reachable from the target, in order
	dockerfile string
	workDir    string
	log        io.Writer
}

// Build builds the image described by opt.
func Build(ctx context.Context, opt Options) (*Result, error) {
	b, err := prepare(opt)
	if err != nil {
		return nil, err
	}
	builder := opt.Builder
	if builder == "" {
		builder = Auto
	}
	external := ""
	switch builder {
	case Native:
	case Buildah, Docker, Podman:
		external = builder
	case Auto:
		if cmd, _ := b.df.unsupported(b.stages); cmd != nil {
			found, err := findExternal(ctx)
			if err != nil {
				return nil, fmt.Errorf("build %s: no external builder found for a Dockerfile with %s: %w",
					b.df.name, strings.ToUpper(cmd.Name()), err)
			}
			fmt.Fprintf(b.log, "%s needs %s: using %s\n", b.df.name, strings.ToUpper(cmd.Name()), found)
			external = found
		}
	default:
		return nil, fmt.Errorf("build %s: unknown builder %q (want auto, native, buildah, docker or podman)", b.df.name, builder)
	}

	if opt.WorkDir != "" {
		if err := os.MkdirAll(opt.WorkDir, 0o755); err != nil {
			return nil, fmt.Errorf("build %s: %w", b.df.name, err)
		}
	}
	b.workDir, err = os.MkdirTemp(opt.WorkDir, "ferry-image-*")
	if err != nil {
		return nil, fmt.Errorf("build %s: %w", b.df.name, err)
	}
	res := &Result{workDir: b.workDir, Builder: Native}
	if external == "" {
		err = b.native(ctx, res)
	} else {
		res.Builder = external
		err = b.external(ctx, external, res)
	}
	if err == nil {
		res.Digest, err = res.Image.Digest()
	}
	if err != nil {
		return nil, errors.Join(err, res.Close())
	}
	fmt.Fprintf(b.log, "built %s with the %s builder: %s\n", b.df.name, res.Builder, res.Digest)
	return res, nil
}

// prepare checks the options, fills defaults and parses the Dockerfile.
func prepare(opt Options) (*build, error) {
	if opt.ContextDir == "" {
		return nil, errors.New("build: no context directory")
	}
	if fi, err := os.Stat(opt.ContextDir); err != nil {
		return nil, fmt.Errorf("build: context: %w", err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("build: context %s is not a directory", opt.ContextDir)
	}
	if opt.Dockerfile == "" {
		opt.Dockerfile = filepath.Join(opt.ContextDir, "Dockerfile")
	}
	if opt.Platform == "" {
		opt.Platform = "linux/amd64"
	}
	if opt.Created.IsZero() {
		opt.Created = time.Unix(0, 0)
	}
	opt.Created = opt.Created.UTC().Truncate(time.Second)
	log := opt.Log
	if log == nil {
		log = io.Discard
	}
	platform, err := v1.ParsePlatform(opt.Platform)
	if err != nil {
		return nil, fmt.Errorf("build: platform %q: %w", opt.Platform, err)
	}
	src, err := os.ReadFile(opt.Dockerfile)
	if err != nil {
		return nil, fmt.Errorf("build: %w", err)
	}
	df, err := parseDockerfile(displayName(opt.ContextDir, opt.Dockerfile), src, opt.BuildArgs, *platform)
	if err != nil {
		return nil, err
	}
	target, err := df.target(opt.Target)
	if err != nil {
		return nil, err
	}
	stages, err := df.reachable(target)
	if err != nil {
		return nil, err
	}
	return &build{opt: opt, df: df, platform: *platform, target: target, stages: stages, dockerfile: opt.Dockerfile, log: log}, nil
}

// displayName is the Dockerfile's path relative to the context, or as given when outside it.
func displayName(contextDir, dockerfile string) string {
	if rel, err := filepath.Rel(contextDir, dockerfile); err == nil && !strings.HasPrefix(rel, "..") {
		return filepath.ToSlash(rel)
	}
	return dockerfile
}

// warnUnusedArgs logs build args no ARG instruction declares, as docker build does.
func (b *build) warnUnusedArgs() {
	declared := map[string]bool{}
	declare := func(a *instructions.ArgCommand) {
		for _, kv := range a.Args {
			declared[kv.Key] = true
		}
	}
	for i := range b.df.metaArgs {
		declare(&b.df.metaArgs[i])
	}
	for _, i := range b.stages {
		for _, cmd := range b.df.stages[i].Commands {
			if a, ok := cmd.(*instructions.ArgCommand); ok {
				declare(a)
			}
		}
	}
	var unused []string
	for k := range b.opt.BuildArgs {
		if !declared[k] {
			unused = append(unused, k)
		}
	}
	slices.Sort(unused)
	if len(unused) > 0 {
		fmt.Fprintf(b.log, "warning: build args not declared by any ARG: %s\n", strings.Join(unused, ", "))
	}
}
