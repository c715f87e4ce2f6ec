package pipeline_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-ci/ferry/pipeline"
	"github.com/ferry-ci/ferry/pipeline/config"
	"github.com/ferry-ci/ferry/pipeline/mask"
	"github.com/ferry-ci/ferry/triggers"
)

// Engine benchmarks: the engine's own cost per stage, with stages that do nothing, through a
// real LocalStore in a temporary folder (every journal append is fsynced). Figures and targets
// are in docs/PERFORMANCE.md.

// noopStage does nothing; cacheable makes the engine look results up in the cache.
type noopStage struct{ name string }

func (s noopStage) Name() string                                     { return s.name }
func (s noopStage) Run(ctx context.Context, job *pipeline.Job) error { return nil }

type cacheableNoop struct{ noopStage }

func (cacheableNoop) Inputs(ctx context.Context, job *pipeline.Job) ([]byte, error) {
	return []byte("v1"), nil
}

// discardReporter takes the events, as a renderer would, and drops them.
type discardReporter struct{ n atomic.Int64 }

func (d *discardReporter) Report(pipeline.Event) { d.n.Add(1) }

// benchPlan is a config of n services whose trigger expands to 10 stages each: build, test,
// image, scan, push, chart, deploy:qa, approve:prod, promote:prod, deploy:prod; and the plan
// of a push that changed every service.
func benchPlan(b *testing.B, n int) (*config.Config, *pipeline.Plan) {
	b.Helper()
	var y strings.Builder
	y.WriteString("version: 1\nregistry: registry.example.com\nservices:\n")
	var changed []string
	for i := range n {
		fmt.Fprintf(&y, "  s%03d: {path: src/s%03d}\n", i, i)
		changed = append(changed, fmt.Sprintf("src/s%03d/main.go", i))
	}
	y.WriteString(`triggers:
  feature: {branches: {include: ['feature/*']}, stages: [build, test, image, scan, push, chart, deploy]}
environments:
  - {name: qa, namespace: qa}
  - {name: prod, namespace: prod, registryNamespace: prod, approval: {signed: false, approvers: [alice@example.com], minApprovals: 1}}
`)
	cfg, err := config.Parse("ferry.yaml", "", []byte(y.String()))
	if err != nil {
		b.Fatal(err)
	}
	cfg.Root = b.TempDir()
	ev := triggers.Event{Kind: triggers.Push, Ref: "refs/heads/feature/bench", After: "abc", Source: "flags"}
	plan, err := pipeline.NewPlan(cfg, ev, triggers.Changes{Paths: changed})
	if err != nil {
		b.Fatal(err)
	}
	if len(plan.Services) != n || len(plan.Services[0].Stages) != 10 {
		b.Fatalf("plan has %d services of %d stages, want %d of 10", len(plan.Services), len(plan.Services[0].Stages), n)
	}
	return cfg, plan
}

// benchEngine is an engine as the CLI builds it (store, masker, reporter) with no-op stages.
func benchEngine(b *testing.B, cfg *config.Config, cacheable bool) *pipeline.Engine {
	b.Helper()
	store, err := pipeline.NewLocalStore(filepath.Join(b.TempDir(), ".ferry"))
	if err != nil {
		b.Fatal(err)
	}
	var impls []pipeline.Stage
	for _, name := range config.AllStages() {
		if cacheable {
			impls = append(impls, cacheableNoop{noopStage{name}})
		} else {
			impls = append(impls, noopStage{name})
		}
	}
	stages, err := pipeline.NewStageSet(impls...)
	if err != nil {
		b.Fatal(err)
	}
	return &pipeline.Engine{Config: cfg, Store: store, Stages: stages, Masker: mask.New(), Reporter: &discardReporter{},
		Host: "bench", PID: 1}
}

func stageCount(plan *pipeline.Plan) int {
	n := 0
	for _, sp := range plan.Services {
		n += len(sp.Stages)
	}
	return n
}

