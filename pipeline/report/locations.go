package report

import (
	"bytes"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// Location is a place in a source file that a tool's output points at, for annotations.
type Location struct {
	// File is relative to the repository root, with forward slashes.
	File    string
	Line    int
	Col     int // 0 when the tool gave none
	Message string
	// Severity is "error", "warning" or "notice", from the message ("warning: ...", gcc's
	// "note: ...", eslint's "[Warning/rule]"); "error" when it says nothing.
	Severity string
}

// locationLine matches "file:line:col: message" and "file:line: message" as Go (build, vet,
// test), gcc/clang, eslint's unix format and most linters print them. The file must have an
// extension that starts with a letter, which rules out times (12:00:01), addresses
// (127.0.0.1:80:) and URLs (http://x:80/, where no digits follow the first colon), and it must
// start a line or follow a space, so "x.go" is not found inside another word.
var locationLine = regexp.MustCompile(`(?:^|\s)((?:[\w.@+-]+/|\.{1,2}/|/)*[\w.@+-]*\.[A-Za-z][\w+-]*):(\d+)(?::(\d+))?:(?:\s+(.*))?$`)

// maxLocations bounds the annotations made from one log: CI systems show only the first few,
// and a broken build can print thousands.
const maxLocations = 50

// FindLocations returns the source locations a stage log points at, in order and without
// duplicates. Paths in the log are relative to the service folder (serviceDir, relative to
// repoRoot) where the stage ran its commands, or absolute. Go test prints only the base name
// of the file (handler_test.go:42), so a name that is not found beside serviceDir is looked up
// in the service's tree, and kept when exactly one file has it. Only files that exist under
// repoRoot are returned; with an empty repoRoot, nothing is.
func FindLocations(log []byte, serviceDir, repoRoot string) []Location {
	if repoRoot == "" {
		return nil
	}
	r := resolver{root: repoRoot, serviceDir: filepath.ToSlash(filepath.Clean(serviceDir))}
	var out []Location
	seen := map[Location]bool{}
	lines := bytes.Split(log, []byte("\n"))
	for i, raw := range lines {
		line := strings.TrimRight(string(raw), "\r")
		m := locationLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		file, ok := r.resolve(m[1])
		if !ok {
			continue
		}
		loc := Location{File: file, Message: strings.TrimSpace(m[4])}
		loc.Line, _ = strconv.Atoi(m[2])
		loc.Col, _ = strconv.Atoi(m[3])
		if loc.Line == 0 {
			continue
		}
		if loc.Message == "" && i+1 < len(lines) {
			// Go test puts a long message on the following, indented lines.
			loc.Message = strings.TrimSpace(string(lines[i+1]))
		}
		loc.Severity = severity(loc.Message)
		if seen[loc] {
			continue
		}
		seen[loc] = true
		out = append(out, loc)
		if len(out) == maxLocations {
			break
		}
	}
	return out
}

func severity(msg string) string {
	lower := strings.ToLower(msg)
	switch {
	case strings.HasPrefix(lower, "warning:"), strings.HasSuffix(msg, "]") && strings.Contains(msg, "[Warning/"):
		return "warning"
	case strings.HasPrefix(lower, "note:"), strings.HasPrefix(lower, "info:"):
		return "notice"
	}
	return "error"
}

// resolver turns file names from a log into repository-relative paths of existing files.
type resolver struct {
	root       string
	serviceDir string
	// byBase indexes the service's files by base name, built on first need.
	byBase map[string][]string
}

func (r *resolver) resolve(name string) (string, bool) {
	var rel string
	if path.IsAbs(name) || filepath.IsAbs(name) {
		p, err := filepath.Rel(r.root, filepath.FromSlash(name))
		if err != nil {
			return "", false
		}
		rel = filepath.ToSlash(p)
	} else {
		rel = path.Join(r.serviceDir, filepath.ToSlash(name))
	}
	if rel == ".." || strings.HasPrefix(rel, "../") || path.IsAbs(rel) {
		return "", false
	}
	if r.isFile(rel) {
		return rel, true
	}
	if strings.Contains(name, "/") {
		return "", false
	}
	matches := r.base(name)
	if len(matches) != 1 {
		return "", false
	}
	return matches[0], true
}

func (r *resolver) isFile(rel string) bool {
	fi, err := os.Stat(filepath.Join(r.root, filepath.FromSlash(rel)))
	return err == nil && fi.Mode().IsRegular()
}

// base lists the files of the service named name. Folders that hold no sources of the
// service (dependencies, VCS data) are not searched.
func (r *resolver) base(name string) []string {
	if r.byBase == nil {
		r.byBase = map[string][]string{}
		dir := filepath.Join(r.root, filepath.FromSlash(r.serviceDir))
		_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil // an unreadable folder only hides its files
			}
			if d.IsDir() {
				switch d.Name() {
				case ".git", "node_modules", "vendor", "testdata", ".venv", "target":
					if p != dir {
						return filepath.SkipDir
					}
				}
				return nil
			}
			if rel, err := filepath.Rel(r.root, p); err == nil && d.Type().IsRegular() {
				r.byBase[d.Name()] = append(r.byBase[d.Name()], filepath.ToSlash(rel))
			}
			return nil
		})
	}
	return r.byBase[name]
}
