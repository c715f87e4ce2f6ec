package ocistore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/ferry-ci/ferry/pipeline"
)

const runID = "20261125-180512-a1b2c3"

func readLog(t *testing.T, s *Store, id, rel string) (string, error) {
	t.Helper()
	rc, err := s.OpenLog(t.Context(), id, rel)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	return string(data), err
}

// Machine A creates and appends; machine B (another working copy) loads the same run and reads
// its logs; machine C reads a log straight from the registry.
func TestRoundTrip(t *testing.T) {
	for _, reg := range registries {
		t.Run(reg.name, func(t *testing.T) { testRoundTrip(t, reg.ref(t)) })
	}
}

func testRoundTrip(t *testing.T, ref string) {
	ctx := t.Context()
	a, b, c := newStore(t, ref), newStore(t, ref), newStore(t, ref)

	if err := a.Create(ctx, newRun(runID)); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(a.Dir(runID), "logs", "api", "build.log"), "compiling\nok\n")
	writeFile(t, filepath.Join(a.Dir(runID), "work", "api", "build", "big.tar"), "not uploaded")
	if err := a.Append(ctx, runID, stageRec(pipeline.Running, "build", "logs/api/build.log")); err != nil {
		t.Fatal(err)
	}
	if err := a.Append(ctx, runID, stageRec(pipeline.Succeeded, "build", "logs/api/build.log"),
		stageRec(pipeline.Running, "test", "")); err != nil {
		t.Fatal(err)
	}
	want, err := a.Load(ctx, runID)
	if err != nil {
		t.Fatal(err)
	}
	if got := want.Services[0].Stages[0].Status; got != pipeline.Succeeded {
		t.Fatalf("A sees build %s, want succeeded", got)
	}

	got, err := b.Load(ctx, runID)
	if err != nil {
		t.Fatal(err)
	}
	if mustJSON(t, got) != mustJSON(t, want) {
		t.Errorf("B loaded\n%s\nwant\n%s", mustJSON(t, got), mustJSON(t, want))
	}
	for _, f := range []string{"run.json", "journal.jsonl", "logs/api/build.log"} {
		if _, err := os.Stat(filepath.Join(b.Dir(runID), f)); err != nil {
			t.Errorf("B's working copy: %v", err)
		}
	}
	if _, err := os.Stat(filepath.Join(b.Dir(runID), "work")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("work files reached B: %v", err)
	}
	// B's working copy is a LocalStore copy of the run.
	if local, err := b.local.Load(ctx, runID); err != nil || mustJSON(t, local) != mustJSON(t, want) {
		t.Errorf("B's local copy = %v, %v", local, err)
	}

	tests := []struct {
		name    string
		store   *Store
		rel     string
		want    string
		wantErr error
	}{
		{"pulled copy", b, "logs/api/build.log", "compiling\nok\n", nil},
		{"from the registry", c, "logs/api/build.log", "compiling\nok\n", nil},
		{"unclean path from the registry", c, "logs/api/../api/build.log", "compiling\nok\n", nil},
		{"missing log", c, "logs/api/test.log", "", fs.ErrNotExist},
		{"outside the run", c, "../x.log", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readLog(t, tt.store, runID, tt.rel)
			switch {
			case tt.want == "" && err == nil:
				t.Fatalf("OpenLog(%q) = %q, want an error", tt.rel, got)
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
				t.Fatalf("OpenLog(%q) error = %v, want %v", tt.rel, err, tt.wantErr)
			case tt.want != "" && (err != nil || got != tt.want):
				t.Fatalf("OpenLog(%q) = %q, %v; want %q", tt.rel, got, err, tt.want)
			}
		})
	}

	t.Run("artifact layout", func(t *testing.T) {
		m := getManifest(t, ref, runID)
		if m.MediaType != "application/vnd.oci.image.manifest.v1+json" || m.ArtifactType != string(RunMediaType) ||
			m.Config.MediaType != RunMediaType || m.Annotations[layoutAnnotation] != "2" {
			t.Errorf("root manifest: %s, artifact %s, config %s, annotations %v", m.MediaType, m.ArtifactType, m.Config.MediaType, m.Annotations)
		}
		if got := layerNames(m); !slices.Equal(got, []string{string(emptyMediaType)}) {
			t.Errorf("root layers = %q", got)
		}
		runJSON, err := os.ReadFile(filepath.Join(a.Dir(runID), "run.json"))
		if err != nil {
			t.Fatal(err)
		}
		if h, _, _ := v1.SHA256(strings.NewReader(string(runJSON))); h != m.Config.Digest {
			t.Errorf("config blob %s is not run.json as LocalStore wrote it (%s)", m.Config.Digest, h)
		}
		// A's two appends: a segment with the log chunk, then a segment alone (the log did
		// not grow), on A's first page.
		p := getManifest(t, ref, pageTag(runID, a.Writer(), 0))
		want := []string{string(SegmentMediaType), "text/plain logs/api/build.log@0", string(SegmentMediaType)}
		if got := layerNames(p); p.ArtifactType != PageArtifactType || !slices.Equal(got, want) {
			t.Errorf("page: artifact %s, layers %q, want %q", p.ArtifactType, got, want)
		}
		tags, err := remote.List(mustTag(t, ref, runID).Context(), remote.WithContext(ctx))
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(tags)
		if want := []string{runID, pageTag(runID, a.Writer(), 0)}; !slices.Equal(tags, want) {
			t.Errorf("tags = %q, want %q", tags, want)
		}
	})

	t.Run("unknown run", func(t *testing.T) {
		if _, err := c.Load(ctx, "20260101-000000-ffffff"); !errors.Is(err, pipeline.ErrRunNotFound) {
			t.Errorf("Load = %v, want ErrRunNotFound", err)
		}
		if err := c.Append(ctx, "20260101-000000-ffffff", approval("x")); !errors.Is(err, pipeline.ErrRunNotFound) {
			t.Errorf("Append = %v, want ErrRunNotFound", err)
		}
	})
}

