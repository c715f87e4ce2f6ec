package image

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/ferry-ci/ferry/internal/ocilayout"
	"github.com/ferry-ci/ferry/pipeline"
)

// findExternal returns the first external builder that works here.
func findExternal(ctx context.Context) (string, error) {
	for _, b := range []string{Buildah, Docker, Podman} {
		if available(ctx, b) == nil {
			return b, nil
		}
	}
	return "", errors.New("looked for buildah, docker (buildx), podman on PATH")
}

// available reports why an external builder cannot run, or nil.
func available(ctx context.Context, builder string) error {
	if _, err := exec.LookPath(builder); err != nil {
		return err
	}
	if builder != Docker {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "docker", "buildx", "version").CombinedOutput(); err != nil {
		return fmt.Errorf("docker buildx is not available: %w: %s", err, bytes.TrimSpace(out))
	}
	return nil
}

// external builds with buildah, docker buildx or podman and loads the OCI output.
func (b *build) external(ctx context.Context, builder string, res *Result) error {
	if err := available(ctx, builder); err != nil {
		return fmt.Errorf("build %s: builder %s: %w", b.df.name, builder, err)
	}
	bases, err := b.remoteBases()
	if err != nil {
		return err
	}
	env := pipeline.ScrubCredentials(os.Environ(), nil)
	if conf, err := b.registriesConf(bases); err != nil {
		return fmt.Errorf("build %s: %w", b.df.name, err)
	} else if conf != "" {
		env = append(env, "CONTAINERS_REGISTRIES_CONF="+conf)
	}
	authEnv, err := b.authFile(builder, bases)
	if err != nil {
		return fmt.Errorf("build %s: %w", b.df.name, err)
	}
	env = append(env, authEnv...)

	layoutDir := filepath.Join(b.workDir, "oci")
	archive := filepath.Join(b.workDir, "oci.tar")
	iidFile := filepath.Join(b.workDir, "iid")
	epoch := strconv.FormatInt(b.opt.Created.Unix(), 10)
	common := []string{"--platform", platformString(b.platform), "-f", b.dockerfile}
	if b.opt.Target != "" {
		common = append(common, "--target", b.opt.Target)
	}
	for _, k := range slices.Sorted(maps.Keys(b.opt.BuildArgs)) {
		common = append(common, "--build-arg", k+"="+b.opt.BuildArgs[k])
	}

	switch builder {
	case Buildah, Podman:
		// Both sit on containers/storage: vfs and chroot isolation work unprivileged and
		// inside containers, where overlay mounts and namespaces often do not.
		storage := filepath.Join(b.workDir, "storage")
		if b.opt.CacheDir != "" {
			storage = filepath.Join(b.opt.CacheDir, builder)
		}
		global := []string{"--root", filepath.Join(storage, "root"), "--runroot", filepath.Join(storage, "runroot"), "--storage-driver", "vfs"}
		args := append(slices.Clone(global), "build", "--isolation", "chroot", "--timestamp", epoch, "--iidfile", iidFile)
		args = append(append(args, common...), b.opt.ContextDir)
		if err := b.run(ctx, env, builder, args...); err != nil {
			return err
		}
		iid, err := os.ReadFile(iidFile)
		if err != nil {
			return fmt.Errorf("build %s: %s wrote no image id: %w", b.df.name, builder, err)
		}
		id := strings.TrimPrefix(strings.TrimSpace(string(iid)), "sha256:")
		defer func() {
			if err := b.run(context.WithoutCancel(ctx), env, builder, append(slices.Clone(global), "rmi", id)...); err != nil {
				fmt.Fprintf(b.log, "warning: removing the built image from %s storage: %v\n", builder, err)
			}
		}()
		if builder == Buildah {
			err = b.run(ctx, env, builder, append(slices.Clone(global), "push", id, "oci:"+layoutDir)...)
		} else {
			err = b.run(ctx, env, builder, append(slices.Clone(global), "save", "--format", "oci-archive", "-o", archive, id)...)
			if err == nil {
				err = untar(archive, layoutDir)
			}
		}
		if err != nil {
			return err
		}
	case Docker:
		args := append([]string{"buildx", "build"}, common...)
		args = append(args, "--build-arg", "SOURCE_DATE_EPOCH="+epoch, "--provenance=false", "--sbom=false",
			"--output", "type=oci,dest="+archive+",rewrite-timestamp=true", b.opt.ContextDir)
		if err := b.run(ctx, env, "docker", args...); err != nil {
			return err
		}
		if err := untar(archive, layoutDir); err != nil {
			return fmt.Errorf("build %s: %w", b.df.name, err)
		}
	}

	img, err := ocilayout.ReadPlatform(layoutDir, &b.platform)
	if err != nil {
		return fmt.Errorf("build %s: %w", b.df.name, err)
	}
	if len(b.opt.Labels) > 0 {
		cfg, err := img.ConfigFile()
		if err != nil {
			return fmt.Errorf("build %s: %w", b.df.name, err)
		}
		c := cfg.Config
		if c.Labels == nil {
			c.Labels = map[string]string{}
		}
		for k, v := range b.opt.Labels {
			c.Labels[k] = v
		}
		if img, err = mutate.Config(img, c); err != nil {
			return fmt.Errorf("build %s: %w", b.df.name, err)
		}
	}
	if final := b.finalBase(); final != "" {
		if ref, err := name.ParseReference(final); err == nil {
			img = ocilayout.Mountable(img, ref)
		}
	}
	res.Image = img
	b.warnUnusedArgs()
	return nil
}

