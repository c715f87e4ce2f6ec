package ocistore

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/ferry-ci/ferry/pipeline"
)

// FilesMediaType is a cache entry's layer holding one output root: a gzip-compressed tar of
// its regular files, sorted by name, with permissions and nothing else (no owners, times or
// links), so that the same outputs make the same blob and are uploaded once.
const FilesMediaType types.MediaType = "application/vnd.ferry.cache.files.v1.tar+gzip"

// archive is an output root packed into a temporary file.
type archive struct {
	path   string
	digest v1.Hash
	diffID v1.Hash
	size   int64
	bytes  int64
	count  int
}

// packRoot writes the root's files as a tar+gzip into a temporary file.
func packRoot(root pipeline.OutputRoot) (_ *archive, err error) {
	f, err := os.CreateTemp("", "ferry-cache-*.tar.gz")
	if err != nil {
		return nil, err
	}
	a := &archive{path: f.Name()}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(a.path)
		}
	}()
	compressed, uncompressed := sha256.New(), sha256.New()
	counted := &countWriter{w: io.MultiWriter(f, compressed)}
	gz, err := gzip.NewWriterLevel(counted, gzip.DefaultCompression)
	if err != nil {
		return nil, err
	}
	tw := tar.NewWriter(io.MultiWriter(gz, uncompressed))
	for _, name := range slices.Sorted(slices.Values(root.Files)) {
		n, err := addFile(tw, root.Dir, name)
		if err != nil {
			return nil, fmt.Errorf("pack %s: %w", root.Name, err)
		}
		a.bytes += n
		a.count++
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := gz.Close(); err != nil {
		return nil, err
	}
	a.size = counted.n
	a.digest = v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(compressed.Sum(nil))}
	a.diffID = v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(uncompressed.Sum(nil))}
	return a, nil
}

func addFile(tw *tar.Writer, dir, name string) (int64, error) {
	if !localName(name) {
		return 0, fmt.Errorf("%q is not a path inside the output", name)
	}
	f, err := os.Open(filepath.Join(dir, filepath.FromSlash(name)))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	if !st.Mode().IsRegular() {
		return 0, fmt.Errorf("%s is not a regular file", name)
	}
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: name, Size: st.Size(), Mode: int64(st.Mode().Perm()),
		ModTime: time.Unix(0, 0), Format: tar.FormatPAX}
	if err := tw.WriteHeader(hdr); err != nil {
		return 0, err
	}
	n, err := io.Copy(tw, f)
	if err == nil && n != st.Size() {
		err = fmt.Errorf("%s changed while it was packed", name)
	}
	return n, err
}

// localName reports whether a slash path stays inside the folder it is relative to.
func localName(name string) bool {
	return name != "" && !strings.Contains(name, `\`) && filepath.IsLocal(filepath.FromSlash(name))
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// fileLayer is an archive as a v1.Layer, for the pusher's upload (which checks first whether
// the registry has the blob).
type fileLayer struct{ a *archive }

var _ v1.Layer = fileLayer{}

func (l fileLayer) Digest() (v1.Hash, error)             { return l.a.digest, nil }
func (l fileLayer) DiffID() (v1.Hash, error)             { return l.a.diffID, nil }
func (l fileLayer) Size() (int64, error)                 { return l.a.size, nil }
func (l fileLayer) MediaType() (types.MediaType, error)  { return FilesMediaType, nil }
func (l fileLayer) Compressed() (io.ReadCloser, error)   { return os.Open(l.a.path) }
func (l fileLayer) Uncompressed() (io.ReadCloser, error) { return gunzipFile(l.a.path) }

func gunzipFile(path string) (io.ReadCloser, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	gz, err := gzip.NewReader(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	return readCloser{gz, func() error { return errors.Join(gz.Close(), f.Close()) }}, nil
}

type readCloser struct {
	io.Reader
	close func() error
}

func (r readCloser) Close() error { return r.close() }

// unpack extracts a blob's tar+gzip into a new folder beside dir, checking the blob against
// want as it reads; only when it matches are the files moved into dir. It returns the bytes
// and files written.
func unpack(blob io.Reader, want v1.Hash, dir string) (int64, int, error) {
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return 0, 0, err
	}
	staging, err := os.MkdirTemp(filepath.Dir(dir), ".ferry-restore-*")
	if err != nil {
		return 0, 0, err
	}
	defer os.RemoveAll(staging)
	sum := sha256.New()
	names, n, err := extract(io.TeeReader(blob, sum), staging)
	if err != nil {
		return 0, 0, err
	}
	// The tar ends before the gzip stream and the blob do: read the rest into the digest.
	if _, err := io.Copy(sum, blob); err != nil {
		return 0, 0, err
	}
	if got := hexOf(sum); got != want.Hex {
		return 0, 0, fmt.Errorf("blob %s: content has digest sha256:%s", want, got)
	}
	for _, name := range names {
		dst := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return 0, 0, err
		}
		if err := os.Rename(filepath.Join(staging, filepath.FromSlash(name)), dst); err != nil {
			return 0, 0, err
		}
	}
	return n, len(names), nil
}

func hexOf(h hash.Hash) string { return hex.EncodeToString(h.Sum(nil)) }

// extract writes the regular files of a tar+gzip stream under dir, through an os.Root so
// that no name can reach outside it. Anything but a regular file or a folder is refused.
func extract(r io.Reader, dir string) ([]string, int64, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, 0, err
	}
	defer root.Close()
	gz, err := gzip.NewReader(r)
	if err != nil {
		return nil, 0, err
	}
	defer gz.Close()
	tr := tar.NewReader(gz)
	var names []string
	var total int64
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return names, total, nil
		}
		if err != nil {
			return nil, 0, err
		}
		if !localName(hdr.Name) {
			return nil, 0, fmt.Errorf("archive entry %q is outside the output", hdr.Name)
		}
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := root.MkdirAll(hdr.Name, 0o755); err != nil {
				return nil, 0, err
			}
			continue
		case tar.TypeReg:
		default:
			return nil, 0, fmt.Errorf("archive entry %q is not a regular file", hdr.Name)
		}
		if d := filepath.Dir(filepath.FromSlash(hdr.Name)); d != "." {
			if err := root.MkdirAll(d, 0o755); err != nil {
				return nil, 0, err
			}
		}
		f, err := root.OpenFile(hdr.Name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, os.FileMode(hdr.Mode).Perm())
		if err != nil {
			return nil, 0, err
		}
		n, err := io.Copy(f, tr)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err == nil { // the umask must not change what was saved
			err = root.Chmod(hdr.Name, os.FileMode(hdr.Mode).Perm())
		}
		if err != nil {
			return nil, 0, err
		}
		names = append(names, hdr.Name)
		total += n
	}
}