func getManifest(t *testing.T, ref, tag string) v1.Manifest {
	t.Helper()
	d, err := remote.Get(mustTag(t, ref, tag), remote.WithContext(t.Context()))
	if err != nil {
		t.Fatal(err)
	}
	var m v1.Manifest
	if err := json.Unmarshal(d.Manifest, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// layerNames names a manifest's layers: the media type, and for logs the title and offset.
func layerNames(m v1.Manifest) []string {
	var out []string
	for _, l := range m.Layers {
		n := string(l.MediaType)
		if l.MediaType == LogMediaType {
			n += " " + l.Annotations[v1TitleAnnotation] + "@" + l.Annotations[offsetAnnotation]
		}
		out = append(out, n)
	}
	return out
}

func mustTag(t *testing.T, ref, tag string) name.Tag {
	t.Helper()
	tg, err := name.NewTag(strings.TrimPrefix(ref, "oci://") + ":" + tag)
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

// A appends, B appends after loading, A appends again without loading: with one artifact per
// writer nobody's records are lost and there is nothing to refuse.
func TestWritersDoNotConflict(t *testing.T) {
	for _, reg := range registries {
		t.Run(reg.name, func(t *testing.T) { testWritersDoNotConflict(t, reg.ref(t)) })
	}
}

func testWritersDoNotConflict(t *testing.T, ref string) {
	ctx := t.Context()
	a, b := newStore(t, ref), newStore(t, ref)
	if err := a.Create(ctx, newRun(runID)); err != nil {
		t.Fatal(err)
	}
	if err := a.Append(ctx, runID, approval("a1")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Load(ctx, runID); err != nil {
		t.Fatal(err)
	}
	if err := b.Append(ctx, runID, approval("b1")); err != nil {
		t.Fatal(err)
	}
	if err := a.Append(ctx, runID, approval("a2")); err != nil {
		t.Fatalf("A's append without loading B's records: %v", err)
	}
	// B wrote b1 after reading a1; a2 is concurrent with b1, so the writer ids order them.
	want := []string{"a1", "b1", "a2"}
	if a.Writer() < b.Writer() {
		want = []string{"a1", "a2", "b1"}
	}
	for _, s := range []*Store{a, b, newStore(t, ref)} {
		got, err := s.Load(ctx, runID)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(approvers(got), want) {
			t.Errorf("loaded approvals %q, want %q", approvers(got), want)
		}
	}
	// After loading, A's next record comes after everything it read.
	if err := a.Append(ctx, runID, approval("a3")); err != nil {
		t.Fatal(err)
	}
	got, err := newStore(t, ref).Load(ctx, runID)
	if err != nil {
		t.Fatal(err)
	}
	if want := append(want, "a3"); !slices.Equal(approvers(got), want) {
		t.Errorf("loaded approvals %q, want %q", approvers(got), want)
	}

	if err := b.Create(ctx, newRun(runID)); !errors.Is(err, ErrConflict) {
		t.Errorf("Create of an existing run = %v, want ErrConflict", err)
	}
	elsewhere := newStore(t, ref)
	if err := elsewhere.Create(ctx, newRun(runID)); !errors.Is(err, ErrConflict) {
		t.Errorf("Create of an existing run elsewhere = %v, want ErrConflict", err)
	}
	if _, err := os.Stat(filepath.Join(elsewhere.Dir(runID), "run.json")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a refused Create wrote the working copy: %v", err)
	}
}

// An Append whose push fails keeps its records pending: the next successful push carries them,
// a Load drops them.
func TestFailedPush(t *testing.T) {
	ctx := t.Context()
	ref := registryRef(t)
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	tests := []struct {
		name  string
		id    string
		after func(s *Store, id string) error
		want  []string
	}{
		{"next append carries it", "20261125-000000-000001",
			func(s *Store, id string) error { return s.Append(ctx, id, approval("after")) },
			[]string{"lost?", "after"}},
		{"sync carries it", "20261125-000000-000002",
			func(s *Store, id string) error { return s.Sync(ctx, id) },
			[]string{"lost?"}},
		{"load drops it", "20261125-000000-000003",
			func(s *Store, id string) error { _, err := s.Load(ctx, id); return err },
			nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t, ref)
			if err := s.Create(ctx, newRun(tt.id)); err != nil {
				t.Fatal(err)
			}
			if err := s.Append(cancelled, tt.id, approval("lost?")); !errors.Is(err, context.Canceled) {
				t.Fatalf("Append with a cancelled context = %v", err)
			}
			if err := tt.after(s, tt.id); err != nil {
				t.Fatal(err)
			}
			got, err := newStore(t, ref).Load(ctx, tt.id)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(approvers(got), tt.want) {
				t.Errorf("registry has %q, want %q", approvers(got), tt.want)
			}
			mine, err := s.Load(ctx, tt.id)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(approvers(mine), tt.want) {
				t.Errorf("after Load the writer has %q, want %q", approvers(mine), tt.want)
			}
		})
	}
}

// Concurrent Appends of one process all reach the registry.
func TestConcurrentAppends(t *testing.T) {
	ctx := t.Context()
	ref := registryRef(t)
	a := newStore(t, ref)
	if err := a.Create(ctx, newRun(runID)); err != nil {
		t.Fatal(err)
	}
	const n = 12
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = a.Append(ctx, runID, approval(fmt.Sprintf("user%02d", i)))
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	got, err := newStore(t, ref).Load(ctx, runID)
	if err != nil {
		t.Fatal(err)
	}
	by := approvers(got)
	slices.Sort(by)
	if len(by) != n || by[0] != "user00" || by[n-1] != fmt.Sprintf("user%02d", n-1) {
		t.Errorf("registry has approvals %q, want %d distinct", by, n)
	}
}

// Sync pushes logs written after the last Append; a log growing on another machine is pulled
// again, and a longer local log is never replaced by a shorter one.
func TestSyncLogs(t *testing.T) {
	ctx := t.Context()
	ref := registryRef(t)
	a, b := newStore(t, ref), newStore(t, ref)
	if err := a.Create(ctx, newRun(runID)); err != nil {
		t.Fatal(err)
	}
	logA := filepath.Join(a.Dir(runID), "logs", "api", "test.log")
	writeFile(t, logA, "line 1\n")
	if err := a.Sync(ctx, runID); err != nil {
		t.Fatal(err)
	}
	if got, err := readLog(t, b, runID, "logs/api/test.log"); err != nil || got != "line 1\n" {
		t.Fatalf("B reads %q, %v", got, err)
	}
	if _, err := b.Load(ctx, runID); err != nil {
		t.Fatal(err)
	}
	writeFile(t, logA, "line 1\nline 2\n")
	if err := a.Sync(ctx, runID); err != nil {
		t.Fatal(err)
	}
	if err := a.Sync(ctx, runID); err != nil { // nothing new: no push, no error
		t.Fatal(err)
	}
	if _, err := b.Load(ctx, runID); err != nil {
		t.Fatal(err)
	}
	if got, err := readLog(t, b, runID, "logs/api/test.log"); err != nil || got != "line 1\nline 2\n" {
		t.Fatalf("B reads %q, %v after the log grew", got, err)
	}

	// A log this machine is writing is longer than the registry's: loading keeps it.
	logB := filepath.Join(b.Dir(runID), "logs", "api", "test.log")
	writeFile(t, logB, "line 1\nline 2\nline 3 (B)\n")
	if err := b.Append(ctx, runID, approval("b")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, logB, "line 1\nline 2\nline 3 (B)\nline 4 (B)\n")
	if _, err := b.Load(ctx, runID); err != nil {
		t.Fatal(err)
	}
	if got, _ := readLog(t, b, runID, "logs/api/test.log"); got != "line 1\nline 2\nline 3 (B)\nline 4 (B)\n" {
		t.Errorf("B's log after Load = %q", got)
	}
	// A has no newer log; B's pushed log reaches it, and A's next push keeps B's log.
	if _, err := a.Load(ctx, runID); err != nil {
		t.Fatal(err)
	}
	if got, _ := readLog(t, a, runID, "logs/api/test.log"); got != "line 1\nline 2\nline 3 (B)\n" {
		t.Errorf("A's log after Load = %q", got)
	}
}

func TestCache(t *testing.T) {
	ctx := t.Context()
	ref := registryRef(t)
	a, b := newStore(t, ref), newStore(t, ref)
	digest := "sha256:" + strings.Repeat("0123456789abcdef", 4)
	entry := pipeline.CacheEntry{Stage: "build", Digest: digest, Run: runID, Service: "api", Created: created,
		Outputs: pipeline.Outputs{Build: &pipeline.BuildOutput{Files: map[string]string{"bin/api": "sha256:1"}}}}
	if err := a.SaveCache(ctx, entry); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name          string
		stage, digest string
		hit           bool
	}{
		{"other machine", "build", digest, true},
		{"other stage", "test", digest, false},
		{"other digest", "build", "sha256:" + strings.Repeat("f", 64), false},
		{"stage not usable in a tag", "Build!", digest, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := b.LookupCache(ctx, tt.stage, tt.digest)
			if !tt.hit {
				if !errors.Is(err, pipeline.ErrCacheMiss) {
					t.Fatalf("LookupCache = %v, %v; want ErrCacheMiss", got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if mustJSON(t, got) != mustJSON(t, entry) {
				t.Errorf("got %s, want %s", mustJSON(t, got), mustJSON(t, entry))
			}
			// Kept in B's working copy for next time.
			if _, err := b.local.LookupCache(ctx, tt.stage, tt.digest); err != nil {
				t.Errorf("not copied to B's working copy: %v", err)
			}
		})
	}
	if err := a.SaveCache(ctx, pipeline.CacheEntry{Stage: "build", Digest: "md5:not-hex"}); err == nil {
		t.Error("SaveCache of a digest that cannot be a tag succeeded")
	}
}

func TestList(t *testing.T) {
	ctx := t.Context()
	ref := registryRef(t)
	a := newStore(t, ref)

	t.Run("empty repository", func(t *testing.T) {
		runs, err := a.List(ctx)
		if err != nil || len(runs) != 0 {
			t.Fatalf("List = %v, %v", runs, err)
		}
	})

	ids := []string{"20261124-090000-000001", "20261125-180512-a1b2c3", "20261125-100000-00000f"}
	for _, id := range ids {
		if err := a.Create(ctx, newRun(id)); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Append(ctx, ids[1], approval("alice")); err != nil {
		t.Fatal(err)
	}
	if err := a.SaveCache(ctx, pipeline.CacheEntry{Stage: "build", Digest: "sha256:" + strings.Repeat("a", 64), Run: ids[0]}); err != nil {
		t.Fatal(err)
	}
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, tag := range []string{"latest", "20261126-000000-abcdef"} { // not runs, one looks like one
		if err := remote.Write(mustTag(t, ref, tag), img, remote.WithContext(ctx)); err != nil {
			t.Fatal(err)
		}
	}

	runs, err := newStore(t, ref).List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range runs {
		got = append(got, r.ID)
	}
	want := []string{"20261125-180512-a1b2c3", "20261125-100000-00000f", "20261124-090000-000001"}
	if !slices.Equal(got, want) {
		t.Errorf("List = %q, want %q", got, want)
	}
	if len(runs) == 3 && !slices.Equal(approvers(runs[0]), []string{"alice"}) {
		t.Errorf("List did not replay the journal: approvals %q", approvers(runs[0]))
	}

	if _, err := a.Load(ctx, "20261126-000000-abcdef"); err == nil || !strings.Contains(err.Error(), "not a ferry run") {
		t.Errorf("Load of an image tag = %v, want a not-a-run error", err)
	}
}
