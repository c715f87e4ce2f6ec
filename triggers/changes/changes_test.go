package changes_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ferry-ci/ferry/triggers/changes"
)

// forEachRepo builds h with both builders and opens the result with both backends.
func forEachRepo(t *testing.T, h *history, f func(t *testing.T, r *changes.Repo, dir string, shas map[string]string)) {
	t.Helper()
	for _, bl := range builders {
		dir := filepath.Join(t.TempDir(), "repo")
		shas := bl.build(t, dir, h)
		for _, b := range backends {
			t.Run("built with "+bl.name+"/"+string(b), func(t *testing.T) { f(t, open(t, dir, b), dir, shas) })
		}
	}
}

func resolveHistory() *history {
	h := newHistory()
	base(h)
	h.chain("c", "c1", nil, set("README.md", "two\n"))
	h.chain("f", "c1", set("src/b/main.go", "package main // f\n"))
	h.branch("main", "c2")
	h.branch("feature", "f1")
	h.refs["refs/remotes/origin/feature"] = "c1" // the local branch wins
	h.refs["refs/remotes/origin/only-remote"] = "c1"
	h.refs["refs/tags/v1"] = "c1"
	h.tags = []tagSpec{{"v2", "c2"}}
	h.branch("both", "c2")
	h.refs["refs/tags/both"] = "c1" // branches come before tags
	h.commit("m", []string{"c2", "f1"}, set("src/b/main.go", "package main // f\n"))
	h.branch("merged", "m")
	return h
}

func TestResolve(t *testing.T) {
	forEachRepo(t, resolveHistory(), func(t *testing.T, r *changes.Repo, dir string, shas map[string]string) {
		tree := gitRun(t, dir, "rev-parse", shas["c1"]+"^{tree}")
		blob := gitRun(t, dir, "rev-parse", shas["c1"]+":README.md")
		tests := []struct {
			rev  string
			want string // commit name; "" for ErrNotFound
		}{
			{shas["c1"], "c1"},
			{strings.ToUpper(shas["c1"]), "c1"},
			{shas["c1"][:7], "c1"},
			{shas["f1"][:12], "f1"},
			{"HEAD", "c2"},
			{"main", "c2"},
			{"refs/heads/feature", "f1"},
			{"feature", "f1"},
			{"only-remote", "c1"},
			{"refs/remotes/origin/only-remote", "c1"},
			{"v1", "c1"},
			{"refs/tags/v1", "c1"},
			{"v2", "c2"}, // annotated: peeled to the commit
			{"both", "c2"},
			{tree, ""},
			{blob, ""},
			{missing, ""},
			{"nope", ""},
			{"", ""},
			{"main~1", "c1"},
			{"main^", "c1"},
			{"HEAD~", "c1"},
			{"main^0", "c2"},
			{"main~0", "c2"},
			{"main^^", ""}, // c1 is a root
			{"main~2", ""},
			{shas["c1"] + "^", ""},
			{shas["c2"][:7] + "~1", "c1"},
			{"v2^", "c1"}, // the annotated tag is peeled first
			{"merged^2", "f1"},
			{"merged^1~1", "c1"},
			{"merged^2^", "c1"},
			{"merged^3", ""},
			{"nope~1", ""},
			{"main~1^{tree}", ""},
			{"main~x", ""},
			{"main^-1", ""},
			{"HEAD:README.md", ""},
			{"main@{1}", ""},
			{"refs/heads/../main", ""},
			{"-n", ""},
			{"a b", ""},
			{"abc", ""}, // too short for a SHA
		}
		for _, tt := range tests {
			t.Run(tt.rev, func(t *testing.T) {
				got, err := r.Resolve(t.Context(), tt.rev)
				if tt.want == "" {
					if !errors.Is(err, changes.ErrNotFound) {
						t.Fatalf("Resolve(%q) = %q, %v; want ErrNotFound", tt.rev, got, err)
					}
					if !strings.Contains(err.Error(), fmt.Sprintf("%q", tt.rev)) {
						t.Errorf("error %q does not name the revision", err)
					}
					return
				}
				if err != nil || got != shas[tt.want] {
					t.Fatalf("Resolve(%q) = %q, %v; want %s (%s)", tt.rev, got, err, tt.want, shas[tt.want])
				}
			})
		}
	})
}

