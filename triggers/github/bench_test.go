package github

import (
	"fmt"
	"testing"
)

// benchPaths builds n monorepo-like paths: services, shared libraries, docs and dotfiles.
func benchPaths(n int) []string {
	exts := []string{".go", ".md", ".yaml", ".js", "_test.go"}
	paths := make([]string, n)
	for i := range paths {
		switch i % 4 {
		case 0:
			paths[i] = fmt.Sprintf("services/svc%d/internal/pkg%d/file%d%s", i%97, i%13, i, exts[i%len(exts)])
		case 1:
			paths[i] = fmt.Sprintf("libs/lib%d/testdata/case%d%s", i%31, i, exts[i%len(exts)])
		case 2:
			paths[i] = fmt.Sprintf("docs/section%d/page%d.md", i%17, i)
		default:
			paths[i] = fmt.Sprintf(".github/workflows/wf%d.yml", i)
		}
	}
	return paths
}

func BenchmarkGitHubFilter(b *testing.B) {
	paths := benchPaths(100_000)
	f, err := NewFilter([]string{"services/**", "libs/**", "!**/testdata/**", "**.md", "!docs/section1*/**", "[a-z]*/svc[0-9]+/**/*_test.go"}, PathPattern)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		for _, p := range paths {
			if f.Included(p) {
				n++
			}
		}
		if n == 0 {
			b.Fatal("nothing included")
		}
	}
}

func BenchmarkGitHubWorkflowEvaluate(b *testing.B) {
	paths := benchPaths(100_000)
	w := mustParse(b, "on:\n  push:\n    branches: [main]\n    paths-ignore: ['docs/**', '.github/**', '**.md', 'services/**', 'libs/**']\n")
	ev := Event{Name: "push", Ref: "refs/heads/main", Paths: paths}
	b.ReportAllocs()
	for b.Loop() {
		if w.Evaluate(ev).Triggered {
			b.Fatal("every path is ignored, want not triggered")
		}
	}
}
