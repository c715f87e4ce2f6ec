package ocistore

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/ferry-ci/ferry/internal/registrytest"
	"github.com/ferry-ci/ferry/pipeline"
)

const (
	processes        = 8
	appendsPerWriter = 20
)

// shardedRun is a run of one service per writer process, each with one build stage.
func shardedRun(id string) *pipeline.Run {
	plan := &pipeline.Plan{Reason: "test"}
	for i := range processes {
		plan.Services = append(plan.Services, pipeline.ServicePlan{
			Name: fmt.Sprintf("svc-%d", i), Pipeline: "feature", Stages: []pipeline.StageID{"build"},
		})
	}
	return pipeline.NewRun(id, created, plan, "sha256:config", pipeline.RunOptions{})
}

// TestWriterProcess is one CI job of TestProcessesAppendConcurrently when the test binary is run
// again with FERRY_OCISTORE_WRITER set; otherwise it does nothing.
func TestWriterProcess(t *testing.T) {
	n := os.Getenv("FERRY_OCISTORE_WRITER")
	if n == "" {
		return // only meaningful as a child process
	}
	ctx := t.Context()
	s, err := New(ctx, os.Getenv("FERRY_OCISTORE_REF"), Options{CacheDir: os.Getenv("FERRY_OCISTORE_CACHE")})
	if err != nil {
		t.Fatal(err)
	}
	id := os.Getenv("FERRY_OCISTORE_RUN")
	if _, err := s.Load(ctx, id); err != nil {
		t.Fatal(err)
	}
	svc := "svc-" + n
	logRel := "logs/" + svc + "/build.log"
	logPath := filepath.Join(s.Dir(id), filepath.FromSlash(logRel))
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		t.Fatal(err)
	}
	for j := range appendsPerWriter {
		f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(f, "%s line %d\n", svc, j)
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		st := pipeline.Running
		if j == appendsPerWriter-1 {
			st = pipeline.Succeeded
		}
		stage := pipeline.Record{Time: created, Stage: &pipeline.StageRecord{Service: svc, State: pipeline.StageState{
			ID: "build", Status: st, Started: created, Log: logRel}}}
		if err := s.Append(ctx, id, approval(fmt.Sprintf("w%s-%02d", n, j)), stage); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Sync(ctx, id); err != nil {
		t.Fatal(err)
	}
}

// Eight processes, each with its own working copy, append to one run at the same time on the
// real registry; a ninth working copy sees every record of every writer and every log.
func TestProcessesAppendConcurrently(t *testing.T) {
	ctx := t.Context()
	ref := registryRef(t)
	creator := newStore(t, ref)
	if err := creator.Create(ctx, shardedRun(runID)); err != nil {
		t.Fatal(err)
	}
	cmds := make([]*exec.Cmd, processes)
	outs := make([]strings.Builder, processes)
	for i := range processes {
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestWriterProcess$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), "FERRY_OCISTORE_WRITER="+strconv.Itoa(i), "FERRY_OCISTORE_REF="+ref,
			"FERRY_OCISTORE_RUN="+runID, "FERRY_OCISTORE_CACHE="+t.TempDir())
		cmd.Stdout, cmd.Stderr = &outs[i], &outs[i]
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds[i] = cmd
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("writer %d: %v\n%s", i, err, outs[i].String())
		}
	}

	ninth := newStore(t, ref)
	run, err := ninth.Load(ctx, runID)
	if err != nil {
		tags, _ := remote.List(mustTag(t, ref, runID).Context(), remote.WithContext(ctx))
		for _, tg := range tags {
			_, gerr := remote.Get(mustTag(t, ref, tg), remote.WithContext(ctx))
			t.Logf("tag %s: %v", tg, gerr)
		}
		for i := range outs {
			t.Logf("writer %d:\n%s", i, outs[i].String())
		}
		t.Fatal(err)
	}
	got := approvers(run)
	var want []string
	for i := range processes {
		var mine []string
		for j := range appendsPerWriter {
			want = append(want, fmt.Sprintf("w%d-%02d", i, j))
		}
		for _, a := range got {
			if strings.HasPrefix(a, fmt.Sprintf("w%d-", i)) {
				mine = append(mine, a)
			}
		}
		if !slices.IsSorted(mine) {
			t.Errorf("writer %d's records out of order: %q", i, mine)
		}
	}
	sorted := slices.Sorted(slices.Values(got))
	if !slices.Equal(sorted, want) {
		t.Errorf("the ninth copy has %d approvals, want %d:\n%q", len(got), len(want), sorted)
	}
	for i, svc := range run.Services {
		if st := svc.Stages[0]; st.Status != pipeline.Succeeded {
			t.Errorf("%s build is %s, want succeeded", svc.Name, st.Status)
		}
		data, err := readLog(t, ninth, runID, fmt.Sprintf("logs/svc-%d/build.log", i))
		if err != nil || strings.Count(data, "\n") != appendsPerWriter {
			t.Errorf("log of svc-%d: %d lines, %v", i, strings.Count(data, "\n"), err)
		}
	}
	// Every writer folded its pages when it synced: one page each.
	tags, err := remote.List(mustTag(t, ref, runID).Context(), remote.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	if len(tags) != 1+processes {
		t.Errorf("%d tags after the writers synced, want the root and one page per writer: %q", len(tags), tags)
	}
	// Every machine merges in the same order.
	again, err := newStore(t, ref).Load(ctx, runID)
	if err != nil {
		t.Fatal(err)
	}
	if mustJSON(t, again) != mustJSON(t, run) {
		t.Error("two working copies merged the writers differently")
	}
}

