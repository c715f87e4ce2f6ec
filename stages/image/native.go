package image

import (
	"context"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// nativeBuild runs the stages of a Dockerfile without a daemon.
type nativeBuild struct {
	*build
	ctxDir *buildContext
	pulled map[string]*pulled // by reference and platform
	stages map[int]*stage     // finished stages
}

// pulled is a remote image resolved for a platform.
type pulled struct {
	img      v1.Image // its layers remember their repository, so a push can mount them
	resolved string   // repo@sha256:… of what the reference pointed at
	fs       *rootfs
}

// stage is a stage being built.
type stage struct {
	index     int
	base      v1.Image
	fs        *rootfs // base layers, then the new ones
	cfg       *v1.ConfigFile
	layers    []v1.Layer
	history   []v1.History // of the new layers and metadata instructions
	layerType types.MediaType
	args      *env // ARGs in scope
	cmdSet    bool // CMD set in this stage: a later ENTRYPOINT keeps it
	img       v1.Image
}

func (b *build) native(ctx context.Context, res *Result) error {
	if cmd, why := b.df.unsupported(b.stages); cmd != nil {
		return b.df.at(cmd.Location(), why)
	}
	ctxDir, err := openContext(b.opt.ContextDir, b.dockerfile)
	if err != nil {
		return fmt.Errorf("build %s: %w", b.df.name, err)
	}
	nb := &nativeBuild{build: b, ctxDir: ctxDir, pulled: map[string]*pulled{}, stages: map[int]*stage{}}
	for _, i := range b.stages {
		st, err := nb.run(ctx, i)
		if err != nil {
			return err
		}
		nb.stages[i] = st
	}
	res.Image = nb.stages[b.target].img
	b.warnUnusedArgs()
	return nil
}

// run builds stage i.
func (nb *nativeBuild) run(ctx context.Context, i int) (*stage, error) {
	df := nb.df
	spec := df.stages[i]
	st, err := nb.start(ctx, i)
	if err != nil {
		return nil, err
	}
	for _, cmd := range spec.Commands {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := nb.dispatch(ctx, st, cmd); err != nil {
			return nil, df.at(cmd.Location(), err)
		}
	}
	if err := nb.finish(st, i == nb.target); err != nil {
		return nil, df.at(spec.Location, err)
	}
	return st, nil
}

// start sets a stage up from its FROM.
func (nb *nativeBuild) start(ctx context.Context, i int) (*stage, error) {
	df := nb.df
	spec := df.stages[i]
	baseName, err := df.baseName(i)
	if err != nil {
		return nil, err
	}
	st := &stage{index: i, args: &env{}}
	switch j, isStage := df.stageIndex(baseName, i); {
	case isStage:
		prev := nb.stages[j]
		st.base, st.fs, st.layerType = prev.img, prev.fs.derive(), prev.layerType
		if st.cfg, err = prev.img.ConfigFile(); err != nil {
			return nil, err
		}
		fmt.Fprintf(nb.log, "[%d] FROM stage %s\n", i, baseName)
	case strings.EqualFold(baseName, "scratch"):
		st.base = mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
		st.fs, st.layerType = newRootfs(nil), types.OCILayer
		st.cfg = &v1.ConfigFile{
			OS: nb.platform.OS, Architecture: nb.platform.Architecture, Variant: nb.platform.Variant,
			RootFS: v1.RootFS{Type: "layers"},
		}
		fmt.Fprintf(nb.log, "[%d] FROM scratch\n", i)
	default:
		platform := nb.platform
		if spec.Platform != "" {
			ps, err := df.expand(spec.Platform, df.global)
			if err != nil {
				return nil, df.at(spec.Location, fmt.Errorf("FROM --platform=%s: %w", spec.Platform, err))
			}
			p, err := v1.ParsePlatform(ps)
			if err != nil {
				return nil, df.at(spec.Location, fmt.Errorf("FROM --platform=%s: %w", spec.Platform, err))
			}
			platform = *p
		}
		p, err := nb.pull(ctx, baseName, platform)
		if err != nil {
			return nil, df.at(spec.Location, fmt.Errorf("FROM %s: %w", baseName, err))
		}
		st.base, st.fs = p.img, p.fs.derive()
		st.layerType = types.OCILayer
		if mt, err := p.img.MediaType(); err == nil && mt == types.DockerManifestSchema2 {
			st.layerType = types.DockerLayer
		}
		if st.cfg, err = p.img.ConfigFile(); err != nil {
			return nil, df.at(spec.Location, fmt.Errorf("FROM %s: %w", baseName, err))
		}
		fmt.Fprintf(nb.log, "[%d] FROM %s\n", i, p.resolved)
	}
	st.cfg = st.cfg.DeepCopy()
	if _, ok := (&env{}).with(st.cfg.Config.Env).Get("PATH"); !ok {
		st.cfg.Config.Env = append(st.cfg.Config.Env, "PATH="+defaultPath)
	}
	return st, nil
}

// pull resolves a remote image for a platform, once per build.
func (nb *nativeBuild) pull(ctx context.Context, ref string, platform v1.Platform) (*pulled, error) {
	key := ref + " " + platformString(platform)
	if p, ok := nb.pulled[key]; ok {
		return p, nil
	}
	r, err := name.ParseReference(ref)
	if err != nil {
		return nil, err
	}
	opts := append(slices.Clone(nb.opt.Remote), remote.WithContext(ctx), remote.WithPlatform(platform))
	desc, err := remote.Get(r, opts...)
	if err != nil {
		return nil, err
	}
	img, err := desc.Image() // an index is resolved to the platform's image
	if err != nil {
		return nil, fmt.Errorf("platform %s: %w", platformString(platform), err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	if cfg.OS != platform.OS || cfg.Architecture != platform.Architecture {
		return nil, fmt.Errorf("image is for %s/%s, not %s", cfg.OS, cfg.Architecture, platformString(platform))
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, err
	}
	p := &pulled{img: img, resolved: r.Context().Digest(desc.Digest.String()).String(), fs: newRootfs(layers)}
	nb.pulled[key] = p
	return p, nil
}

// dispatch applies one instruction to the stage.
func (nb *nativeBuild) dispatch(ctx context.Context, st *stage, cmd instructions.Command) error {
	df := nb.df
	scope := st.args.with(st.cfg.Config.Env)
	if _, isArg := cmd.(*instructions.ArgCommand); !isArg {
		if ex, ok := cmd.(instructions.SupportsSingleWordExpansion); ok {
			if err := ex.Expand(func(w string) (string, error) { return df.expand(w, scope) }); err != nil {
				return fmt.Errorf("%s: %w", strings.ToUpper(cmd.Name()), err)
			}
		}
	}
	if ex, ok := cmd.(instructions.SupportsSingleWordExpansionRaw); ok {
		// Heredoc content with an unquoted delimiter: variables expanded, quotes kept.
		raw := shell.NewLex('\\')
		raw.SkipProcessQuotes = true
		err := ex.ExpandRaw(func(w string) (string, error) {
			s, _, err := raw.ProcessWord(w, scope)
			return s, err
		})
		if err != nil {
			return fmt.Errorf("%s: %w", strings.ToUpper(cmd.Name()), err)
		}
	}
	c := st.cfg.Config
	switch cmd := cmd.(type) {
	case *instructions.ArgCommand:
		if err := df.declareArgs(st.args, cmd, scope); err != nil {
			return err
		}
	case *instructions.EnvCommand:
		for _, kv := range cmd.Env {
			c.Env = setEnv(c.Env, kv.Key, kv.Value)
		}
	case *instructions.LabelCommand:
		if c.Labels == nil {
			c.Labels = map[string]string{}
		}
		for _, kv := range cmd.Labels {
			c.Labels[kv.Key] = kv.Value
		}
	case *instructions.MaintainerCommand:
		st.cfg.Author = cmd.Maintainer
	case *instructions.UserCommand:
		c.User = cmd.User
	case *instructions.WorkdirCommand:
		wd := cmd.Path
		if !path.IsAbs(wd) {
			wd = path.Join("/", c.WorkingDir, wd)
		}
		c.WorkingDir = path.Clean(wd)
		st.cfg.Config = c
		return nb.workdir(ctx, st, cmd)
	case *instructions.ExposeCommand:
		if c.ExposedPorts == nil {
			c.ExposedPorts = map[string]struct{}{}
		}
		for _, p := range cmd.Ports {
			words, err := df.lex.ProcessWords(p, scope)
			if err != nil {
				return fmt.Errorf("EXPOSE %s: %w", p, err)
			}
			for _, w := range words {
				ports, err := parsePorts(w)
				if err != nil {
					return fmt.Errorf("EXPOSE %s: %w", w, err)
				}
				for _, p := range ports {
					c.ExposedPorts[p] = struct{}{}
				}
			}
		}
	case *instructions.CmdCommand:
		c.Cmd = withShell(c.Shell, cmd.ShellDependantCmdLine)
		st.cmdSet = true
	case *instructions.EntrypointCommand:
		c.Entrypoint = withShell(c.Shell, cmd.ShellDependantCmdLine)
		if !st.cmdSet {
			c.Cmd = nil
		}
	case *instructions.HealthCheckCommand:
		h := cmd.Health
		c.Healthcheck = &v1.HealthConfig{Test: h.Test, Interval: h.Interval, Timeout: h.Timeout, StartPeriod: h.StartPeriod, Retries: h.Retries}
	case *instructions.StopSignalCommand:
		c.StopSignal = cmd.Signal
	case *instructions.CopyCommand:
		return nb.copy(ctx, st, copySpecOf(cmd))
	case *instructions.AddCommand:
		spec, err := addSpecOf(cmd)
		if err != nil {
			return err
		}
		return nb.copy(ctx, st, spec)
	default:
		return fmt.Errorf("%s is not supported by the native builder (use builder auto or an external builder: buildah, docker, podman)", strings.ToUpper(cmd.Name()))
	}
	st.cfg.Config = c
	st.history = append(st.history, v1.History{CreatedBy: commandText(cmd), EmptyLayer: true})
	return nil
}

// commandText is the instruction as written (variables not expanded, so build arg values do
// not end up in the history).
func commandText(cmd instructions.Command) string {
	if s, ok := cmd.(fmt.Stringer); ok {
		return s.String()
	}
	return strings.ToUpper(cmd.Name())
}

// withShell turns the shell form into ["/bin/sh", "-c", "…"] (or the image's SHELL).
func withShell(sh []string, c instructions.ShellDependantCmdLine) []string {
	if !c.PrependShell {
		return slices.Clone(c.CmdLine)
	}
	if len(sh) == 0 {
		sh = []string{"/bin/sh", "-c"}
	}
	return append(slices.Clone(sh), strings.Join(c.CmdLine, " "))
}

func setEnv(envs []string, k, v string) []string {
	for i, kv := range envs {
		if key, _, _ := strings.Cut(kv, "="); key == k {
			envs[i] = k + "=" + v
			return envs
		}
	}
	return append(envs, k+"="+v)
}

// parsePorts parses 80, 80/udp, 8000-8002/tcp into port/proto keys.
func parsePorts(s string) ([]string, error) {
	ports, proto, _ := strings.Cut(s, "/")
	if proto == "" {
		proto = "tcp"
	}
	proto = strings.ToLower(proto)
	if proto != "tcp" && proto != "udp" && proto != "sctp" {
		return nil, fmt.Errorf("invalid protocol %q", proto)
	}
	lo, hi, isRange := strings.Cut(ports, "-")
	var a, z int
	if _, err := fmt.Sscanf(lo, "%d", &a); err != nil || fmt.Sprint(a) != lo || a < 1 || a > 65535 {
		return nil, fmt.Errorf("invalid port %q", lo)
	}
	z = a
	if isRange {
		if _, err := fmt.Sscanf(hi, "%d", &z); err != nil || fmt.Sprint(z) != hi || z < a || z > 65535 {
			return nil, fmt.Errorf("invalid port range %q", ports)
		}
	}
	var out []string
	for p := a; p <= z; p++ {
		out = append(out, fmt.Sprintf("%d/%s", p, proto))
	}
	return out, nil
}

// workdir creates the working directory when the image does not have it, owned by the
// current USER like BuildKit does.
func (nb *nativeBuild) workdir(ctx context.Context, st *stage, cmd *instructions.WorkdirCommand) error {
	wd := st.cfg.Config.WorkingDir
	text := "WORKDIR " + wd
	if wd == "/" {
		st.history = append(st.history, v1.History{CreatedBy: text, EmptyLayer: true})
		return nil
	}
	n, resolved, err := st.fs.lookup(ctx, wd)
	if err != nil {
		return fmt.Errorf("WORKDIR %s: %w", wd, err)
	}
	if n != nil && n.isDir() {
		st.history = append(st.history, v1.History{CreatedBy: text, EmptyLayer: true})
		return nil
	}
	uid, gid := 0, 0
	if u := st.cfg.Config.User; u != "" {
		if uid, gid, err = st.fs.ids(ctx, u); err != nil {
			return fmt.Errorf("WORKDIR %s: USER %s: %w", wd, u, err)
		}
	}
	lb := newLayerBuilder(st.fs, owner{uid: uid, gid: gid, set: true})
	if err := lb.mkdirAll(ctx, resolved); err != nil {
		return fmt.Errorf("WORKDIR %s: %w", wd, err)
	}
	return nb.commit(st, lb, text)
}

// finish assembles the stage's image.
func (nb *nativeBuild) finish(st *stage, final bool) error {
	cfg := st.cfg.DeepCopy()
	if final && len(nb.opt.Labels) > 0 {
		if cfg.Config.Labels == nil {
			cfg.Config.Labels = map[string]string{}
		}
		for k, v := range nb.opt.Labels {
			cfg.Config.Labels[k] = v
		}
	}
	created := v1.Time{Time: nb.opt.Created}
	cfg.Created = created
	for _, h := range st.history {
		h.Created = created
		h.Comment = "ferry native builder"
		cfg.History = append(cfg.History, h)
	}
	for _, l := range st.layers {
		d, err := l.DiffID()
		if err != nil {
			return err
		}
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, d)
	}
	img, err := mutate.AppendLayers(st.base, st.layers...)
	if err != nil {
		return err
	}
	if st.img, err = mutate.ConfigFile(img, cfg); err != nil {
		return err
	}
	return nil
}