// BenchmarkEngineNoOp100x10 runs 100 services × 10 no-op stages with --jobs 8 (and 1, to show
// what the parallelism buys). Targets: ≤ 1 ms of engine time per stage, ≤ 1 s per run at
// --jobs 8.
func BenchmarkEngineNoOp100x10(b *testing.B) {
	for _, jobs := range []int{8, 1} {
		b.Run(fmt.Sprintf("jobs=%d", jobs), func(b *testing.B) {
			cfg, plan := benchPlan(b, 100)
			eng := benchEngine(b, cfg, false)
			runs := 0
			for b.Loop() {
				run, err := eng.Start(b.Context(), plan, pipeline.RunOptions{Jobs: jobs})
				if err != nil {
					b.Fatal(err)
				}
				if run.Status() != pipeline.Succeeded {
					b.Fatalf("run %s: %v", run.ID, run.Status())
				}
				runs++
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(runs*stageCount(plan)), "ns/stage")
			b.ReportMetric(b.Elapsed().Seconds()/float64(runs), "s/run")
		})
	}
}

// BenchmarkEngineCachedRerun re-runs the plan of BenchmarkEngineNoOp100x10 at an unchanged
// commit (same sources digest) with cacheable stages: every stage must be skipped, reusing the
// first run's results.
func BenchmarkEngineCachedRerun(b *testing.B) {
	cfg, plan := benchPlan(b, 100)
	eng := benchEngine(b, cfg, true)
	eng.Sources = fixedSources{"tree-1"}
	first, err := eng.Start(b.Context(), plan, pipeline.RunOptions{Jobs: 8})
	if err != nil || first.Status() != pipeline.Succeeded {
		b.Fatalf("first run: %v %v", err, first.Status())
	}
	runs := 0
	for b.Loop() {
		run, err := eng.Start(b.Context(), plan, pipeline.RunOptions{Jobs: 8})
		if err != nil {
			b.Fatal(err)
		}
		for _, svc := range run.Services {
			for _, s := range svc.Stages {
				if s.Status != pipeline.Skipped || s.CachedFrom != first.ID {
					b.Fatalf("re-run: %s %s is %s (%s), want skipped with the result of %s", svc.Name, s.ID, s.Status, s.Reason, first.ID)
				}
			}
		}
		runs++
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(runs*stageCount(plan)), "ns/stage")
	b.ReportMetric(b.Elapsed().Seconds()/float64(runs), "s/run")
}

// BenchmarkJournalAppend appends stage records to one run's journal from 1, 8 and 64
// goroutines: ns/op is per append. With group commit, concurrent appends share fsyncs, so the
// cost per append falls as appenders are added.
func BenchmarkJournalAppend(b *testing.B) {
	for _, g := range []int{1, 8, 64} {
		b.Run(fmt.Sprintf("goroutines=%d", g), func(b *testing.B) {
			store, err := pipeline.NewLocalStore(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			plan := &pipeline.Plan{Services: []pipeline.ServicePlan{{Name: "a", Pipeline: "feature", Stages: []pipeline.StageID{"build"}}}}
			run := pipeline.NewRun(pipeline.NewRunID(time.Now()), time.Now(), plan, "sha256:x", pipeline.RunOptions{})
			if err := store.Create(b.Context(), run); err != nil {
				b.Fatal(err)
			}
			rec := pipeline.Record{Time: time.Now(), Stage: &pipeline.StageRecord{Service: "a", State: pipeline.StageState{
				ID: "build", Status: pipeline.Running, Started: time.Now(), Attempts: 1, Log: "logs/a/build.log",
				InputsDigest: "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}}}
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			for range g {
				wg.Go(func() {
					for next.Add(1) <= int64(b.N) {
						if err := store.Append(b.Context(), run.ID, rec); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
		})
	}
}

// BenchmarkFilesystem calibrates the machine for the figures above: what creating a file and a
// folder costs where the store lives (b.TempDir, so $TMPDIR). The engine creates a log file
// and a work folder for every stage, so on a filesystem where these are slow they dominate.
func BenchmarkFilesystem(b *testing.B) {
	for _, tc := range []struct {
		name string
		op   func(path string) error
	}{
		{"create", func(path string) error {
			f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o644)
			if err != nil {
				return err
			}
			return f.Close()
		}},
		{"mkdir", func(path string) error { return os.Mkdir(path, 0o755) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			dir := b.TempDir()
			i := 0
			for b.Loop() {
				if err := tc.op(filepath.Join(dir, strconv.Itoa(i))); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
