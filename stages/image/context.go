package image

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// buildContext is the build context directory as COPY sees it: the files .dockerignore does not
// exclude, listed once on first use.
type buildContext struct {
	root       string
	ignoreFile string // the ignore file in use, for messages; "" when none
	ignore     *patternmatcher.PatternMatcher

	files map[string]fs.FileInfo // slash path relative to root → lstat info
	names []string               // sorted keys of files
}

// openContext reads the ignore file: <Dockerfile>.dockerignore beside the Dockerfile when it
// exists (as BuildKit does), else .dockerignore at the root of the context.
func openContext(root, dockerfile string) (*buildContext, error) {
	c := &buildContext{root: root}
	for _, p := range []string{dockerfile + ".dockerignore", filepath.Join(root, ".dockerignore")} {
		f, err := os.Open(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		patterns, err := ignorefile.ReadAll(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		if c.ignore, err = patternmatcher.New(patterns); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		c.ignoreFile = filepath.Base(p)
		break
	}
	return c, nil
}

// list walks the context once.
func (c *buildContext) list() error {
	if c.files != nil {
		return nil
	}
	c.files = map[string]fs.FileInfo{}
	parents := map[string]patternmatcher.MatchInfo{}
	err := filepath.WalkDir(c.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(c.root, p)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		if c.ignore != nil {
			excluded, info, err := c.ignore.MatchesUsingParentResults(rel, parents[path.Dir(rel)])
			if err != nil {
				return fmt.Errorf("%s: %w", c.ignoreFile, err)
			}
			if d.IsDir() {
				parents[rel] = info
			}
			if excluded {
				if d.IsDir() && !c.ignore.Exclusions() {
					return filepath.SkipDir
				}
				return nil
			}
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		c.files[rel] = fi
		return nil
	})
	if err != nil {
		return fmt.Errorf("read build context: %w", err)
	}
	for n := range c.files {
		c.names = append(c.names, n)
	}
	slices.Sort(c.names)
	return nil
}

// source is one match of a COPY source: a file, or a directory whose content is copied.
type source struct {
	name  string    // base name, used when a file is copied into a directory
	isDir bool      // copy files (relative paths) into the destination directory
	files []srcFile // one file with rel "" when !isDir
}

type srcFile struct {
	rel     string
	hdr     tar.Header // Typeflag, Mode, Uid, Gid, Linkname, Size
	open    func() (io.ReadCloser, error)
	context bool // from the build context: owner root and normalised mode unless --chown/--chmod
}

func hasMeta(p string) bool { return strings.ContainsAny(p, `*?[\`) }

// match resolves a COPY source in the context.
func (c *buildContext) match(src string) ([]source, error) {
	if err := c.list(); err != nil {
		return nil, err
	}
	p := cleanPath(filepath.ToSlash(src))
	var found []string
	if hasMeta(p) {
		for _, n := range c.names {
			if ok, err := path.Match(p, n); err != nil {
				return nil, fmt.Errorf("%s: %w", src, err)
			} else if ok {
				found = append(found, n)
			}
		}
		if len(found) == 0 {
			return nil, fmt.Errorf("%s: no file in the build context matches", src)
		}
	} else {
		found = []string{p}
	}
	var out []source
	for _, n := range found {
		s, err := c.source(src, n)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func (c *buildContext) source(src, n string) (source, error) {
	fi, listed := c.files[n]
	if n == "" || (!listed && c.hasChildren(n)) {
		return c.dir(n), nil
	}
	if !listed {
		if _, err := os.Lstat(filepath.Join(c.root, filepath.FromSlash(n))); err == nil {
			return source{}, fmt.Errorf("%s: excluded by %s", src, c.ignoreFile)
		}
		return source{}, fmt.Errorf("%s: no such file or directory in the build context", src)
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		// A source that is a symlink is followed, and must stay inside the context.
		target, err := filepath.EvalSymlinks(filepath.Join(c.root, filepath.FromSlash(n)))
		if err != nil {
			return source{}, fmt.Errorf("%s: %w", src, err)
		}
		root, err := filepath.EvalSymlinks(c.root)
		if err != nil {
			return source{}, err
		}
		rel, err := filepath.Rel(root, target)
		if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return source{}, fmt.Errorf("%s: symlink points outside the build context", src)
		}
		s, err := c.source(src, cleanPath(filepath.ToSlash(rel)))
		s.name = path.Base(n)
		return s, err
	}
	if fi.IsDir() {
		return c.dir(n), nil
	}
	f, err := c.file(n, fi)
	if err != nil {
		return source{}, fmt.Errorf("%s: %w", src, err)
	}
	f.rel = ""
	return source{name: path.Base(n), files: []srcFile{f}}, nil
}

func (c *buildContext) hasChildren(dir string) bool {
	i, _ := slices.BinarySearch(c.names, dir+"/")
	return i < len(c.names) && strings.HasPrefix(c.names[i], dir+"/")
}

// dir lists the content of a context directory ("" is the root).
func (c *buildContext) dir(n string) source {
	s := source{name: path.Base(n), isDir: true}
	prefix := n + "/"
	if n == "" {
		prefix = ""
	}
	i, _ := slices.BinarySearch(c.names, prefix)
	for ; i < len(c.names) && strings.HasPrefix(c.names[i], prefix); i++ {
		name := c.names[i]
		f, err := c.file(name, c.files[name])
		if err != nil {
			continue // sockets, devices: not copied
		}
		f.rel = strings.TrimPrefix(name, prefix)
		s.files = append(s.files, f)
	}
	return s
}

// file describes one context entry with its normalised mode.
func (c *buildContext) file(n string, fi fs.FileInfo) (srcFile, error) {
	full := filepath.Join(c.root, filepath.FromSlash(n))
	f := srcFile{context: true}
	switch m := fi.Mode(); {
	case m.IsRegular():
		f.hdr = tar.Header{Typeflag: tar.TypeReg, Mode: 0o644, Size: fi.Size()}
		if m.Perm()&0o111 != 0 {
			f.hdr.Mode = 0o755
		}
		f.open = func() (io.ReadCloser, error) { return os.Open(full) }
	case m.IsDir():
		f.hdr = tar.Header{Typeflag: tar.TypeDir, Mode: 0o755}
	case m&fs.ModeSymlink != 0:
		target, err := os.Readlink(full)
		if err != nil {
			return f, err
		}
		f.hdr = tar.Header{Typeflag: tar.TypeSymlink, Mode: 0o777, Linkname: filepath.ToSlash(target)}
	default:
		return f, fmt.Errorf("%s: unsupported file type %s", n, m.Type())
	}
	return f, nil
}
