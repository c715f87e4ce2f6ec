package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestReferenceDocsAreCurrent runs ferry docs and fails when docs/CLI.md or docs/CONFIG.md is
// not what it writes: go test ./cmd/ferry -run TestReferenceDocsAreCurrent -update, or
// make docs, rewrites them.
func TestReferenceDocsAreCurrent(t *testing.T) {
	dir := t.TempDir()
	r := runFerry(t, dir, nil, "", "docs", "--dir", "out")
	if r.code != 0 {
		t.Fatalf("ferry docs: exit %d: %s", r.code, r.stderr)
	}
	for _, name := range []string{"CLI.md", "CONFIG.md"} {
		got, err := os.ReadFile(filepath.Join(dir, "out", name))
		if err != nil {
			t.Fatal(err)
		}
		golden(t, filepath.Join("../../../docs", name), string(got))
	}
}