// TestResolveShallow checks that a commit on a shallow boundary has no parents for both
// backends, also when a later fetch brought the parent objects in.
func TestResolveShallow(t *testing.T) {
	h := newHistory()
	shallowHistory(h)
	src := filepath.Join(t.TempDir(), "repo")
	shas := buildGitCLI(t, src, h)
	dst := clone(t, src, "--depth", "1", "--branch", "main")
	gitRun(t, dst, "fetch", "-q", "origin", "feature:refs/remotes/origin/feature")
	tests := []struct{ rev, want string }{
		{"main", "c3"},
		{"main~1", ""}, // c2 is in the repository now, but c3 is still a shallow boundary
		{"feature~3", "c2"},
		{"feature~4", "c1"},
	}
	for _, b := range backends {
		r := open(t, dst, b)
		for _, tt := range tests {
			got, err := r.Resolve(t.Context(), tt.rev)
			switch {
			case tt.want == "" && !errors.Is(err, changes.ErrNotFound):
				t.Errorf("%s: Resolve(%s) = %q, %v; want ErrNotFound", b, tt.rev, got, err)
			case tt.want != "" && (err != nil || got != shas[tt.want]):
				t.Errorf("%s: Resolve(%s) = %q, %v; want %s", b, tt.rev, got, err, tt.want)
			}
		}
	}
}

func TestResolveAmbiguousShortSHA(t *testing.T) {
	// Enough commits that two of them share their first four hex digits.
	h := newHistory()
	h.commit("r0", nil, set("f", "0\n"))
	for i := 1; i < 600; i++ {
		h.commit(fmt.Sprintf("r%d", i), []string{fmt.Sprintf("r%d", i-1)}, set("f", fmt.Sprintf("%d\n", i)))
	}
	h.branch("main", "r599")
	forEachRepo(t, h, func(t *testing.T, r *changes.Repo, dir string, shas map[string]string) {
		byPrefix := map[string][]string{}
		for name, sha := range shas {
			byPrefix[sha[:4]] = append(byPrefix[sha[:4]], name)
		}
		var prefix string
		for p, names := range byPrefix {
			if len(names) > 1 && (prefix == "" || p < prefix) {
				prefix = p
			}
		}
		if prefix == "" {
			t.Fatal("no two commits share a 4-digit prefix; add commits to the fixture")
		}
		_, err := r.Resolve(t.Context(), prefix)
		if !errors.Is(err, changes.ErrNotFound) || !strings.Contains(err.Error(), "ambiguous") {
			t.Errorf("Resolve(%q) error = %v, want an ambiguous ErrNotFound", prefix, err)
		}
		name := byPrefix[prefix][0]
		if got, err := r.Resolve(t.Context(), shas[name][:12]); err != nil || got != shas[name] {
			t.Errorf("Resolve(%s) = %q, %v; want %s", shas[name][:12], got, err, shas[name])
		}
	})
}

