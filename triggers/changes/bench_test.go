package changes_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/ferry-ci/ferry/triggers/changes"
)

// The benchmarks read $FERRY_BENCH_REPO (made by bench/mkrepo.sh: bench/RESULTS.md has the
// figures for the large one) or else a small repository generated once per run with the same
// script: 50 services x 100 files, 2000 commits, a feature branch 5 commits ahead of main~100.
//
// Each benchmark has a git-diff-tree (or git merge-base + diff-tree) baseline run as a
// subprocess, and per backend a "cold" case that opens the repository for every operation, as
// one `ferry plan` process does, and a "warm" one that reuses it.

// smallRepo is the generated repository, made at most once per test binary because it takes
// seconds; TestMain removes it.
var smallRepo struct {
	once sync.Once
	dir  string // holds small and small-gc
	err  error
}

func smallBenchRepo() (string, error) {
	smallRepo.once.Do(func() {
		if smallRepo.dir, smallRepo.err = os.MkdirTemp("", "ferry-bench-"); smallRepo.err != nil {
			return
		}
		cmd := exec.Command("bash", filepath.Join("..", "..", "bench", "mkrepo.sh"), "small", "50", "100", "2000", smallRepo.dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			smallRepo.err = fmt.Errorf("bench/mkrepo.sh: %w\n%s", err, out)
		}
	})
	// The layout of a CI clone: one pack as written by pack-objects.
	return filepath.Join(smallRepo.dir, "small-gc"), smallRepo.err
}

func TestMain(m *testing.M) {
	code := m.Run()
	if smallRepo.dir != "" {
		os.RemoveAll(smallRepo.dir)
	}
	os.Exit(code)
}

type benchRevs struct {
	dir                string
	head, parent, back string // main, main~1, main~1000
	feature, mergeBase string
}

func benchSetup(b *testing.B) benchRevs {
	b.Helper()
	dir := os.Getenv("FERRY_BENCH_REPO")
	if dir == "" {
		var err error
		if dir, err = smallBenchRepo(); err != nil {
			b.Fatalf("generating the benchmark repository: %v", err)
		}
	}
	rev := func(r string) string { return gitRun(b, dir, "rev-parse", "--verify", r+"^{commit}") }
	if err := exec.Command("git", "-C", dir, "rev-parse", "--verify", "-q", "refs/heads/feature").Run(); err != nil {
		b.Fatalf("%s has no feature branch: regenerate it with bench/mkrepo.sh", dir)
	}
	return benchRevs{
		dir: dir, head: rev("main"), parent: rev("main~1"), back: rev("main~1000"),
		feature: rev("feature"), mergeBase: gitRun(b, dir, "merge-base", "main", "feature"),
	}
}

// benchDiff runs the baseline and every backend on one pair of commits.
func benchDiff(b *testing.B, from, to string) {
	s := benchSetup(b)
	from, to = pick(s, from), pick(s, to)
	b.Run("git-diff-tree", func(b *testing.B) {
		for b.Loop() {
			runGit(b, s.dir, "diff-tree", "-r", "--name-only", "--no-renames", from, to)
		}
	})
	for _, be := range backends {
		b.Run(string(be)+"/cold", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r, err := changes.Open(s.dir, be)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := r.Diff(b.Context(), from, to); err != nil {
					b.Fatal(err)
				}
				if err := r.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(string(be)+"/warm", func(b *testing.B) {
			b.ReportAllocs()
			r := open(b, s.dir, be)
			for b.Loop() {
				if _, err := r.Diff(b.Context(), from, to); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func pick(s benchRevs, name string) string {
	return map[string]string{"head": s.head, "parent": s.parent, "back": s.back}[name]
}

// BenchmarkDiffOneCommit is the common push: main~1..main.
func BenchmarkDiffOneCommit(b *testing.B) { benchDiff(b, "parent", "head") }

// BenchmarkDiff1000Commits is a large push or a long-lived branch: main~1000..main.
func BenchmarkDiff1000Commits(b *testing.B) { benchDiff(b, "back", "head") }

// BenchmarkNewBranch is the push that creates a branch: Changed finds the merge base of the
// branch and the trunk (100 commits back on main) and diffs from there.
func BenchmarkNewBranch(b *testing.B) {
	s := benchSetup(b)
	req := changes.Request{Before: zeros, After: s.feature, Trunk: "main"}
	b.Run("git-merge-base+diff-tree", func(b *testing.B) {
		for b.Loop() {
			runGit(b, s.dir, "merge-base", s.feature, "main")
			runGit(b, s.dir, "diff-tree", "-r", "--name-only", "--no-renames", s.mergeBase, s.feature)
		}
	})
	for _, be := range backends {
		b.Run(string(be)+"/cold", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r, err := changes.Open(s.dir, be)
				if err != nil {
					b.Fatal(err)
				}
				checkNewBranch(b, r, req, s)
				if err := r.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(string(be)+"/warm", func(b *testing.B) {
			b.ReportAllocs()
			r := open(b, s.dir, be)
			for b.Loop() {
				checkNewBranch(b, r, req, s)
			}
		})
	}
}

func checkNewBranch(b *testing.B, r *changes.Repo, req changes.Request, s benchRevs) {
	res, err := changes.Changed(context.Background(), r, req)
	if err != nil {
		b.Fatal(err)
	}
	if res.From != s.mergeBase {
		b.Fatalf("diffed from %s, want the merge base %s", res.From, s.mergeBase)
	}
}

func runGit(b *testing.B, dir string, args ...string) {
	cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
	if err := cmd.Run(); err != nil {
		b.Fatalf("git %v: %v", args, err)
	}
}
