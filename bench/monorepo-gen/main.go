// Command monorepo-gen writes a git fast-import stream for a synthetic monorepo to stdout. It is
// the input of the change-detection benchmarks (see bench/mkrepo.sh and bench/RESULTS.md).
//
// Layout:
//
//	src/svc-NNNN/{cmd/main.go, Dockerfile, go.mod, README.md, internal/mod-A/pkg-B/file-K.go ...}
//	libs/lib-NN/internal/mod-A/pkg-B/file-K.go ...
//	deploy/svc-NNNN/{deployment.yaml,service.yaml}
//	README.md, go.work, Makefile, .ci/pipeline.yaml, tools/...
//
// History: one initial commit containing everything, then commits-1 commits each touching a few
// random files (mostly within one service; sometimes libs, deploy, several services, misc files,
// adds and deletes). With -feature-commits N, N more commits go to refs/heads/feature, forked
// -feature-back commits before the tip of the branch: the shape of a feature branch pushed
// while the trunk moved on. The stream depends only on the flags, so a seed reproduces a
// repository commit for commit; the feature branch does not change the main history.
//
// Usage:
//
//	monorepo-gen -services 1000 -files 100 -commits 20000 -seed 1 | git fast-import --quiet
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"os"
)

func main() {
	var cfg config
	flag.IntVar(&cfg.services, "services", 50, "number of services")
	flag.IntVar(&cfg.files, "files", 100, "approximate number of files per service and per lib")
	flag.IntVar(&cfg.commits, "commits", 2000, "number of commits, including the initial one")
	flag.IntVar(&cfg.libs, "libs", 0, "number of shared libs (default max(5, services/20))")
	flag.Int64Var(&cfg.seed, "seed", 1, "random seed")
	flag.StringVar(&cfg.branch, "branch", "refs/heads/main", "branch ref the commits go to")
	flag.IntVar(&cfg.featureCommits, "feature-commits", 0, "commits on refs/heads/feature (0: no feature branch)")
	flag.IntVar(&cfg.featureBack, "feature-back", 100, "how many commits before the tip the feature branch forks")
	flag.Parse()
	if cfg.services < 1 || cfg.files < 1 || cfg.commits < 1 {
		fmt.Fprintln(os.Stderr, "monorepo-gen: -services, -files and -commits must be at least 1")
		os.Exit(2)
	}
	if cfg.featureCommits > 0 && (cfg.featureBack < 0 || cfg.featureBack >= cfg.commits) {
		fmt.Fprintln(os.Stderr, "monorepo-gen: -feature-back must be between 0 and -commits - 1")
		os.Exit(2)
	}
	out := bufio.NewWriterSize(os.Stdout, 1<<20)
	stats, err := generate(out, cfg)
	if err == nil {
		err = out.Flush()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "monorepo-gen: %v\n", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "monorepo-gen: %d services, %d libs, %d files at HEAD, %d commits\n",
		cfg.services, stats.libs, stats.files, cfg.commits)
}

type config struct {
	services, files, commits, libs int
	seed                           int64
	branch                         string
	featureCommits, featureBack    int
}

type stats struct{ libs, files int }

// fileset is a set of paths that supports picking a random member and deleting in O(1).
type fileset struct {
	paths []string
	idx   map[string]int
}

func newFileset() *fileset { return &fileset{idx: map[string]int{}} }

func (f *fileset) add(p string) {
	if _, ok := f.idx[p]; ok {
		return
	}
	f.idx[p] = len(f.paths)
	f.paths = append(f.paths, p)
}

func (f *fileset) del(p string) {
	i, ok := f.idx[p]
	if !ok {
		return
	}
	last := f.paths[len(f.paths)-1]
	f.paths[i] = last
	f.idx[last] = i
	f.paths = f.paths[:len(f.paths)-1]
	delete(f.idx, p)
}

// generator holds the state of one stream: the random source, the clock and the files that
// exist, grouped per owner (service or lib) so that commits can stay within one owner.
type generator struct {
	w          *bufio.Writer
	rng        *rand.Rand
	ts         int64
	counter    int
	branch     string
	owners     []*fileset
	ownerNames []string
	all        *fileset
}

const words = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma tau upsilon phi chi psi omega func return if else for range var const type struct interface map chan go defer select"

// content returns a new, unique body for path p; the revision counter makes every blob distinct.
func (g *generator) content(p string) []byte {
	g.counter++
	n := 300 + g.rng.Intn(700)
	b := make([]byte, 0, n+64)
	b = fmt.Appendf(b, "// %s rev %d\n", p, g.counter)
	for len(b) < n {
		s := g.rng.Intn(len(words) - 10)
		e := min(s+3+g.rng.Intn(20), len(words))
		b = append(b, words[s:e]...)
		if g.rng.Intn(8) == 0 {
			b = append(b, '\n')
		} else {
			b = append(b, ' ')
		}
	}
	return append(b, '\n')
}

func (g *generator) data(b []byte) {
	fmt.Fprintf(g.w, "data %d\n", len(b))
	g.w.Write(b)
	g.w.WriteByte('\n')
}

func (g *generator) modify(p string) {
	fmt.Fprintf(g.w, "M 100644 inline %s\n", p)
	g.data(g.content(p))
}

// ownerFiles lays out about n files under root: about ten per leaf directory, spread over up
// to five modules, so that the tree is several levels deep like a real service.
func (g *generator) ownerFiles(root string, n int, isSvc bool) *fileset {
	fs := newFileset()
	add := func(p string) { fs.add(p); g.all.add(p) }
	if isSvc {
		add(root + "/cmd/main.go")
		add(root + "/Dockerfile")
		add(root + "/go.mod")
		add(root + "/README.md")
	}
	rest := n - len(fs.paths)
	leafs := (rest + 9) / 10
	mods := min(5, leafs)
	i := 0
	for l := 0; l < leafs; l++ {
		mod, pkg := l%mods, l/mods
		for k := 0; k < 10 && i < rest; k++ {
			add(fmt.Sprintf("%s/internal/mod-%d/pkg-%d/file-%d.go", root, mod, pkg, k))
			i++
		}
	}
	return fs
}