func TestTreeHash(t *testing.T) {
	forEachRepo(t, resolveHistory(), func(t *testing.T, r *changes.Repo, dir string, shas map[string]string) {
		tests := []struct {
			dir   string
			gitAs string // what git rev-parse main:<gitAs> answers; "" for ErrNotFound
		}{
			{"", ""},
			{".", ""},
			{"src", "src"},
			{"src/a", "src/a"},
			{"/src/a/", "src/a"},
			{"deep/x/y/z", "deep/x/y/z"},
			{"src/ünï", "src/ünï"},
		}
		for _, tt := range tests {
			t.Run("found "+tt.dir, func(t *testing.T) {
				got, err := r.TreeHash(t.Context(), "main", tt.dir)
				if err != nil {
					t.Fatal(err)
				}
				if want := gitRun(t, dir, "rev-parse", "main:"+tt.gitAs); got != want {
					t.Errorf("TreeHash(main, %q) = %s, want %s", tt.dir, got, want)
				}
			})
		}
		for _, d := range []string{"src/a/main.go", "vendor/mod", "nope", "src/nope/deeper", "src/a/current"} {
			t.Run("absent "+d, func(t *testing.T) {
				if got, err := r.TreeHash(t.Context(), "main", d); !errors.Is(err, changes.ErrNotFound) {
					t.Errorf("TreeHash(main, %q) = %q, %v; want ErrNotFound", d, got, err)
				}
			})
		}
		for _, d := range []string{"../x", "src/../x", "src/./a", "a\nb"} {
			t.Run("invalid "+d, func(t *testing.T) {
				if got, err := r.TreeHash(t.Context(), "main", d); err == nil || errors.Is(err, changes.ErrNotFound) {
					t.Errorf("TreeHash(main, %q) = %q, %v; want an invalid folder error", d, got, err)
				}
			})
		}
		t.Run("many", func(t *testing.T) {
			got, err := r.TreeHashes(t.Context(), shas["c1"], []string{"src/a", "nope", ""})
			if err != nil {
				t.Fatal(err)
			}
			want := []string{gitRun(t, dir, "rev-parse", shas["c1"]+":src/a"), "", gitRun(t, dir, "rev-parse", shas["c1"]+"^{tree}")}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("TreeHashes (-want +got):\n%s", diff)
			}
		})
		t.Run("unknown revision", func(t *testing.T) {
			if _, err := r.TreeHash(t.Context(), "nope", ""); !errors.Is(err, changes.ErrNotFound) {
				t.Errorf("err = %v, want ErrNotFound", err)
			}
		})
	})
}

// TestFiles compares Files with git ls-tree -r on both builders and backends: files,
// folders (recursively), the root, executables, symbolic links, submodules, unusual names.
func TestFiles(t *testing.T) {
	forEachRepo(t, resolveHistory(), func(t *testing.T, r *changes.Repo, dir string, shas map[string]string) {
		for _, path := range []string{"", "src", "src/a", "src/a/main.go", "/src/a/", "tools/run.sh", "src/a/current",
			"vendor/mod", "docs/my file.md", "src/ünï", "nope", "src/a/main.go/x", "src/a/mai"} {
			t.Run(path, func(t *testing.T) {
				got, err := r.Files(t.Context(), "main", path)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(lsTree(t, dir, "main", strings.Trim(path, "/")), got); diff != "" {
					t.Errorf("Files(main, %q) (-git ls-tree +got):\n%s", path, diff)
				}
			})
		}
		t.Run("invalid", func(t *testing.T) {
			if _, err := r.Files(t.Context(), "main", "src/../x"); err == nil {
				t.Error("Files accepted a path with ..")
			}
		})
	})
}

// lsTree is the reference answer for Files: git ls-tree -r, sorted by path.
func lsTree(t *testing.T, dir, rev, path string) []changes.File {
	args := []string{"ls-tree", "-r", "-z", "--full-tree", rev}
	if path != "" {
		args = append(args, "--", path)
	}
	var files []changes.File
	for rec := range strings.SplitSeq(gitStdin(t, dir, "", args...), "\x00") {
		if rec == "" {
			continue
		}
		meta, name, _ := strings.Cut(rec, "\t")
		f := strings.Fields(meta)
		files = append(files, changes.File{Path: name, Hash: f[2], Mode: f[0]})
	}
	slices.SortFunc(files, func(a, b changes.File) int { return strings.Compare(a.Path, b.Path) })
	return files
}

