package ocistore

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-ci/ferry/internal/registrytest"
	"github.com/ferry-ci/ferry/internal/testenv"
	"github.com/ferry-ci/ferry/pipeline"
)

// cost is what went through the counting proxy.
type cost struct {
	requests int
	bytes    int64 // request bodies of blob uploads and manifest PUTs
}

func since(p *registrytest.Proxy, before registrytest.Stats) cost {
	s := p.Stats()
	return cost{s.Requests - before.Requests, s.BlobBytes + s.ManifestBytes - before.BlobBytes - before.ManifestBytes}
}

// stagesRun is a run of services × stages, the stages named s00, s01, ...
func stagesRun(id string, services, stages int) *pipeline.Run {
	plan := &pipeline.Plan{Reason: "bench"}
	for i := range services {
		sp := pipeline.ServicePlan{Name: fmt.Sprintf("svc-%03d", i), Pipeline: "release"}
		for j := range stages {
			sp.Stages = append(sp.Stages, pipeline.StageID(fmt.Sprintf("s%02d", j)))
		}
		plan.Services = append(plan.Services, sp)
	}
	return pipeline.NewRun(id, created, plan, "sha256:config", pipeline.RunOptions{})
}

// stageAppend writes a stage's log line and journals its new status, as the engine does when a
// stage starts and when it ends.
func stageAppend(tb testing.TB, s *Store, id string, svc, stage int, st pipeline.Status) {
	tb.Helper()
	name := fmt.Sprintf("svc-%03d", svc)
	rel := fmt.Sprintf("logs/%s/s%02d.log", name, stage)
	f, err := os.OpenFile(filepath.Join(s.Dir(id), filepath.FromSlash(rel)), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		tb.Fatal(err)
	}
	fmt.Fprintf(f, "%s s%02d %s: %s\n", name, stage, st, strings.Repeat("output ", 10))
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
	rec := pipeline.Record{Time: created, Stage: &pipeline.StageRecord{Service: name, State: pipeline.StageState{
		ID: pipeline.StageID(fmt.Sprintf("s%02d", stage)), Status: st, Started: created, Ended: created, Log: rel,
		InputsDigest: "sha256:" + strings.Repeat("0", 64)}}}
	if err := s.Append(tb.Context(), id, rec); err != nil {
		tb.Fatal(err)
	}
}

// playRun journals every stage of every service, one after the other (the worst case: no two
// appends share a push), and returns the cost of each append and of the final Sync.
func playRun(tb testing.TB, p *registrytest.Proxy, s *Store, id string, services, stages int) ([]cost, cost) {
	tb.Helper()
	if err := s.Create(tb.Context(), stagesRun(id, services, stages)); err != nil {
		tb.Fatal(err)
	}
	for svc := range services {
		if err := os.MkdirAll(filepath.Join(s.Dir(id), "logs", fmt.Sprintf("svc-%03d", svc)), 0o755); err != nil {
			tb.Fatal(err)
		}
	}
	var costs []cost
	for svc := range services {
		for stage := range stages {
			for _, st := range []pipeline.Status{pipeline.Running, pipeline.Succeeded} {
				before := p.Stats()
				stageAppend(tb, s, id, svc, stage, st)
				costs = append(costs, since(p, before))
			}
		}
	}
	before := p.Stats()
	if err := s.Sync(tb.Context(), id); err != nil {
		tb.Fatal(err)
	}
	return costs, since(p, before)
}

// countingStore opens a store through a counting proxy in front of a registry (host:port).
func countingStore(tb testing.TB, upstream string) (*registrytest.Proxy, *Store) {
	tb.Helper()
	p := registrytest.NewProxy(tb, upstream, registrytest.Faults{})
	s, err := New(tb.Context(), "oci://"+p.Host()+"/ferry/runs", Options{CacheDir: tb.TempDir()})
	if err != nil {
		tb.Fatal(err)
	}
	return p, s
}

func sum(cs []cost) cost {
	var t cost
	for _, c := range cs {
		t.requests += c.requests
		t.bytes += c.bytes
	}
	return t
}

// The cost of an append does not grow with the journal: 96 appends late in a 400-append run
// upload as many bytes and make as many requests as 96 appends early in it (both windows
// start on a page and their record numbers have as many digits), and no append costs more than
// a full page's worth. The counts do not depend on the registry, so the in-memory one serves.
func TestAppendCostDoesNotGrow(t *testing.T) {
	p, s := countingStore(t, registrytest.InMemory(t))
	costs, _ := playRun(t, p, s, runID, 20, 10) // 400 appends, 2 layers each: 8 appends a page
	early, late := sum(costs[104:200]), sum(costs[296:392])
	t.Logf("appends 104-199: %d requests, %d bytes; appends 296-391: %d requests, %d bytes",
		early.requests, early.bytes, late.requests, late.bytes)
	if late.requests != early.requests {
		t.Errorf("late appends made %d requests, early ones %d", late.requests, early.requests)
	}
	if late.bytes > early.bytes+early.bytes/200 {
		t.Errorf("late appends uploaded %d bytes, early ones %d: the cost grows with the journal", late.bytes, early.bytes)
	}
	for i, c := range costs {
		if c.bytes > 5<<10 || c.requests > 12 {
			t.Errorf("append %d cost %d requests, %d bytes; want at most 12 and 5 KiB", i, c.requests, c.bytes)
		}
	}
}

// BenchmarkAppends plays the journal of a services × 10-stage run (two appends per stage, a
// log chunk with each) against the real registry through a counting proxy, and reports the
// bytes uploaded and requests made per append, and by the final Sync (the fold).
//
//	go test -run '^$' -bench Appends -benchtime 1x ./pipeline/ocistore/
func BenchmarkAppends(b *testing.B) {
	for _, services := range []int{10, 100} {
		b.Run(fmt.Sprintf("services=%d", services), func(b *testing.B) {
			p, s := countingStore(b, testenv.Registry(b))
			var all []cost
			var syncs cost
			var journal int64
			for i := 0; b.Loop(); i++ {
				id := fmt.Sprintf("20261125-180512.%03d-bench0", i)
				costs, sc := playRun(b, p, s, id, services, 10)
				all = append(all, costs...)
				syncs.requests += sc.requests
				syncs.bytes += sc.bytes
				if info, err := os.Stat(filepath.Join(s.Dir(id), "journal.jsonl")); err == nil {
					journal += info.Size()
				}
			}
			t := sum(all)
			n := float64(len(all))
			runs := n / float64(services*20)
			b.ReportMetric(float64(t.bytes)/n, "B/append")
			b.ReportMetric(float64(t.requests)/n, "requests/append")
			b.ReportMetric(float64(t.bytes)/runs, "append-B/run")
			b.ReportMetric(float64(syncs.bytes)/runs, "sync-B/run")
			b.ReportMetric(float64(syncs.requests)/runs, "sync-requests/run")
			b.ReportMetric(float64(journal)/runs, "journal-B/run")
		})
	}
}
