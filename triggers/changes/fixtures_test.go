package changes_test

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"

	"github.com/ferry-ci/ferry/internal/testenv"
	"github.com/ferry-ci/ferry/triggers/changes"
)

// The fixtures are histories described in Go (commits as full file snapshots, refs, tags) and
// built twice: with go-git's object API (loose objects) and with git fast-import (a pack).
// Both builders must produce the same commit SHAs, which checks the builders themselves.

// file is one entry of a snapshot.
type file struct {
	content string
	mode    filemode.FileMode
}

func reg(s string) file  { return file{s, filemode.Regular} }
func exe(s string) file  { return file{s, filemode.Executable} }
func link(s string) file { return file{s, filemode.Symlink} }

// gitlink is a submodule pointer; the commit need not exist, as in a real superproject.
func gitlink(sha string) file { return file{sha, filemode.Submodule} }

type commitSpec struct {
	name    string
	parents []string
	files   map[string]file
}

type tagSpec struct{ name, target string }

// history is a repository to build: commits in creation order, refs and annotated tags.
type history struct {
	commits []commitSpec
	byName  map[string]int
	refs    map[string]string // full ref name → commit name
	tags    []tagSpec         // annotated, stored as refs/tags/<name>
	head    string            // what HEAD points to; refs/heads/main by default
}

func newHistory() *history {
	return &history{byName: map[string]int{}, refs: map[string]string{}}
}

// edit changes a snapshot: put a file, or delete one (or a whole folder) with del.
type edit func(map[string]file)

func put(path string, f file) edit { return func(m map[string]file) { m[path] = f } }
func set(path, content string) edit {
	return func(m map[string]file) { m[path] = file{content, filemode.Regular} }
}

func del(path string) edit {
	return func(m map[string]file) {
		for p := range m {
			if p == path || strings.HasPrefix(p, path+"/") {
				delete(m, p)
			}
		}
	}
}

func move(from, to string) edit {
	return func(m map[string]file) { m[to] = m[from]; delete(m, from) }
}

// commit adds a commit whose snapshot is its first parent's with the edits applied.
func (h *history) commit(name string, parents []string, edits ...edit) {
	files := map[string]file{}
	if len(parents) > 0 {
		files = maps.Clone(h.commits[h.byName[parents[0]]].files)
	}
	for _, e := range edits {
		e(files)
	}
	h.byName[name] = len(h.commits)
	h.commits = append(h.commits, commitSpec{name, parents, files})
}

// branch points refs/heads/<name> at a commit.
func (h *history) branch(name, commit string) { h.refs["refs/heads/"+name] = commit }

// chain commits one after another from parent (none for a root), each applying its edit, and
// returns the last name. Names are prefix1, prefix2...; a nil edit only skips its number, so
// that chain("c", "c1", nil, e) continues an existing c1 with c2.
func (h *history) chain(prefix, parent string, edits ...edit) string {
	last := parent
	for i, e := range edits {
		if e == nil {
			continue
		}
		name := fmt.Sprintf("%s%d", prefix, i+1)
		var ps []string
		if last != "" {
			ps = []string{last}
		}
		h.commit(name, ps, e)
		last = name
	}
	return last
}

// commitTime is deterministic and increasing, so both builders write identical objects and
// date-ordered walks see a sane history.
func commitTime(i int) time.Time { return time.Unix(1700000000+int64(i)*60, 0).In(time.UTC) }

const commitMessage = "commit %s\n"

// builder writes a history into an empty directory and returns the SHA of every commit.
type builder struct {
	name  string
	build func(t *testing.T, dir string, h *history) map[string]string
}

var builders = []builder{{"go-git", buildGoGit}, {"git", buildGitCLI}}