// dagHistory is a deterministic random history with merges, octopus merges and criss-crosses.
func dagHistory(n int) *history {
	rng := rand.New(rand.NewSource(7))
	h := newHistory()
	var tips []string
	for i := range n {
		name := fmt.Sprintf("d%02d", i)
		var parents []string
		switch {
		case i == 0:
		case i == n/2: // a second root: part of the history is unrelated to the rest
		case len(tips) > 1 && rng.Intn(3) == 0:
			a, b := rng.Intn(len(tips)), rng.Intn(len(tips))
			parents = slices.Compact([]string{tips[a], tips[b]})
			if rng.Intn(4) == 0 && len(tips) > 2 {
				parents = append(parents, tips[(a+1)%len(tips)])
				slices.Sort(parents[1:])
				parents = slices.Compact(parents)
			}
		default:
			parents = []string{tips[rng.Intn(len(tips))]}
		}
		var e []edit
		if len(parents) > 0 {
			e = append(e, set(fmt.Sprintf("dir%d/file", rng.Intn(4)), name+"\n"))
		} else {
			e = append(e, set("root", name+"\n"))
		}
		h.commit(name, parents, e...)
		tips = append(tips, name)
		if len(tips) > 4 {
			tips = tips[1:]
		}
	}
	h.branch("main", fmt.Sprintf("d%02d", n-1))
	return h
}

func TestMergeBase(t *testing.T) {
	h := dagHistory(16)
	// A classic criss-cross: two best common ancestors.
	h.commit("x", nil, set("x", "x\n"))
	h.commit("a1", []string{"x"}, set("a", "1\n"))
	h.commit("b1", []string{"x"}, set("b", "1\n"))
	h.commit("a2", []string{"a1", "b1"}, set("a", "2\n"))
	h.commit("b2", []string{"b1", "a1"}, set("b", "2\n"))
	h.branch("a", "a2")
	h.branch("b", "b2")
	// One builder is enough here: the walk reads commits only, and TestChanged covers both
	// object layouts with merges in them.
	dir := filepath.Join(t.TempDir(), "repo")
	shas := buildGitCLI(t, dir, h)
	names := slices.Sorted(maps.Keys(shas))
	var pairs [][2]string
	for i, a := range names {
		for _, b := range names[i:] {
			pairs = append(pairs, [2]string{a, b})
		}
	}
	want := gitMergeBases(t, dir, shas, pairs)
	for _, b := range backends {
		t.Run(string(b), func(t *testing.T) {
			r := open(t, dir, b)
			for i, p := range pairs {
				got, err := r.MergeBase(t.Context(), shas[p[0]], shas[p[1]])
				switch {
				case want[i] == "" && !errors.Is(err, changes.ErrNoMergeBase):
					t.Errorf("MergeBase(%s, %s) = %q, %v; want ErrNoMergeBase", p[0], p[1], got, err)
				case want[i] != "" && (err != nil || got != want[i]):
					t.Errorf("MergeBase(%s, %s) = %q, %v; want %s", p[0], p[1], got, err, want[i])
				}
			}
			if got, _ := r.MergeBase(t.Context(), "a", "b"); got != min(shas["a1"], shas["b1"]) {
				t.Errorf("criss-cross MergeBase(a, b) = %s, want the smaller of a1 and b1", got)
			}
		})
	}
}

// gitMergeBases asks git merge-base --all for each pair in one shell process and returns the
// smallest answer of each, "" for none.
func gitMergeBases(t *testing.T, dir string, shas map[string]string, pairs [][2]string) []string {
	t.Helper()
	var script strings.Builder
	for _, p := range pairs {
		fmt.Fprintf(&script, "echo \"$(git merge-base --all %s %s | tr '\\n' ' ')\"\n", shas[p[0]], shas[p[1]])
	}
	cmd := exec.Command("sh", "-c", script.String())
	cmd.Dir = dir
	cmd.Env = testGitEnv(t)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git merge-base: %v", err)
	}
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(lines) != len(pairs) {
		t.Fatalf("%d answers for %d pairs", len(lines), len(pairs))
	}
	res := make([]string, len(lines))
	for i, l := range lines {
		if f := strings.Fields(l); len(f) > 0 {
			res[i] = slices.Min(f)
		}
	}
	return res
}

