package ocistore

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-ci/ferry/internal/testenv"
	"github.com/ferry-ci/ferry/pipeline"
)

// BenchmarkCacheRestore measures a cache hit on a fresh runner: a store with an empty working
// copy looks the entry up in the registry and restores its output files into an empty folder,
// through a counting proxy in front of Debian's docker-registry. The outputs are slices of a Go
// binary (this test binary), which compress as a build's outputs do. It reports the outputs'
// size, the bytes downloaded and the requests made by one hit; ns/op is the whole hit, lookup
// included, opening the store left out.
//
//	go test -run '^$' -bench CacheRestore -benchtime 10x ./pipeline/ocistore/
func BenchmarkCacheRestore(b *testing.B) {
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	binary, err := os.ReadFile(exe)
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name        string
		files, size int
	}{
		{"1 file of 2 MiB", 1, 2 << 20},
		{"1 file of 32 MiB", 1, 32 << 20},
		{"1000 files of 4 KiB", 1000, 4 << 10},
	} {
		b.Run(strings.ReplaceAll(c.name, " ", "_"), func(b *testing.B) {
			p, saver := countingStore(b, testenv.Registry(b))
			made := b.TempDir()
			var files []string
			var total int64
			for i := range c.files {
				name := fmt.Sprintf("out/%04d", i)
				if err := os.MkdirAll(filepath.Join(made, "out"), 0o755); err != nil {
					b.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(made, name), slice(binary, i*c.size, c.size), 0o755); err != nil {
					b.Fatal(err)
				}
				files = append(files, name)
				total += int64(c.size)
			}
			entry := pipeline.CacheEntry{Stage: "build", Digest: "sha256:" + strings.Repeat("ab", 32), Run: "run-1",
				Service: "api", Roots: []pipeline.OutputRoot{{Name: "bin/", Dir: made, Files: files}}}
			if err := saver.SaveCache(b.Context(), entry); err != nil {
				b.Fatal(err)
			}
			var stats pipeline.RestoreStats
			requests := 0
			for b.Loop() {
				b.StopTimer()
				fresh, err := New(b.Context(), "oci://"+p.Host()+"/ferry/runs", Options{CacheDir: b.TempDir()})
				if err != nil {
					b.Fatal(err)
				}
				dir := filepath.Join(b.TempDir(), "bin")
				before := p.Stats().Requests
				b.StartTimer()
				got, err := fresh.LookupCache(b.Context(), "build", entry.Digest)
				if err != nil {
					b.Fatal(err)
				}
				if stats, err = fresh.RestoreCache(b.Context(), got, []pipeline.OutputRoot{{Name: "bin/", Dir: dir}}); err != nil {
					b.Fatal(err)
				}
				requests += p.Stats().Requests - before
				if stats.Files != c.files || stats.Bytes != total {
					b.Fatalf("restored %+v, want %d files, %d bytes", stats, c.files, total)
				}
			}
			b.ReportMetric(float64(total), "outputs-B")
			b.ReportMetric(float64(stats.Downloaded), "downloaded-B")
			b.ReportMetric(float64(stats.Downloaded)/float64(total), "downloaded/outputs")
			b.ReportMetric(float64(requests)/float64(b.N), "requests/op")
		})
	}
}

// slice is n bytes of data from offset off, wrapping around.
func slice(data []byte, off, n int) []byte {
	out := make([]byte, 0, n)
	for i := off % len(data); len(out) < n; i = 0 {
		out = append(out, data[i:min(len(data), i+n-len(out))]...)
	}
	return out
}