func buildGoGit(t *testing.T, dir string, h *history) map[string]string {
	t.Helper()
	repo, err := git.PlainInit(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	st := repo.Storer
	write := func(o interface {
		Encode(plumbing.EncodedObject) error
	}) plumbing.Hash {
		t.Helper()
		obj := st.NewEncodedObject()
		if err := o.Encode(obj); err != nil {
			t.Fatal(err)
		}
		hash, err := st.SetEncodedObject(obj)
		if err != nil {
			t.Fatal(err)
		}
		return hash
	}
	blobs := map[string]plumbing.Hash{} // snapshots repeat most files: write each blob once
	blob := func(content string) plumbing.Hash {
		if h, ok := blobs[content]; ok {
			return h
		}
		obj := st.NewEncodedObject()
		obj.SetType(plumbing.BlobObject)
		w, _ := obj.Writer()
		w.Write([]byte(content))
		w.Close()
		hash, err := st.SetEncodedObject(obj)
		if err != nil {
			t.Fatal(err)
		}
		blobs[content] = hash
		return hash
	}
	// writeTree writes the tree of the files under prefix ("" or "a/b/").
	var writeTree func(files map[string]file, prefix string) plumbing.Hash
	writeTree = func(files map[string]file, prefix string) plumbing.Hash {
		children := map[string]bool{} // name → is a folder
		for p := range files {
			rest, ok := strings.CutPrefix(p, prefix)
			if !ok {
				continue
			}
			name, _, isDir := strings.Cut(rest, "/")
			children[name] = children[name] || isDir
		}
		var entries []object.TreeEntry
		for name, isDir := range children {
			if isDir {
				entries = append(entries, object.TreeEntry{Name: name, Mode: filemode.Dir, Hash: writeTree(files, prefix+name+"/")})
				continue
			}
			f := files[prefix+name]
			hash := plumbing.NewHash(f.content)
			if f.mode != filemode.Submodule {
				hash = blob(f.content)
			}
			entries = append(entries, object.TreeEntry{Name: name, Mode: f.mode, Hash: hash})
		}
		// Git's order: by name, a folder's name compared as if it ended in '/'.
		key := func(e object.TreeEntry) string {
			if e.Mode == filemode.Dir {
				return e.Name + "/"
			}
			return e.Name
		}
		slices.SortFunc(entries, func(a, b object.TreeEntry) int { return strings.Compare(key(a), key(b)) })
		return write(&object.Tree{Entries: entries})
	}
	shas := map[string]string{}
	for i, c := range h.commits {
		var parents []plumbing.Hash
		for _, p := range c.parents {
			parents = append(parents, plumbing.NewHash(shas[p]))
		}
		when := commitTime(i)
		shas[c.name] = write(&object.Commit{
			Author:       object.Signature{Name: "A U Thor", Email: "author@example.com", When: when},
			Committer:    object.Signature{Name: "C O Mitter", Email: "committer@example.com", When: when},
			Message:      fmt.Sprintf(commitMessage, c.name),
			TreeHash:     writeTree(c.files, ""),
			ParentHashes: parents,
		}).String()
	}
	for _, tg := range h.tags {
		hash := write(&object.Tag{
			Name:       tg.name,
			Tagger:     object.Signature{Name: "T Agger", Email: "tagger@example.com", When: commitTime(len(h.commits))},
			Message:    "tag " + tg.name + "\n",
			TargetType: plumbing.CommitObject,
			Target:     plumbing.NewHash(shas[tg.target]),
		})
		setRef(t, st, plumbing.NewHashReference(plumbing.NewTagReferenceName(tg.name), hash))
	}
	for ref, c := range h.refs {
		setRef(t, st, plumbing.NewHashReference(plumbing.ReferenceName(ref), plumbing.NewHash(shas[c])))
	}
	setRef(t, st, plumbing.NewSymbolicReference(plumbing.HEAD, plumbing.ReferenceName(h.headRef())))
	return shas
}

func (h *history) headRef() string {
	if h.head == "" {
		return "refs/heads/main"
	}
	return h.head
}

func setRef(t *testing.T, st storer.ReferenceStorer, ref *plumbing.Reference) {
	t.Helper()
	if err := st.SetReference(ref); err != nil {
		t.Fatal(err)
	}
}

// buildGitCLI feeds the history to git fast-import, which writes one pack.
func buildGitCLI(t *testing.T, dir string, h *history) map[string]string {
	t.Helper()
	gitRun(t, "", "init", "-q", "-b", "main", dir)
	var s bytes.Buffer
	data := func(b string) { fmt.Fprintf(&s, "data %d\n%s\n", len(b), b) }
	for i, c := range h.commits {
		// A scratch ref, reset before every commit, so that fast-import never adds the
		// previous tip as an implicit parent.
		fmt.Fprintf(&s, "reset refs/fixture/build\ncommit refs/fixture/build\nmark :%d\n", i+1)
		ts := commitTime(i).Unix()
		fmt.Fprintf(&s, "author A U Thor <author@example.com> %d +0000\n", ts)
		fmt.Fprintf(&s, "committer C O Mitter <committer@example.com> %d +0000\n", ts)
		msg := fmt.Sprintf(commitMessage, c.name)
		fmt.Fprintf(&s, "data %d\n%s", len(msg), msg)
		for j, p := range c.parents {
			verb := "from"
			if j > 0 {
				verb = "merge"
			}
			fmt.Fprintf(&s, "%s :%d\n", verb, h.byName[p]+1)
		}
		s.WriteString("deleteall\n")
		for _, p := range slices.Sorted(maps.Keys(c.files)) {
			f := c.files[p]
			if f.mode == filemode.Submodule {
				fmt.Fprintf(&s, "M 160000 %s %s\n", f.content, fastImportPath(p))
				continue
			}
			fmt.Fprintf(&s, "M %o inline %s\n", uint32(f.mode), fastImportPath(p))
			data(f.content)
		}
		s.WriteString("\n")
	}
	for _, tg := range h.tags {
		fmt.Fprintf(&s, "tag %s\nfrom :%d\n", tg.name, h.byName[tg.target]+1)
		fmt.Fprintf(&s, "tagger T Agger <tagger@example.com> %d +0000\n", commitTime(len(h.commits)).Unix())
		msg := "tag " + tg.name + "\n"
		fmt.Fprintf(&s, "data %d\n%s\n", len(msg), msg)
	}
	for _, ref := range slices.Sorted(maps.Keys(h.refs)) {
		fmt.Fprintf(&s, "reset %s\nfrom :%d\n\n", ref, h.byName[h.refs[ref]]+1)
	}
	marks := filepath.Join(t.TempDir(), "marks")
	gitStdin(t, dir, s.String(), "fast-import", "--quiet", "--export-marks="+marks)
	gitRun(t, dir, "update-ref", "-d", "refs/fixture/build")
	gitRun(t, dir, "symbolic-ref", "HEAD", h.headRef())
	raw, err := os.ReadFile(marks)
	if err != nil {
		t.Fatal(err)
	}
	shas := map[string]string{}
	for line := range strings.Lines(string(raw)) {
		var mark int
		var sha string
		if _, err := fmt.Sscanf(line, ":%d %s", &mark, &sha); err != nil {
			t.Fatalf("marks line %q: %v", line, err)
		}
		if mark >= 1 && mark <= len(h.commits) {
			shas[h.commits[mark-1].name] = sha
		}
	}
	return shas
}

// fastImportPath quotes a path the way fast-import unquotes it (C style), so that spaces,
// quotes and newlines survive.
func fastImportPath(p string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\t", `\t`)
	return `"` + r.Replace(p) + `"`
}

// gitBin returns the git CLI, which every test here needs to build fixtures and check answers.
func gitBin(t testing.TB) string {
	t.Helper()
	bin, ok := testenv.LookBinary("", "git")
	if !ok {
		testenv.Missing(t, "git not found on PATH")
	}
	return bin
}

// testGitEnv keeps the developer's git configuration out of the fixtures.
func testGitEnv(t testing.TB) []string {
	return append(os.Environ(),
		"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL="+os.DevNull, "LC_ALL=C",
		"GIT_AUTHOR_NAME=A U Thor", "GIT_AUTHOR_EMAIL=author@example.com",
		"GIT_COMMITTER_NAME=C O Mitter", "GIT_COMMITTER_EMAIL=committer@example.com",
		"GIT_AUTHOR_DATE=1700000000 +0000", "GIT_COMMITTER_DATE=1700000000 +0000")
}

func gitStdin(t testing.TB, dir, stdin string, args ...string) string {
	t.Helper()
	if dir != "" {
		args = append([]string{"-C", dir}, args...)
	}
	cmd := exec.Command(gitBin(t), args...)
	cmd.Env = testGitEnv(t)
	cmd.Stdin = strings.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

func gitRun(t testing.TB, dir string, args ...string) string {
	t.Helper()
	return strings.TrimSpace(gitStdin(t, dir, "", args...))
}

// gitDiffTree is the reference answer: git diff-tree's paths, sorted.
func gitDiffTree(t testing.TB, dir, from, to string) []string {
	t.Helper()
	out := gitStdin(t, dir, "", "diff-tree", "-r", "-z", "--name-only", "--no-renames", from, to)
	paths := []string{}
	for p := range strings.SplitSeq(out, "\x00") {
		if p != "" {
			paths = append(paths, p)
		}
	}
	slices.Sort(paths)
	return paths
}

// gitDiffTrees is gitDiffTree for many pairs, in one shell process: the reference answers of
// the larger tests would otherwise cost thousands of processes.
func gitDiffTrees(t testing.TB, dir string, pairs [][2]string) [][]string {
	t.Helper()
	out := t.TempDir()
	var script strings.Builder
	for i, p := range pairs {
		fmt.Fprintf(&script, "git diff-tree -r -z --name-only --no-renames %s %s >%s/%d || exit 1\n", p[0], p[1], out, i)
	}
	cmd := exec.Command("sh", "-c", script.String())
	cmd.Dir = dir
	cmd.Env = testGitEnv(t)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git diff-tree: %v\n%s", err, msg)
	}
	res := make([][]string, len(pairs))
	for i := range pairs {
		raw, err := os.ReadFile(filepath.Join(out, fmt.Sprint(i)))
		if err != nil {
			t.Fatal(err)
		}
		res[i] = []string{}
		for p := range strings.SplitSeq(string(raw), "\x00") {
			if p != "" {
				res[i] = append(res[i], p)
			}
		}
		slices.Sort(res[i])
	}
	return res
}

var backends = []changes.Backend{changes.GitCLI, changes.GoGit}

func open(t testing.TB, dir string, b changes.Backend) *changes.Repo {
	t.Helper()
	r, err := changes.Open(dir, b)
	if err != nil {
		t.Fatalf("Open(%s, %s): %v", dir, b, err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return r
}

// base is the history most scenarios start from: one root commit with nested folders, an
// executable, a symlink, a submodule and paths that need quoting.
func base(h *history) {
	h.commit("c1", nil,
		set("README.md", "hello\n"),
		set("src/a/main.go", "package main\n"),
		set("src/a/lib/util.go", "package lib\n"),
		set("src/b/main.go", "package main // b\n"),
		set("deep/x/y/z/file.txt", "deep\n"),
		set("deep/x/sibling.txt", "sibling\n"),
		put("tools/run.sh", exe("#!/bin/sh\n")),
		put("src/a/current", link("main.go")),
		set("docs/my file.md", "spaces\n"),
		set("src/ünï/ファイル.txt", "unicode\n"),
		set(".gitmodules", "[submodule \"vendor/mod\"]\n\tpath = vendor/mod\n\turl = ../mod\n"),
		put("vendor/mod", gitlink("1111111111111111111111111111111111111111")),
	)
	h.branch("main", "c1")
}