// remoteBases lists the registry images the reachable stages start from.
func (b *build) remoteBases() ([]string, error) {
	var out []string
	for _, i := range b.stages {
		n, err := b.df.baseName(i)
		if err != nil {
			return nil, err
		}
		if _, isStage := b.df.stageIndex(n, i); isStage || strings.EqualFold(n, "scratch") || slices.Contains(out, n) {
			continue
		}
		out = append(out, n)
	}
	return out, nil
}

// finalBase returns the registry image the target stage descends from, or "".
func (b *build) finalBase() string {
	for i := b.target; ; {
		n, err := b.df.baseName(i)
		if err != nil || strings.EqualFold(n, "scratch") {
			return ""
		}
		j, isStage := b.df.stageIndex(n, i)
		if !isStage {
			return n
		}
		i = j
	}
}

// registriesConf writes a registries.conf marking the base images' plain-HTTP registries
// (loopback, RFC 1918, as go-containerregistry decides) insecure, or returns "" when there
// are none. It replaces the system's registries.conf for the build: short names resolve on
// docker.io, as in Dockerfiles.
func (b *build) registriesConf(bases []string) (string, error) {
	var insecure []string
	for _, ref := range bases {
		r, err := name.ParseReference(ref)
		if err != nil {
			continue
		}
		if reg := r.Context().Registry; reg.Scheme() == "http" && !slices.Contains(insecure, reg.RegistryStr()) {
			insecure = append(insecure, reg.RegistryStr())
		}
	}
	if len(insecure) == 0 {
		return "", nil
	}
	var sb strings.Builder
	sb.WriteString("unqualified-search-registries = [\"docker.io\"]\n")
	for _, r := range insecure {
		fmt.Fprintf(&sb, "\n[[registry]]\nlocation = %q\ninsecure = true\n", r)
	}
	p := filepath.Join(b.workDir, "registries.conf")
	return p, os.WriteFile(p, []byte(sb.String()), 0o644)
}

