package image

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
)

// copySpec is a COPY or an ADD of local files.
type copySpec struct {
	instr        string // COPY or ADD
	srcs         []string
	contents     []instructions.SourceContent // heredocs
	dest         string
	from         string
	chown, chmod string
	text         string
}

func copySpecOf(c *instructions.CopyCommand) copySpec {
	return copySpec{instr: "COPY", srcs: c.SourcePaths, contents: c.SourceContents, dest: c.DestPath,
		from: c.From, chown: c.Chown, chmod: c.Chmod, text: c.String()}
}

func addSpecOf(c *instructions.AddCommand) (copySpec, error) {
	const hint = "not supported by the native builder (use an external builder: buildah, docker, podman)"
	switch {
	case c.Checksum != "":
		return copySpec{}, fmt.Errorf("ADD --checksum is %s", hint)
	case c.KeepGitDir != nil, c.Unpack != nil:
		return copySpec{}, fmt.Errorf("ADD --keep-git-dir and --unpack are %s", hint)
	}
	return copySpec{instr: "ADD", srcs: c.SourcePaths, contents: c.SourceContents, dest: c.DestPath,
		chown: c.Chown, chmod: c.Chmod, text: c.String()}, nil
}

// owner is the uid and gid --chown asked for.
type owner struct {
	uid, gid int
	set      bool
}

// copy runs a COPY or ADD into a new layer.
func (nb *nativeBuild) copy(ctx context.Context, st *stage, spec copySpec) (err error) {
	var own owner
	if spec.chown != "" {
		uid, gid, err := st.fs.ids(ctx, spec.chown)
		if err != nil {
			return fmt.Errorf("%s --chown=%s: %w", spec.instr, spec.chown, err)
		}
		own = owner{uid: uid, gid: gid, set: true}
	}
	var chmod *int64
	if spec.chmod != "" {
		m, err := strconv.ParseUint(spec.chmod, 8, 32)
		if err != nil || m > 0o7777 {
			return fmt.Errorf("%s --chmod=%s: want an octal mode such as 0755", spec.instr, spec.chmod)
		}
		mode := int64(m)
		chmod = &mode
	}

	sp := &spool{dir: nb.workDir}
	defer func() {
		if cerr := sp.close(); err == nil {
			err = cerr
		}
	}()
	sources, err := nb.sources(ctx, st, spec, sp)
	if err != nil {
		return err
	}

	dest := spec.dest
	destIsDir := strings.HasSuffix(dest, "/") || dest == "." || strings.HasSuffix(dest, "/.")
	if !path.IsAbs(dest) {
		dest = path.Join("/", st.cfg.Config.WorkingDir, dest)
	}
	resolved, err := st.fs.resolve(ctx, dest, true)
	if err != nil {
		return fmt.Errorf("%s %s: %w", spec.instr, spec.dest, err)
	}
	n := st.fs.nodes[resolved]
	existingDir := n != nil && n.isDir()
	multi := len(sources) > 1
	for _, s := range spec.srcs {
		multi = multi || hasMeta(s)
	}
	if multi && !destIsDir && !existingDir {
		return fmt.Errorf("%s %s: when copying more than one source file the destination must be a directory and end with a /", spec.instr, spec.dest)
	}

	lb := newLayerBuilder(st.fs, owner{uid: own.uid, gid: own.gid, set: true})
	files := 0
	for _, s := range sources {
		root, target := resolved, resolved
		if !s.isDir && (destIsDir || existingDir) {
			target = path.Join(resolved, s.name)
		}
		if s.isDir || destIsDir || existingDir {
			if err := lb.mkdirAll(ctx, root); err != nil {
				return fmt.Errorf("%s %s: %w", spec.instr, spec.dest, err)
			}
		}
		for _, f := range s.files {
			p := target
			if s.isDir {
				p = path.Join(root, f.rel)
			}
			if err := lb.put(ctx, p, f, own, chmod); err != nil {
				return fmt.Errorf("%s %s: %w", spec.instr, spec.dest, err)
			}
			files++
		}
	}
	if err := nb.commit(st, lb, spec.text); err != nil {
		return err
	}
	fmt.Fprintf(nb.log, "[%d] %s: %d files\n", st.index, spec.text, files)
	return nil
}