// packHistory rewrites the same large folders many times, so that packs hold long delta chains
// of trees.
func packHistory() *history {
	h := newHistory()
	var e []edit
	for d := range 8 {
		for f := range 40 {
			e = append(e, set(fmt.Sprintf("svc-%d/pkg/file-%02d.go", d, f), fmt.Sprintf("package pkg // %d %d\n", d, f)))
		}
	}
	h.commit("p00", nil, e...)
	for i := 1; i < 60; i++ {
		h.commit(fmt.Sprintf("p%02d", i), []string{fmt.Sprintf("p%02d", i-1)},
			set(fmt.Sprintf("svc-%d/pkg/file-%02d.go", i%8, (i*7)%40), fmt.Sprintf("package pkg // v%d\n", i)),
			set(fmt.Sprintf("svc-%d/new-%d.go", (i*3)%8, i), "new\n"))
	}
	h.branch("main", "p59")
	return h
}

// TestPackLayouts reads the same history from every layout the object reader must handle: loose
// objects (go-git builder), a fast-import pack, a repacked pack with offset deltas, one with
// ref deltas, and a pack plus loose objects written after it.
func TestPackLayouts(t *testing.T) {
	layouts := []struct {
		name    string
		builder builder
		after   [][]string // git commands run on the built repository
	}{
		{"loose", builders[0], nil},
		{"fast-import", builders[1], nil},
		{"ofs deltas", builders[1], [][]string{{"repack", "-a", "-d", "-f", "-q", "--depth=50", "--window=50"}}},
		{"ref deltas", builders[1], [][]string{{"-c", "repack.useDeltaBaseOffset=false", "repack", "-a", "-d", "-f", "-q", "--depth=50", "--window=50"}}},
		{"pack and loose", builders[0], [][]string{{"repack", "-a", "-d", "-q"}}},
	}
	h := packHistory()
	for _, l := range layouts {
		t.Run(l.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "repo")
			shas := l.builder.build(t, dir, h)
			for _, args := range l.after {
				gitRun(t, dir, args...)
			}
			if l.name == "pack and loose" {
				// New loose objects on top of the pack, as after a fetch and a commit.
				h2 := packHistory()
				h2.commit("late", []string{"p59"}, set("svc-1/pkg/file-01.go", "late\n"))
				shas = writeLoose(t, dir, h2)
			}
			names := slices.Sorted(maps.Keys(shas))
			// Every step, and every tenth commit against the first: long delta chains.
			var pairs [][2]string
			for i := 1; i < len(names); i++ {
				pairs = append(pairs, [2]string{shas[names[i-1]], shas[names[i]]})
				if i%10 == 0 || i == len(names)-1 {
					pairs = append(pairs, [2]string{shas[names[0]], shas[names[i]]})
				}
			}
			want := gitDiffTrees(t, dir, pairs)
			for _, b := range backends {
				t.Run(string(b), func(t *testing.T) {
					r := open(t, dir, b)
					for i, p := range pairs {
						got, err := r.Diff(t.Context(), p[0], p[1])
						if err != nil {
							t.Fatalf("Diff(%s, %s): %v", p[0], p[1], err)
						}
						if diff := cmp.Diff(want[i], got); diff != "" {
							t.Fatalf("Diff(%s, %s) differs from git diff-tree (-diff-tree +got):\n%s", p[0], p[1], diff)
						}
					}
				})
			}
		})
	}
}