// authFile writes the credentials the keychain has for the base images' registries in the
// docker config format that buildah and podman read as REGISTRY_AUTH_FILE, so that private
// base images work with them as with the native builder, whether the credentials came from
// FERRY_REGISTRY_* or a credential helper. It names only those registries, and lives in the
// build's work folder, removed with it. docker keeps its own config: its daemon pulls, and
// DOCKER_CONFIG also holds the buildx plugin.
func (b *build) authFile(builder string, bases []string) ([]string, error) {
	if b.opt.Keychain == nil || builder == Docker {
		return nil, nil
	}
	type entry struct {
		Auth          string `json:"auth,omitempty"`
		IdentityToken string `json:"identitytoken,omitempty"`
	}
	auths := map[string]entry{}
	for _, ref := range bases {
		r, err := name.ParseReference(ref)
		if err != nil {
			continue
		}
		reg := r.Context().Registry
		a, err := b.opt.Keychain.Resolve(reg)
		if err != nil {
			return nil, fmt.Errorf("credentials for %s: %w", reg.RegistryStr(), err)
		}
		cfg, err := a.Authorization()
		if err != nil || (cfg.Username == "" && cfg.Auth == "" && cfg.IdentityToken == "") {
			continue
		}
		e := entry{Auth: cfg.Auth, IdentityToken: cfg.IdentityToken}
		if e.Auth == "" && cfg.Username != "" {
			e.Auth = base64.StdEncoding.EncodeToString([]byte(cfg.Username + ":" + cfg.Password))
		}
		auths[reg.RegistryStr()] = e
		if reg.RegistryStr() == name.DefaultRegistry {
			auths["https://index.docker.io/v1/"] = e
		}
	}
	dir := filepath.Join(b.workDir, "auth")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	data, err := json.Marshal(map[string]any{"auths": auths})
	if err != nil {
		return nil, err
	}
	file := filepath.Join(dir, "config.json")
	if err := os.WriteFile(file, data, 0o600); err != nil {
		return nil, err
	}
	return []string{"REGISTRY_AUTH_FILE=" + file}, nil
}

// run runs a builder in its own process group, streaming its output to the log.
func (b *build) run(ctx context.Context, env []string, prog string, args ...string) error {
	fmt.Fprintf(b.log, "$ %s %s\n", prog, strings.Join(redactBuildArgs(args), " "))
	cmd := exec.CommandContext(ctx, prog, args...)
	cmd.Env = env
	tail := &tailWriter{max: 15}
	w := io.MultiWriter(b.log, tail)
	cmd.Stdout, cmd.Stderr = w, w
	setProcessGroup(cmd)
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Run(); err != nil {
		verb := ""
		for _, a := range args {
			if !strings.HasPrefix(a, "-") && !strings.Contains(a, "/") {
				verb = " " + a
				break
			}
		}
		return fmt.Errorf("build %s: %s%s: %w\n%s", b.df.name, prog, verb, err, tail)
	}
	return nil
}

// redactBuildArgs hides build arg values, which may be secrets.
func redactBuildArgs(args []string) []string {
	out := slices.Clone(args)
	for i := 1; i < len(out); i++ {
		if out[i-1] == "--build-arg" {
			if k, _, ok := strings.Cut(out[i], "="); ok && k != "SOURCE_DATE_EPOCH" {
				out[i] = k + "=…"
			}
		}
	}
	return out
}

// tailWriter keeps the last lines written to it.
type tailWriter struct {
	mu    sync.Mutex
	max   int
	lines []string
	part  string
}

func (t *tailWriter) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.part + string(p)
	parts := strings.Split(s, "\n")
	t.part = parts[len(parts)-1]
	t.lines = append(t.lines, parts[:len(parts)-1]...)
	if len(t.lines) > t.max {
		t.lines = t.lines[len(t.lines)-t.max:]
	}
	return len(p), nil
}

func (t *tailWriter) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.Join(append(slices.Clone(t.lines), t.part), "\n")
}

// untar extracts an OCI archive (regular files and directories only) into dir.
func untar(archive, dir string) error {
	f, err := os.Open(archive)
	if err != nil {
		return err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", archive, err)
		}
		rel := cleanPath(h.Name)
		if rel == "" {
			continue
		}
		dst := filepath.Join(dir, filepath.FromSlash(rel))
		switch h.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(dst, 0o755)
		case tar.TypeReg:
			err = writeFile(dst, tr)
		default:
			err = fmt.Errorf("unexpected entry %s of type %c", h.Name, h.Typeflag)
		}
		if err != nil {
			return fmt.Errorf("extract %s: %w", archive, err)
		}
	}
}

func writeFile(dst string, r io.Reader) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