// sources resolves the sources of a COPY/ADD: in the build context, in an earlier stage
// (--from=name or index) or in an image (--from=ref).
func (nb *nativeBuild) sources(ctx context.Context, st *stage, spec copySpec, sp *spool) ([]source, error) {
	var out []source
	for _, c := range spec.contents {
		data := []byte(c.Data)
		out = append(out, source{name: path.Base(c.Path), files: []srcFile{{
			hdr:     tar.Header{Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(data))},
			open:    func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil },
			context: true,
		}}})
	}
	if spec.from == "" {
		for _, src := range spec.srcs {
			found, err := nb.ctxDir.match(src)
			if err != nil {
				return nil, fmt.Errorf("%s %w", spec.instr, err)
			}
			if spec.instr == "ADD" {
				if err := rejectArchives(src, found); err != nil {
					return nil, err
				}
			}
			out = append(out, found...)
		}
		return out, nil
	}

	from, err := nb.df.copyFrom(spec.from)
	if err != nil {
		return nil, fmt.Errorf("%s --from=%s: %w", spec.instr, spec.from, err)
	}
	var srcFS *rootfs
	if j, ok := nb.df.stageIndex(from, st.index); ok {
		srcFS = nb.stages[j].fs
	} else if _, later := nb.df.stageIndex(from, len(nb.df.stages)); later {
		return nil, fmt.Errorf("%s --from=%s: stage is defined after this instruction", spec.instr, spec.from)
	} else if strings.ContainsAny(from, "/:@") {
		p, err := nb.pull(ctx, from, nb.platform)
		if err != nil {
			return nil, fmt.Errorf("%s --from=%s: %w", spec.instr, spec.from, err)
		}
		srcFS = p.fs
	} else {
		return nil, fmt.Errorf("%s --from=%s: unknown stage", spec.instr, spec.from)
	}
	for _, src := range spec.srcs {
		found, err := srcFS.match(ctx, src, sp)
		if err != nil {
			return nil, fmt.Errorf("%s --from=%s %w", spec.instr, spec.from, err)
		}
		out = append(out, found...)
	}
	return out, nil
}

// rejectArchives refuses local archives in ADD, which the native builder does not extract.
func rejectArchives(src string, found []source) error {
	for _, s := range found {
		if s.isDir {
			continue
		}
		f := s.files[0]
		if f.hdr.Typeflag != tar.TypeReg {
			continue
		}
		rc, err := f.open()
		if err != nil {
			return fmt.Errorf("ADD %s: %w", src, err)
		}
		head := make([]byte, 512)
		n, _ := io.ReadFull(rc, head)
		rc.Close()
		if isArchive(head[:n]) {
			return fmt.Errorf("ADD %s: extracting local archives is not supported by the native builder (use COPY, or an external builder: buildah, docker, podman)", src)
		}
	}
	return nil
}

func isArchive(b []byte) bool {
	for _, magic := range [][]byte{{0x1f, 0x8b}, []byte("BZh"), {0xfd, '7', 'z', 'X', 'Z', 0}, {0x28, 0xb5, 0x2f, 0xfd}} {
		if bytes.HasPrefix(b, magic) {
			return true
		}
	}
	return len(b) >= 262 && string(b[257:262]) == "ustar"
}