// writeLoose writes h's objects into dir's repository as loose objects with go-git; the ones
// already packed there are written again, loose, which git allows.
func writeLoose(t *testing.T, dir string, h *history) map[string]string {
	t.Helper()
	tmp := filepath.Join(t.TempDir(), "loose")
	shas := buildGoGit(t, tmp, h)
	src := filepath.Join(tmp, ".git", "objects")
	dst := filepath.Join(dir, ".git", "objects")
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if _, err := os.Stat(target); err == nil {
			return nil
		}
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o444)
	})
	if err != nil {
		t.Fatal(err)
	}
	gitRun(t, dir, "update-ref", "refs/heads/main", shas["late"])
	return shas
}

func TestCancelled(t *testing.T) {
	h := resolveHistory()
	forEachRepo(t, h, func(t *testing.T, r *changes.Repo, dir string, shas map[string]string) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		calls := map[string]func() error{
			"Resolve":    func() error { _, err := r.Resolve(ctx, "main"); return err },
			"MergeBase":  func() error { _, err := r.MergeBase(ctx, shas["c2"], shas["f1"]); return err },
			"Diff":       func() error { _, err := r.Diff(ctx, shas["c1"], shas["c2"]); return err },
			"TreeHashes": func() error { _, err := r.TreeHashes(ctx, shas["c1"], []string{"src"}); return err },
			"Changed": func() error {
				_, err := changes.Changed(ctx, r, changes.Request{Before: shas["c1"], After: shas["c2"], Trunk: "main"})
				return err
			},
		}
		for name, call := range calls {
			if err := call(); !errors.Is(err, context.Canceled) {
				t.Errorf("%s with a cancelled context: %v, want context.Canceled", name, err)
			}
		}
	})
}

func TestOpen(t *testing.T) {
	h := resolveHistory()
	dir := filepath.Join(t.TempDir(), "repo")
	buildGitCLI(t, dir, h)
	sub := filepath.Join(dir, "src", "a")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sub, "f.txt"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, b := range append(backends, changes.Auto, "", "GoGit") {
		for _, from := range []string{dir, sub, filepath.Join(sub, "f.txt")} {
			t.Run(fmt.Sprintf("%s from %s", b, from), func(t *testing.T) {
				r := open(t, from, b)
				if r.Root() != dir {
					t.Errorf("Root() = %s, want %s", r.Root(), dir)
				}
				if r.Backend() == changes.Auto || r.Backend() == "" {
					t.Errorf("Backend() = %q, want the chosen backend", r.Backend())
				}
			})
		}
	}
	t.Run("auto picks git when on PATH", func(t *testing.T) {
		if got := open(t, dir, changes.Auto).Backend(); got != changes.GitCLI {
			t.Errorf("Backend() = %s, want git", got)
		}
	})
	t.Run("auto falls back to go-git", func(t *testing.T) {
		t.Setenv("PATH", t.TempDir())
		if got := open(t, dir, changes.Auto).Backend(); got != changes.GoGit {
			t.Errorf("Backend() = %s, want go-git", got)
		}
	})
	t.Run("not a repository", func(t *testing.T) {
		for _, b := range backends {
			if _, err := changes.Open(t.TempDir(), b); !errors.Is(err, changes.ErrNotRepository) {
				t.Errorf("Open(empty dir, %s) = %v, want ErrNotRepository", b, err)
			}
		}
	})
	t.Run("sha256 repository", func(t *testing.T) {
		sha256 := t.TempDir()
		gitRun(t, sha256, "init", "-q", "--object-format=sha256")
		for _, b := range backends {
			if _, err := changes.Open(sha256, b); err == nil || !strings.Contains(err.Error(), "sha256") {
				t.Errorf("Open(sha256 repository, %s) = %v, want an error naming the format", b, err)
			}
		}
	})
	t.Run("unknown backend", func(t *testing.T) {
		if _, err := changes.Open(dir, "svn"); err == nil || !strings.Contains(err.Error(), "svn") {
			t.Errorf("Open(svn) = %v, want an unknown backend error", err)
		}
	})
}

