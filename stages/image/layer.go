package image

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// entry is one file of a layer being built. Name has no leading slash; directories have none
// at the end either (the tar header gets one).
type entry struct {
	hdr  tar.Header
	open func() (io.ReadCloser, error) // content of a regular file
}

// normalise makes a header reproducible: fixed mtime, no atime/ctime, no user or group names,
// no PAX records, USTAR or PAX chosen by the tar package only when a field needs it.
func normalise(h *tar.Header, mtime time.Time) {
	*h = tar.Header{
		Typeflag: h.Typeflag,
		Name:     h.Name,
		Linkname: h.Linkname,
		Size:     h.Size,
		Mode:     h.Mode,
		Uid:      h.Uid,
		Gid:      h.Gid,
		ModTime:  mtime,
	}
	if h.Typeflag != tar.TypeReg {
		h.Size = 0
	}
	if h.Typeflag == tar.TypeDir && !strings.HasSuffix(h.Name, "/") {
		h.Name += "/"
	}
}

// writeLayer writes entries, sorted by name, as a gzip-compressed tar into dir and returns it
// as a layer of the given media type.
func writeLayer(dir string, entries map[string]*entry, mtime time.Time, mt types.MediaType) (_ v1.Layer, err error) {
	f, err := os.CreateTemp(dir, "layer-*.tar.gz")
	if err != nil {
		return nil, fmt.Errorf("create layer file: %w", err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("write layer %s: %w", f.Name(), cerr)
		}
		if err != nil {
			os.Remove(f.Name())
		}
	}()

	compressed := sha256.New()
	counter := &countWriter{}
	gz, err := gzip.NewWriterLevel(io.MultiWriter(f, compressed, counter), gzip.DefaultCompression)
	if err != nil {
		return nil, err
	}
	uncompressed := sha256.New()
	tw := tar.NewWriter(io.MultiWriter(gz, uncompressed))

	names := make([]string, 0, len(entries))
	for n := range entries {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		e := entries[n]
		h := e.hdr
		h.Name = n
		normalise(&h, mtime)
		if err := tw.WriteHeader(&h); err != nil {
			return nil, fmt.Errorf("write layer entry %s: %w", n, err)
		}
		if h.Typeflag != tar.TypeReg || h.Size == 0 {
			continue
		}
		if err := copyContent(tw, e, h.Size); err != nil {
			return nil, fmt.Errorf("write layer entry %s: %w", n, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := gz.Close(); err != nil {
		return nil, err
	}
	return &fileLayer{
		path:   f.Name(),
		digest: v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(compressed.Sum(nil))},
		diffID: v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(uncompressed.Sum(nil))},
		size:   counter.n,
		mt:     mt,
	}, nil
}

func copyContent(w io.Writer, e *entry, size int64) error {
	r, err := e.open()
	if err != nil {
		return err
	}
	defer r.Close()
	n, err := io.Copy(w, io.LimitReader(r, size+1))
	if err == nil && n != size {
		err = fmt.Errorf("size changed during the build: %d bytes, was %d", n, size)
	}
	return err
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(b []byte) (int, error) {
	c.n += int64(len(b))
	return len(b), nil
}

// fileLayer is a compressed layer in a local file whose digests were computed while writing.
type fileLayer struct {
	path           string
	digest, diffID v1.Hash
	size           int64
	mt             types.MediaType
}

var _ v1.Layer = (*fileLayer)(nil)

func (l *fileLayer) Digest() (v1.Hash, error)            { return l.digest, nil }
func (l *fileLayer) DiffID() (v1.Hash, error)            { return l.diffID, nil }
func (l *fileLayer) Size() (int64, error)                { return l.size, nil }
func (l *fileLayer) MediaType() (types.MediaType, error) { return l.mt, nil }
func (l *fileLayer) Compressed() (io.ReadCloser, error)  { return os.Open(l.path) }

func (l *fileLayer) Uncompressed() (io.ReadCloser, error) {
	f, err := os.Open(l.path)
	if err != nil {
		return nil, err
	}
	zr, err := gzip.NewReader(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("layer %s: %w", l.path, err)
	}
	return &readCloser{Reader: zr, close: func() error { zr.Close(); return f.Close() }}, nil
}

type readCloser struct {
	io.Reader
	close func() error
}

func (r *readCloser) Close() error { return r.close() }

// cleanPath turns an image path into the form used in layers: absolute, clean, then without
// the leading slash; the root is "".
func cleanPath(p string) string {
	return strings.TrimPrefix(path.Clean("/"+p), "/")
}
