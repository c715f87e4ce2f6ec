package ocistore

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/ferry-ci/ferry/pipeline"
)

// TestCacheFilesRestoredOnAnotherMachine saves a result with output files on one machine and
// restores it on another (its own working copy): same bytes and permissions, verified blobs,
// and the latest pointer names the entry.
func TestCacheFilesRestoredOnAnotherMachine(t *testing.T) {
	for _, reg := range registries {
		t.Run(reg.name, func(t *testing.T) {
			ref := reg.ref(t)
			made := t.TempDir()
			writeFile(t, filepath.Join(made, "bin/api"), "\x7fELF binary")
			os.Chmod(filepath.Join(made, "bin/api"), 0o755)
			writeFile(t, filepath.Join(made, "bin/data/table.txt"), "rows")
			writeFile(t, filepath.Join(made, "bin/stale"), "not an output")
			a := newStore(t, ref)
			entry := pipeline.CacheEntry{Stage: "build", Digest: "sha256:" + strings.Repeat("ab", 32), Run: "run-1",
				Service: "api", Inputs: []pipeline.Input{{Name: "main.go", Digest: "100644 1"}},
				Roots: []pipeline.OutputRoot{{Name: "bin/", Dir: filepath.Join(made, "bin"), Files: []string{"api", "data/table.txt"}}}}
			if err := a.SaveCache(t.Context(), entry); err != nil {
				t.Fatal(err)
			}

			b := newStore(t, ref)
			got, err := b.LookupCache(t.Context(), "build", entry.Digest)
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Files) != 1 || got.Files[0].Name != "bin/" || got.Files[0].Count != 2 || got.Files[0].Bytes != 15 {
				t.Fatalf("files = %+v", got.Files)
			}
			fresh := filepath.Join(t.TempDir(), "svc", "bin")
			stats, err := b.RestoreCache(t.Context(), got, []pipeline.OutputRoot{{Name: "bin/", Dir: fresh}})
			if err != nil {
				t.Fatal(err)
			}
			if stats.Files != 2 || stats.Bytes != 15 || stats.Downloaded != got.Files[0].Size {
				t.Errorf("stats = %+v", stats)
			}
			for _, f := range []string{"api", "data/table.txt"} {
				want, _ := os.ReadFile(filepath.Join(made, "bin", f))
				have, err := os.ReadFile(filepath.Join(fresh, f))
				if err != nil || !bytes.Equal(have, want) {
					t.Errorf("%s restored as %q (%v), want %q", f, have, err, want)
				}
			}
			if st, err := os.Stat(filepath.Join(fresh, "api")); err != nil || st.Mode().Perm() != 0o755 {
				t.Errorf("api mode = %v (%v), want 0755", st.Mode(), err)
			}
			if _, err := os.Stat(filepath.Join(fresh, "stale")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a file that is no output was restored: %v", err)
			}
			latest, err := b.LatestCache(t.Context(), "build", "api")
			if err != nil || latest.Digest != entry.Digest || latest.Inputs[0].Name != "main.go" {
				t.Errorf("latest = %+v, %v", latest, err)
			}
			if _, err := b.LatestCache(t.Context(), "build", "web"); !errors.Is(err, pipeline.ErrCacheMiss) {
				t.Errorf("latest of a service never saved: %v", err)
			}

			// The same outputs under other inputs make the same layer.
			again := entry
			again.Digest = "sha256:" + strings.Repeat("cd", 32)
			if err := a.SaveCache(t.Context(), again); err != nil {
				t.Fatal(err)
			}
			second, err := newStore(t, ref).LookupCache(t.Context(), "build", again.Digest)
			if err != nil || second.Files[0].Digest != got.Files[0].Digest {
				t.Errorf("second entry's files = %+v (%v), want the layer %s again", second, err, got.Files[0].Digest)
			}
		})
	}
}

// TestUnpackRefusesWhatDoesNotVerify: a blob whose digest is not the recorded one, or whose
// entries leave the output, writes nothing into the output folder.
func TestUnpackRefusesWhatDoesNotVerify(t *testing.T) {
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "app"), "binary")
	a, err := packRoot(pipeline.OutputRoot{Name: "bin/", Dir: src, Files: []string{"app"}})
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(a.path)
	data, _ := os.ReadFile(a.path)
	cases := []struct {
		name string
		want v1.Hash
		err  string
	}{
		{"wrong digest", v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("0", 64)}, "content has digest " + a.digest.String()},
		{"right digest", a.digest, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dst := filepath.Join(t.TempDir(), "bin")
			_, n, err := unpack(bytes.NewReader(data), tc.want, dst)
			_, statErr := os.Stat(filepath.Join(dst, "app"))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || statErr == nil {
					t.Errorf("unpack = %d files, %v (file: %v), want %q and nothing written", n, err, statErr, tc.err)
				}
				return
			}
			if err != nil || n != 1 || statErr != nil {
				t.Errorf("unpack = %d files, %v (file: %v)", n, err, statErr)
			}
		})
	}
	if _, err := packRoot(pipeline.OutputRoot{Name: "x", Dir: src, Files: []string{"../etc/passwd"}}); err == nil {
		t.Error("packed a file outside the output")
	}
}
