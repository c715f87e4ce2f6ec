package image

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"path"
	"slices"
	"strconv"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// node is what the image filesystem has at a path after all layers are applied.
type node struct {
	typ      byte
	mode     int64
	uid, gid int
	linkname string
	size     int64
	layer    int // index of the layer holding the content; -1 for implied directories
}

func (n *node) isDir() bool { return n.typ == tar.TypeDir }

// rootfs is an index of an image's filesystem, built from the layer tar headers (whiteouts
// applied) only when an instruction needs it: a destination that may be an existing directory
// or symlink, a user name to resolve, files to copy from another stage.
type rootfs struct {
	layers  []v1.Layer
	indexed int
	nodes   map[string]*node // cleanPath → node; the root "" is always a directory
}

func newRootfs(layers []v1.Layer) *rootfs {
	return &rootfs{layers: layers, nodes: map[string]*node{"": {typ: tar.TypeDir, mode: 0o755, layer: -1}}}
}

// derive returns an index for an image made of this one plus more layers.
func (fs *rootfs) derive() *rootfs {
	return &rootfs{layers: slices.Clone(fs.layers), indexed: fs.indexed, nodes: maps.Clone(fs.nodes)}
}

func (fs *rootfs) addLayer(l v1.Layer) { fs.layers = append(fs.layers, l) }

const whiteoutPrefix, opaqueWhiteout = ".wh.", ".wh..wh..opq"

// index reads the headers of the layers not indexed yet.
func (fs *rootfs) index(ctx context.Context) error {
	for ; fs.indexed < len(fs.layers); fs.indexed++ {
		if err := fs.indexLayer(ctx, fs.indexed); err != nil {
			d, _ := fs.layers[fs.indexed].Digest()
			return fmt.Errorf("read layer %s: %w", d, err)
		}
	}
	return nil
}

func (fs *rootfs) indexLayer(ctx context.Context, i int) error {
	rc, err := fs.layers[i].Uncompressed()
	if err != nil {
		return err
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	var added []string
	adds := map[string]*node{}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		p := cleanPath(h.Name)
		dir, base := path.Split(p)
		dir = strings.TrimSuffix(dir, "/")
		switch {
		case base == opaqueWhiteout:
			fs.removeChildren(dir)
		case strings.HasPrefix(base, whiteoutPrefix):
			gone := path.Join(dir, strings.TrimPrefix(base, whiteoutPrefix))
			delete(fs.nodes, gone)
			fs.removeChildren(gone)
		case p != "":
			adds[p] = &node{typ: h.Typeflag, mode: h.Mode, uid: h.Uid, gid: h.Gid, linkname: h.Linkname, size: h.Size, layer: i}
			if h.Typeflag == tar.TypeRegA {
				adds[p].typ = tar.TypeReg
			}
			added = append(added, p)
		}
	}
	for _, p := range added {
		n := adds[p]
		if old, ok := fs.nodes[p]; ok && old.isDir() && !n.isDir() {
			fs.removeChildren(p)
		}
		fs.nodes[p] = n
		for d := path.Dir(p); d != "." && d != "/"; d = path.Dir(d) {
			if _, ok := fs.nodes[d]; ok {
				break
			}
			fs.nodes[d] = &node{typ: tar.TypeDir, mode: 0o755, layer: -1}
		}
	}
	return nil
}

func (fs *rootfs) removeChildren(dir string) {
	prefix := dir + "/"
	if dir == "" {
		prefix = ""
	}
	for p := range fs.nodes {
		if p != "" && strings.HasPrefix(p, prefix) {
			delete(fs.nodes, p)
		}
	}
}

// resolve follows symlinks in p (in every component, and in the last one when followLast)
// the way the kernel would inside the image's root, and returns the clean path reached.
func (fs *rootfs) resolve(ctx context.Context, p string, followLast bool) (string, error) {
	if err := fs.index(ctx); err != nil {
		return "", err
	}
	rest := strings.Split(cleanPath(p), "/")
	cur := ""
	for hops := 0; len(rest) > 0; {
		comp := rest[0]
		rest = rest[1:]
		if comp == "" {
			continue
		}
		next := path.Join(cur, comp)
		n, ok := fs.nodes[next]
		if !ok || n.typ != tar.TypeSymlink || (len(rest) == 0 && !followLast) {
			cur = next
			continue
		}
		if hops++; hops > 40 {
			return "", fmt.Errorf("/%s: too many levels of symbolic links", cleanPath(p))
		}
		target := n.linkname
		if !strings.HasPrefix(target, "/") {
			target = path.Join("/", cur, target)
		}
		rest = append(strings.Split(cleanPath(target), "/"), rest...)
		cur = ""
	}
	return cur, nil
}

// lookup returns the node at p after resolving symlinks (the last one too).
func (fs *rootfs) lookup(ctx context.Context, p string) (*node, string, error) {
	r, err := fs.resolve(ctx, p, true)
	if err != nil {
		return nil, "", err
	}
	return fs.nodes[r], r, nil
}