func (g *generator) commitHeader(msg string, first bool, mark int) {
	from := 0
	if !first {
		from = mark - 1
	}
	g.commitOn(g.branch, msg, mark, from)
}

// commitOn starts a commit on branch with parent mark from (0: none).
func (g *generator) commitOn(branch, msg string, mark, from int) {
	g.ts += int64(60 + g.rng.Intn(3600))
	fmt.Fprintf(g.w, "commit %s\nmark :%d\n", branch, mark)
	fmt.Fprintf(g.w, "author Dev <dev@example.com> %d +0000\n", g.ts)
	fmt.Fprintf(g.w, "committer Dev <dev@example.com> %d +0000\n", g.ts)
	g.data([]byte(msg))
	if from > 0 {
		fmt.Fprintf(g.w, "from :%d\n", from)
	}
}

func generate(out io.Writer, cfg config) (stats, error) {
	w, ok := out.(*bufio.Writer)
	if !ok {
		w = bufio.NewWriter(out)
	}
	g := &generator{
		w:      w,
		rng:    rand.New(rand.NewSource(cfg.seed)),
		ts:     1600000000,
		branch: cfg.branch,
		all:    newFileset(),
	}
	nLibs := cfg.libs
	if nLibs == 0 {
		nLibs = max(5, cfg.services/20)
	}
	for s := 0; s < cfg.services; s++ {
		name := fmt.Sprintf("src/svc-%04d", s)
		fs := g.ownerFiles(name, cfg.files, true)
		for _, f := range []string{"deployment.yaml", "service.yaml"} {
			p := fmt.Sprintf("deploy/svc-%04d/%s", s, f)
			fs.add(p)
			g.all.add(p)
		}
		g.owners = append(g.owners, fs)
		g.ownerNames = append(g.ownerNames, name)
	}
	nSvc := len(g.owners)
	for l := 0; l < nLibs; l++ {
		name := fmt.Sprintf("libs/lib-%02d", l)
		g.owners = append(g.owners, g.ownerFiles(name, cfg.files, false))
		g.ownerNames = append(g.ownerNames, name)
	}
	misc := newFileset()
	for _, p := range []string{"README.md", "go.work", ".ci/pipeline.yaml", "tools/lint.sh", "tools/gen/main.go", "Makefile"} {
		misc.add(p)
		g.all.add(p)
	}

	mark := 1
	g.commitHeader("initial import\n", true, mark)
	for _, p := range g.all.paths {
		g.modify(p)
	}
	w.WriteString("\n")
	for c := 1; c < cfg.commits; c++ {
		mark++
		var touched, deleted []string
		pick := func(fs *fileset, k int) {
			for j := 0; j < k && len(fs.paths) > 0; j++ {
				touched = append(touched, fs.paths[g.rng.Intn(len(fs.paths))])
			}
		}
		switch r := g.rng.Intn(100); {
		case r < 75: // one service, 1-4 files
			pick(g.owners[g.rng.Intn(nSvc)], 1+g.rng.Intn(4))
		case r < 85: // a lib, 1-3 files
			pick(g.owners[nSvc+g.rng.Intn(nLibs)], 1+g.rng.Intn(3))
		case r < 90: // a refactor across 2-10 services, 1-2 files each
			k := 2 + g.rng.Intn(9)
			for j := 0; j < k; j++ {
				pick(g.owners[g.rng.Intn(nSvc)], 1+g.rng.Intn(2))
			}
		case r < 93: // misc top-level files
			pick(misc, 1)
		case r < 97: // new files in a service
			o := g.rng.Intn(nSvc)
			for j := 0; j < 1+g.rng.Intn(3); j++ {
				p := fmt.Sprintf("%s/internal/new-%d/file-%d.go", g.ownerNames[o], c, j)
				g.owners[o].add(p)
				g.all.add(p)
				touched = append(touched, p)
			}
		default: // delete one file, keeping every service non-trivial
			o := g.owners[g.rng.Intn(nSvc)]
			if len(o.paths) > 5 {
				p := o.paths[g.rng.Intn(len(o.paths))]
				o.del(p)
				g.all.del(p)
				deleted = append(deleted, p)
			}
		}
		g.commitHeader(fmt.Sprintf("change %d\n", c), false, mark)
		seen := map[string]bool{}
		for _, p := range touched {
			if !seen[p] {
				seen[p] = true
				g.modify(p)
			}
		}
		for _, p := range deleted {
			fmt.Fprintf(w, "D %s\n", p)
		}
		w.WriteString("\n")
	}
	// The feature branch edits and adds files of one or two services. Its random draws come
	// after main's, so main is the same with or without it.
	from := mark - cfg.featureBack
	for c := 0; c < cfg.featureCommits; c++ {
		mark++
		g.commitOn("refs/heads/feature", fmt.Sprintf("feature change %d\n", c+1), mark, from)
		from = mark
		for j := 0; j < 1+g.rng.Intn(2); j++ {
			o := g.rng.Intn(nSvc)
			if fs := g.owners[o]; len(fs.paths) > 0 {
				g.modify(fs.paths[g.rng.Intn(len(fs.paths))])
			}
			g.modify(fmt.Sprintf("%s/internal/feature/file-%d.go", g.ownerNames[o], c))
		}
		w.WriteString("\n")
	}
	return stats{libs: nLibs, files: len(g.all.paths)}, w.Flush()
}