// Pages fill up and stay; every replaced manifest is deleted; Sync folds the pages into one.
func TestPagesAndFold(t *testing.T) {
	ctx := t.Context()
	ref := registryRef(t)
	a := newStore(t, ref)
	a.pageLayers = 4
	if err := a.Create(ctx, newRun(runID)); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(a.Dir(runID), "logs", "api", "build.log")
	var digests []v1.Hash
	var want []string
	for i := range 10 {
		writeFile(t, logPath, strings.Repeat("x\n", i+1))
		if err := a.Append(ctx, runID, approval(fmt.Sprintf("u%02d", i))); err != nil {
			t.Fatal(err)
		}
		want = append(want, fmt.Sprintf("u%02d", i))
		digests = append(digests, a.state(runID).pages[a.state(runID).page])
	}
	// Each append adds a segment and a chunk: two appends per page of 4.
	pages := pageTags(t, ref)
	if len(pages) != 5 {
		t.Fatalf("pages %q, want 5", pages)
	}
	for _, p := range pages[:4] {
		if m := getManifest(t, ref, p); m.Annotations[fullAnnotation] != "true" || len(m.Layers) != 4 {
			t.Errorf("page %s: %d layers, annotations %v; want full with 4", p, len(m.Layers), m.Annotations)
		}
	}
	// The first append's manifest of each page was replaced by the second one and deleted.
	for i := 0; i < 10; i += 2 {
		if _, err := remote.Get(mustDigest(t, ref, digests[i]), remote.WithContext(ctx)); err == nil {
			t.Errorf("replaced manifest %s of append %d is still there", short(digests[i]), i)
		}
	}

	b := newStore(t, ref)
	check := func(stage string) {
		t.Helper()
		got, err := b.Load(ctx, runID)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(approvers(got), want) {
			t.Errorf("%s: approvals %q, want %q", stage, approvers(got), want)
		}
		if log, err := os.ReadFile(filepath.Join(b.Dir(runID), "logs", "api", "build.log")); err != nil || string(log) != strings.Repeat("x\n", 10) {
			t.Errorf("%s: log %q, %v", stage, log, err)
		}
	}
	check("before the fold")

	if err := a.Sync(ctx, runID); err != nil {
		t.Fatal(err)
	}
	pages = pageTags(t, ref)
	if len(pages) != 1 {
		t.Fatalf("pages after Sync %q, want one", pages)
	}
	segs := 0
	for _, l := range getManifest(t, ref, pages[0]).Layers {
		if l.MediaType == SegmentMediaType {
			segs++
		}
	}
	if segs != 1 {
		t.Errorf("folded page has %d segments, want 1", segs)
	}
	check("after the fold, reader with cached pages")
	b = newStore(t, ref)
	check("after the fold, fresh reader")

	// Appends go on after a fold.
	if err := a.Append(ctx, runID, approval("late")); err != nil {
		t.Fatal(err)
	}
	want = append(want, "late")
	check("after a late append")
}

func pageTags(t *testing.T, ref string) []string {
	t.Helper()
	tags, err := remote.List(mustTag(t, ref, runID).Context(), remote.WithContext(t.Context()))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, tg := range tags {
		if strings.HasPrefix(tg, runID+"_") {
			out = append(out, tg)
		}
	}
	slices.Sort(out)
	return out
}

func mustDigest(t *testing.T, ref string, h v1.Hash) name.Digest {
	t.Helper()
	d, err := name.NewDigest(strings.TrimPrefix(ref, "oci://") + "@" + h.String())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// refuseDeletes is a registry that answers DELETE as distribution does without delete enabled.
func refuseDeletes(t *testing.T) string {
	t.Helper()
	up, err := url.Parse("http://" + registrytest.InMemory(t))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodDelete {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusMethodNotAllowed)
			_, _ = w.Write([]byte(`{"errors":[{"code":"UNSUPPORTED","message":"The operation is unsupported."}]}`))
			return
		}
		proxy := &http.Transport{}
		r.URL.Scheme, r.URL.Host, r.RequestURI = up.Scheme, up.Host, ""
		resp, err := proxy.RoundTrip(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	}))
	t.Cleanup(srv.Close)
	return "oci://" + strings.TrimPrefix(srv.URL, "http://") + "/ferry/runs"
}