// match resolves a COPY --from source in an image filesystem; file contents go to the spool.
func (fs *rootfs) match(ctx context.Context, src string, sp *spool) ([]source, error) {
	if err := fs.index(ctx); err != nil {
		return nil, err
	}
	p := cleanPath(src)
	var found []string
	if hasMeta(p) {
		for n := range fs.nodes {
			if ok, err := path.Match(p, n); err != nil {
				return nil, fmt.Errorf("%s: %w", src, err)
			} else if ok && n != "" {
				found = append(found, n)
			}
		}
		slices.Sort(found)
		if len(found) == 0 {
			return nil, fmt.Errorf("%s: no file matches", src)
		}
	} else {
		found = []string{p}
	}
	type at struct{ i, j int }
	var out []source
	var reads []string
	refs := map[string][]at{} // image path → files to fill with its content
	for _, f := range found {
		r, err := fs.resolve(ctx, f, true)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", src, err)
		}
		n := fs.nodes[r]
		if n == nil {
			return nil, fmt.Errorf("%s: no such file or directory", src)
		}
		s := source{name: path.Base(f), isDir: n.isDir()}
		var paths []string
		if n.isDir() {
			prefix := r + "/"
			if r == "" {
				prefix = ""
			}
			for q := range fs.nodes {
				if q != "" && strings.HasPrefix(q, prefix) {
					paths = append(paths, q)
				}
			}
			slices.Sort(paths)
		} else {
			paths = []string{r}
		}
		for _, q := range paths {
			n := fs.nodes[q]
			sf := srcFile{rel: strings.TrimPrefix(q, r+"/"), hdr: tar.Header{
				Typeflag: n.typ, Mode: n.mode & 0o7777, Uid: n.uid, Gid: n.gid, Linkname: n.linkname, Size: n.size,
			}}
			if !n.isDir() && q == r {
				sf.rel = ""
			}
			switch n.typ {
			case tar.TypeReg, tar.TypeLink:
				sf.hdr.Typeflag = tar.TypeReg
				if refs[q] == nil {
					reads = append(reads, q)
				}
				refs[q] = append(refs[q], at{len(out), len(s.files)})
			case tar.TypeDir, tar.TypeSymlink:
			default:
				continue // devices, fifos: not copied
			}
			s.files = append(s.files, sf)
		}
		out = append(out, s)
	}
	err := fs.readFiles(ctx, reads, func(p string, r io.Reader) error {
		open, size, err := sp.add(r)
		for _, a := range refs[p] {
			f := &out[a.i].files[a.j]
			f.open, f.hdr.Size = open, size
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", src, err)
	}
	return out, nil
}

// layerBuilder collects the entries of a new layer.
type layerBuilder struct {
	fs      *rootfs
	dirs    owner // owner of the directories the instruction creates
	entries map[string]*entry
}

func newLayerBuilder(fs *rootfs, dirs owner) *layerBuilder {
	return &layerBuilder{fs: fs, dirs: dirs, entries: map[string]*entry{}}
}

// mkdirAll adds the directories of p (clean, symlinks resolved) that the image lacks.
func (lb *layerBuilder) mkdirAll(ctx context.Context, p string) error {
	if p == "" {
		return nil
	}
	if e, ok := lb.entries[p]; ok {
		if e.hdr.Typeflag != tar.TypeDir {
			return fmt.Errorf("/%s is not a directory", p)
		}
		return nil
	}
	if n := lb.fs.nodes[p]; n != nil {
		if n.isDir() {
			return nil
		}
		if n.typ == tar.TypeSymlink {
			r, err := lb.fs.resolve(ctx, p, true)
			if err != nil {
				return err
			}
			return lb.mkdirAll(ctx, r)
		}
		return fmt.Errorf("/%s exists and is not a directory", p)
	}
	if err := lb.mkdirAll(ctx, parentOf(p)); err != nil {
		return err
	}
	lb.entries[p] = &entry{hdr: tar.Header{Typeflag: tar.TypeDir, Mode: 0o755, Uid: lb.dirs.uid, Gid: lb.dirs.gid}}
	return nil
}

func parentOf(p string) string {
	if d := path.Dir(p); d != "." && d != "/" {
		return d
	}
	return ""
}

// put adds a file at p with the owner and mode rules of COPY.
func (lb *layerBuilder) put(ctx context.Context, p string, f srcFile, own owner, chmod *int64) error {
	if err := lb.mkdirAll(ctx, parentOf(p)); err != nil {
		return err
	}
	h := f.hdr
	switch {
	case own.set:
		h.Uid, h.Gid = own.uid, own.gid
	case f.context:
		h.Uid, h.Gid = 0, 0
	}
	if chmod != nil && h.Typeflag != tar.TypeSymlink {
		h.Mode = *chmod
	}
	lb.entries[p] = &entry{hdr: h, open: f.open}
	return nil
}

// commit writes the layer builder's entries as a new layer of the stage.
func (nb *nativeBuild) commit(st *stage, lb *layerBuilder, text string) error {
	l, err := writeLayer(nb.workDir, lb.entries, nb.opt.Created, st.layerType)
	if err != nil {
		return err
	}
	st.layers = append(st.layers, l)
	st.fs.addLayer(l)
	st.history = append(st.history, v1.History{CreatedBy: text})
	return nil
}

// spool keeps file contents read from image layers until the new layer is written.
type spool struct {
	dir string
	f   *os.File
	off int64
}

func (s *spool) add(r io.Reader) (func() (io.ReadCloser, error), int64, error) {
	if s.f == nil {
		f, err := os.CreateTemp(s.dir, "spool-*")
		if err != nil {
			return nil, 0, err
		}
		s.f = f
	}
	n, err := io.Copy(s.f, r)
	if err != nil {
		return nil, 0, err
	}
	f, off := s.f, s.off
	s.off += n
	return func() (io.ReadCloser, error) { return io.NopCloser(io.NewSectionReader(f, off, n)), nil }, n, nil
}

func (s *spool) close() error {
	if s.f == nil {
		return nil
	}
	return errors.Join(s.f.Close(), os.Remove(s.f.Name()))
}