func TestParseBackend(t *testing.T) {
	for in, want := range map[string]changes.Backend{"": changes.Auto, "auto": changes.Auto, "git": changes.GitCLI, "go-git": changes.GoGit, "GoGit": changes.GoGit} {
		if got, err := changes.ParseBackend(in); err != nil || got != want {
			t.Errorf("ParseBackend(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := changes.ParseBackend("svn"); err == nil {
		t.Error("ParseBackend(svn) succeeded")
	}
}

func TestCommitTimeAndHeadRef(t *testing.T) {
	h := resolveHistory()
	forEachRepo(t, h, func(t *testing.T, r *changes.Repo, dir string, shas map[string]string) {
		got, err := r.CommitTime(t.Context(), "main")
		if want := commitTime(h.byName["c2"]); err != nil || !got.Equal(want) {
			t.Errorf("CommitTime(main) = %v, %v; want %v", got, err, want)
		}
		if _, err := r.CommitTime(t.Context(), missing); !errors.Is(err, changes.ErrNotFound) {
			t.Errorf("CommitTime(missing) error = %v, want ErrNotFound", err)
		}
		if ref, err := r.HeadRef(t.Context()); err != nil || ref != "refs/heads/main" {
			t.Errorf("HeadRef() = %q, %v; want refs/heads/main", ref, err)
		}
	})
}

// TestDiffIgnoresIndex checks that Diff does not read the index, which plain git diff-tree does
// at a cost that grows with the work tree: with a corrupt index git diff-tree fails, Diff not.
func TestDiffIgnoresIndex(t *testing.T) {
	h := resolveHistory()
	dir := filepath.Join(t.TempDir(), "repo")
	shas := buildGitCLI(t, dir, h)
	if err := os.WriteFile(filepath.Join(dir, ".git", "index"), []byte("corrupt"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, b := range backends {
		got, err := open(t, dir, b).Diff(t.Context(), shas["c1"], shas["c2"])
		if err != nil || !slices.Equal(got, []string{"README.md"}) {
			t.Errorf("%s: Diff = %q, %v; want [README.md]", b, got, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, ".git", "ferry-no-index")); err == nil {
		t.Error("the git backend created the file it names as an absent index")
	}
}

// TestGitEnvironmentIgnored checks that the caller's GIT_* variables cannot redirect the CLI
// backend to another repository.
func TestGitEnvironmentIgnored(t *testing.T) {
	h := resolveHistory()
	dir := filepath.Join(t.TempDir(), "repo")
	shas := buildGitCLI(t, dir, h)
	other := filepath.Join(t.TempDir(), "other")
	gitRun(t, "", "init", "-q", other)
	t.Setenv("GIT_DIR", filepath.Join(other, ".git"))
	t.Setenv("GIT_CONFIG_PARAMETERS", "'core.bare'='true'")
	r := open(t, dir, changes.GitCLI)
	if got, err := r.Resolve(t.Context(), "main"); err != nil || got != shas["c2"] {
		t.Errorf("Resolve(main) = %q, %v; want %s", got, err, shas["c2"])
	}
}

func TestReadFile(t *testing.T) {
	h := newHistory()
	base(h)
	h.chain("c", "c1", nil, set("README.md", "hello again\n"))
	h.branch("main", "c2")
	dir := filepath.Join(t.TempDir(), "repo")
	buildGitCLI(t, dir, h)
	for _, b := range backends {
		t.Run(string(b), func(t *testing.T) {
			r := open(t, dir, b)
			for rev, want := range map[string]string{"main": "hello again\n", "main~1": "hello\n"} {
				got, err := r.ReadFile(t.Context(), rev, "README.md")
				if err != nil || string(got) != want {
					t.Errorf("ReadFile(%s) = %q, %v; want %q", rev, got, err, want)
				}
			}
			if _, err := r.ReadFile(t.Context(), "main", "deploy/allowed_signers"); !errors.Is(err, changes.ErrNotFound) {
				t.Errorf("missing file: %v, want ErrNotFound", err)
			}
		})
	}
}