// A registry that refuses deletes keeps the replaced manifests; appends, loads and syncs work.
func TestDeletesRefused(t *testing.T) {
	ctx := t.Context()
	ref := refuseDeletes(t)
	a := newStore(t, ref)
	a.pageLayers = 2
	if err := a.Create(ctx, newRun(runID)); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if err := a.Append(ctx, runID, approval(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Sync(ctx, runID); err != nil {
		t.Fatal(err)
	}
	got, err := newStore(t, ref).Load(ctx, runID)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"0", "1", "2", "3", "4"}; !slices.Equal(approvers(got), want) {
		t.Errorf("approvals %q, want %q", approvers(got), want)
	}
	err = a.DeleteRun(ctx, runID)
	if err == nil || !strings.Contains(err.Error(), "REGISTRY_STORAGE_DELETE_ENABLED=true") {
		t.Errorf("DeleteRun on a registry that refuses deletes = %v", err)
	}
}

func TestDeleteRun(t *testing.T) {
	for _, reg := range registries {
		t.Run(reg.name, func(t *testing.T) {
			ctx := t.Context()
			ref := reg.ref(t)
			a, b := newStore(t, ref), newStore(t, ref)
			keep := "20261125-000000-00000k"
			for _, id := range []string{runID, keep} {
				if err := a.Create(ctx, newRun(id)); err != nil {
					t.Fatal(err)
				}
				if err := a.Append(ctx, id, approval("a")); err != nil {
					t.Fatal(err)
				}
			}
			if err := b.Append(ctx, runID, approval("b")); err != nil {
				t.Fatal(err)
			}
			if err := a.DeleteRun(ctx, runID); err != nil {
				t.Fatal(err)
			}
			if _, err := newStore(t, ref).Load(ctx, runID); !errors.Is(err, pipeline.ErrRunNotFound) {
				t.Errorf("Load after DeleteRun = %v, want ErrRunNotFound", err)
			}
			if _, err := os.Stat(a.Dir(runID)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("working copy left: %v", err)
			}
			if pages := pageTags(t, ref); len(pages) != 0 {
				t.Errorf("pages left: %q", pages)
			}
			if runs, err := newStore(t, ref).List(ctx); err != nil || len(runs) != 1 || runs[0].ID != keep {
				t.Errorf("List after DeleteRun = %v, %v", runs, err)
			}
			if err := a.DeleteRun(ctx, runID); !errors.Is(err, pipeline.ErrRunNotFound) {
				t.Errorf("second DeleteRun = %v, want ErrRunNotFound", err)
			}
		})
	}
}

// A run written by the first layout (one tag, the whole journal as layer 0, a layer per log)
// loads, takes appends, and its logs read from the registry.
func TestFirstLayoutRunLoads(t *testing.T) {
	ctx := t.Context()
	ref := registryRef(t)
	run := newRun(runID)
	runJSON, err := json.MarshalIndent(run, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	var journal []byte
	for _, r := range []pipeline.Record{stageRec(pipeline.Succeeded, "build", "logs/api/build.log"), approval("old")} {
		line, _ := json.Marshal(r)
		journal = append(append(journal, line...), '\n')
	}
	w := newStore(t, ref)
	cfg, _ := newBlob(append(runJSON, '\n'), RunMediaType)
	jl, _ := newBlob(journal, JournalMediaType)
	lg, _ := newBlob([]byte("old build log\n"), LogMediaType)
	lg.desc.Annotations = map[string]string{v1TitleAnnotation: "logs/api/build.log"}
	raw, _ := json.Marshal(v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1, ArtifactType: string(RunMediaType),
		Config: cfg.desc, Layers: []v1.Descriptor{jl.desc, lg.desc}})
	if err := w.upload(ctx, []blob{cfg, jl, lg}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.putManifest(ctx, runID, raw); err != nil {
		t.Fatal(err)
	}

	a := newStore(t, ref)
	got, err := a.Load(ctx, runID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Services[0].Stages[0].Status != pipeline.Succeeded || !slices.Equal(approvers(got), []string{"old"}) {
		t.Fatalf("loaded %s", mustJSON(t, got))
	}
	if err := a.Append(ctx, runID, approval("new")); err != nil {
		t.Fatal(err)
	}
	c := newStore(t, ref)
	if log, err := readLog(t, c, runID, "logs/api/build.log"); err != nil || log != "old build log\n" {
		t.Errorf("log from the registry = %q, %v", log, err)
	}
	got, err = c.Load(ctx, runID)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(approvers(got), []string{"old", "new"}) {
		t.Errorf("approvals %q after an append", approvers(got))
	}
}

func TestAssemble(t *testing.T) {
	h := func(s string) v1.Hash { return v1.Hash{Algorithm: "sha256", Hex: s} }
	tests := []struct {
		name   string
		chunks []chunk
		want   []piece
		size   int64
	}{
		{"none", nil, nil, 0},
		{"one writer", []chunk{{h("b"), 5, 5}, {h("a"), 0, 5}},
			[]piece{{h("a"), 0, 5}, {h("b"), 0, 5}}, 10},
		{"another writer extends", []chunk{{h("a"), 0, 5}, {h("c"), 5, 3}, {h("b"), 5, 5}},
			[]piece{{h("a"), 0, 5}, {h("b"), 0, 5}}, 10},
		{"overlap takes the furthest", []chunk{{h("a"), 0, 5}, {h("f"), 0, 8}, {h("b"), 5, 5}},
			[]piece{{h("f"), 0, 8}, {h("b"), 3, 2}}, 10},
		{"duplicates", []chunk{{h("a"), 0, 5}, {h("a"), 0, 5}}, []piece{{h("a"), 0, 5}}, 5},
		{"gap stops", []chunk{{h("a"), 0, 5}, {h("b"), 7, 5}}, []piece{{h("a"), 0, 5}}, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, size := assemble(tt.chunks)
			if !slices.Equal(got, tt.want) || size != tt.size {
				t.Errorf("assemble = %v, %d; want %v, %d", got, size, tt.want, tt.size)
			}
		})
	}
}

func TestPageTags(t *testing.T) {
	tests := []struct {
		tag      string
		id, w    string
		num      int
		ok       bool
		isRunTag bool
	}{
		{pageTag("20261125-180512.000-a1b2c3", "0123456789ab", 7), "20261125-180512.000-a1b2c3", "0123456789ab", 7, true, false},
		{"20261125-180512.000-a1b2c3", "", "", 0, false, true},
		{"cache-build-abc", "", "", 0, false, false},
		{"x_y", "", "", 0, false, false},
		{"x_y-z", "", "", 0, false, false},
		{"x_-1", "", "", 0, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.tag, func(t *testing.T) {
			id, w, num, ok := parsePageTag(tt.tag)
			if ok != tt.ok || id != tt.id || w != tt.w || num != tt.num {
				t.Errorf("parsePageTag = %q %q %d %v", id, w, num, ok)
			}
			if (checkRunID(tt.tag) == nil) != tt.isRunTag {
				t.Errorf("checkRunID(%q) = %v", tt.tag, checkRunID(tt.tag))
			}
			if !tagRE.MatchString(pageTag(strings.Repeat("9", 100), "0123456789ab", 999999)) {
				t.Error("the longest page tag is not a valid tag")
			}
		})
	}
}

// A tag that outlived its manifest's delete (a delete racing another writer's push can leave
// one on distribution) is removed: by name, or through a tombstone where that is unsupported.
func TestDeleteTaggedRemovesLeftoverTag(t *testing.T) {
	for _, reg := range registries {
		t.Run(reg.name, func(t *testing.T) {
			ctx := t.Context()
			ref := reg.ref(t)
			s := newStore(t, ref)
			if err := s.Create(ctx, newRun(runID)); err != nil {
				t.Fatal(err)
			}
			if err := s.Append(ctx, runID, approval("a")); err != nil {
				t.Fatal(err)
			}
			other := "20261125-000000-00000o"
			if err := s.Create(ctx, newRun(other)); err != nil {
				t.Fatal(err)
			}
			d, err := remote.Head(mustTag(t, ref, other), remote.WithContext(ctx))
			if err != nil {
				t.Fatal(err)
			}
			// The page's tag is listed after its manifest "was deleted" (here: another one was):
			// it goes.
			tag := pageTag(runID, s.Writer(), 0)
			if err := s.deleteManifest(ctx, d.Digest); err != nil {
				t.Fatal(err)
			}
			if err := s.removeLeftoverTags(ctx, []string{tag}); err != nil {
				t.Fatal(err)
			}
			if pages := pageTags(t, ref); len(pages) != 0 {
				t.Errorf("tags left: %q", pages)
			}
			got, err := newStore(t, ref).Load(ctx, runID)
			if err != nil || len(got.Approvals) != 0 {
				t.Errorf("Load after the page went = %v, %v", got, err)
			}
		})
	}
}
