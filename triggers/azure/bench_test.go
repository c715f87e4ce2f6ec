package azure

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

func BenchmarkAzurePathFilter(b *testing.B) {
	paths := benchPaths(100_000)
	f, err := NewPathFilter(
		[]string{"services", "libs/lib1", "docs/*.md", "**/README.md", "services/*/internal/**/*_test.go"},
		[]string{"services/svc1", "libs/lib1/testdata", "docs/section1*", ".github"},
	)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		for _, p := range paths {
			if ok, _ := f.Included(p); ok {
				n++
			}
		}
		if n == 0 {
			b.Fatal("nothing included")
		}
	}
}

func BenchmarkAzurePipelineEvaluate(b *testing.B) {
	paths := benchPaths(100_000)
	p := mustParse(b, "trigger:\n  branches:\n    include: [main]\n  paths:\n    include: [tools]\n    exclude: [docs]\n")
	ev := Event{Ref: "refs/heads/main", Paths: paths, PathsKnown: true}
	b.ReportAllocs()
	for b.Loop() {
		if p.Evaluate(ev, EvalOptions{}).Triggered {
			b.Fatal("no path is under tools, want not triggered")
		}
	}
}