// readFiles calls fn with the content of each regular file in paths (indexed, clean, no
// symlinks), reading each layer that holds one of them once, in layer order.
func (fs *rootfs) readFiles(ctx context.Context, paths []string, fn func(p string, r io.Reader) error) error {
	if err := fs.index(ctx); err != nil {
		return err
	}
	byLayer := map[int]map[string][]string{} // layer → path in the layer → paths asked for
	for _, p := range paths {
		src := p
		n := fs.nodes[p]
		if n != nil && n.typ == tar.TypeLink {
			src = cleanPath(n.linkname)
			n = fs.nodes[src]
		}
		if n == nil || (n.typ != tar.TypeReg && n.typ != tar.TypeLink) {
			return fmt.Errorf("/%s: not a regular file", p)
		}
		if byLayer[n.layer] == nil {
			byLayer[n.layer] = map[string][]string{}
		}
		byLayer[n.layer][src] = append(byLayer[n.layer][src], p)
	}
	for i := range fs.layers {
		want := byLayer[i]
		if len(want) == 0 {
			continue
		}
		if err := readLayerFiles(ctx, fs.layers[i], want, fn); err != nil {
			d, _ := fs.layers[i].Digest()
			return fmt.Errorf("read layer %s: %w", d, err)
		}
	}
	return nil
}

func readLayerFiles(ctx context.Context, l v1.Layer, want map[string][]string, fn func(string, io.Reader) error) error {
	rc, err := l.Uncompressed()
	if err != nil {
		return err
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	for len(want) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		p := cleanPath(h.Name)
		asked, ok := want[p]
		if !ok {
			continue
		}
		delete(want, p)
		if h.Typeflag != tar.TypeReg && h.Typeflag != tar.TypeRegA {
			return fmt.Errorf("/%s: not a regular file in its layer", p)
		}
		content, err := io.ReadAll(tr)
		if err != nil {
			return err
		}
		for _, a := range asked {
			if err := fn(a, bytes.NewReader(content)); err != nil {
				return err
			}
		}
	}
	for p := range want {
		return fmt.Errorf("/%s: not found in its layer", p)
	}
	return nil
}

// readFile returns the content of the file at p, or nil and no error when there is none.
func (fs *rootfs) readFile(ctx context.Context, p string) ([]byte, error) {
	n, r, err := fs.lookup(ctx, p)
	if err != nil || n == nil || (n.typ != tar.TypeReg && n.typ != tar.TypeLink) {
		return nil, err
	}
	var out []byte
	err = fs.readFiles(ctx, []string{r}, func(_ string, rd io.Reader) error {
		out, err = io.ReadAll(rd)
		return err
	})
	return out, err
}

// ids resolves a user spec (user, uid, user:group, uid:gid) the way BuildKit does for
// --chown: a name through the image's /etc/passwd (uid and primary gid) and /etc/group, a
// number as it is, and a uid without a group gives the same gid. Unlike BuildKit, a name that
// cannot be resolved is an error, not root.
func (fs *rootfs) ids(ctx context.Context, spec string) (uid, gid int, err error) {
	user, group, hasGroup := strings.Cut(spec, ":")
	if user == "" || (hasGroup && group == "") {
		return 0, 0, fmt.Errorf("invalid user %q", spec)
	}
	if n, err := strconv.Atoi(user); err == nil {
		uid, gid = n, n
	} else {
		fields, err := fs.lookupDB(ctx, "/etc/passwd", "user", user)
		if err != nil {
			return 0, 0, err
		}
		if uid, err = strconv.Atoi(fields[2]); err != nil {
			return 0, 0, fmt.Errorf("/etc/passwd: user %s: bad uid %q", user, fields[2])
		}
		if gid, err = strconv.Atoi(fields[3]); err != nil {
			return 0, 0, fmt.Errorf("/etc/passwd: user %s: bad gid %q", user, fields[3])
		}
	}
	if !hasGroup {
		return uid, gid, nil
	}
	if n, err := strconv.Atoi(group); err == nil {
		return uid, n, nil
	}
	fields, err := fs.lookupDB(ctx, "/etc/group", "group", group)
	if err != nil {
		return 0, 0, err
	}
	if gid, err = strconv.Atoi(fields[2]); err != nil {
		return 0, 0, fmt.Errorf("/etc/group: group %s: bad gid %q", group, fields[2])
	}
	return uid, gid, nil
}

// lookupDB finds the line for name in a passwd-style file of the image.
func (fs *rootfs) lookupDB(ctx context.Context, file, what, name string) ([]string, error) {
	data, err := fs.readFile(ctx, file)
	if err != nil {
		return nil, err
	}
	if data == nil {
		return nil, fmt.Errorf("unknown %s %q: the image has no %s", what, name, file)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		fields := strings.Split(sc.Text(), ":")
		if len(fields) >= 4 && fields[0] == name {
			return fields, nil
		}
	}
	return nil, fmt.Errorf("unknown %s %q: not in the image's %s", what, name, file)
}
