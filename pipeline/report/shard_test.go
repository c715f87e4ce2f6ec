package report

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ferry-ci/ferry/pipeline"
	"github.com/ferry-ci/ferry/pipeline/config"
	"github.com/ferry-ci/ferry/triggers"
)

// bigPlan plans a push that changes every service of a config with n services, made in code
// the way ferry.yaml would make it.
func bigPlan(t testing.TB, n int) *pipeline.Plan {
	t.Helper()
	cfg := &config.Config{Version: 1, Trunk: "main", Triggers: []*config.Trigger{{Name: "feature", Event: "push",
		Branches: config.RefFilter{Include: []string{"feature/*"}}, Stages: []string{"build", "test"}}}}
	for i := range n {
		cfg.Services = append(cfg.Services, &config.Service{Name: fmt.Sprintf("svc-%04d", i), Path: fmt.Sprintf("src/svc-%04d", i)})
	}
	plan, err := pipeline.NewPlan(cfg, triggers.Event{Kind: triggers.Push, Ref: "refs/heads/feature/x"},
		triggers.Changes{All: true, Reason: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Services) != n {
		t.Fatalf("plan has %d services, want %d", len(plan.Services), n)
	}
	return plan
}

// entryServices is every entry's services, split.
func entryServices(entries []MatrixEntry) [][]string {
	out := make([][]string, len(entries))
	for i, e := range entries {
		out[i] = strings.Fields(e.Services)
	}
	return out
}

// checkCover fails unless the entries run every planned service exactly once.
func checkCover(t *testing.T, plan *pipeline.Plan, entries []MatrixEntry) {
	t.Helper()
	seen := map[string]int{}
	for _, names := range entryServices(entries) {
		if len(names) == 0 {
			t.Error("an entry runs no service")
		}
		for _, n := range names {
			seen[n]++
		}
	}
	for _, s := range plan.Services {
		if seen[s.Name] != 1 {
			t.Errorf("%s is in %d entries, want 1", s.Name, seen[s.Name])
		}
		delete(seen, s.Name)
	}
	for n := range seen {
		t.Errorf("%s is in the matrix but not in the plan", n)
	}
}

func TestMatrixShards1000Services(t *testing.T) {
	plan := bigPlan(t, 1000)
	cases := []struct {
		name      string
		o         MatrixOptions
		wantJobs  int
		wantSizes []int // the distinct shard sizes
	}{
		{"default limit", MatrixOptions{}, 256, []int{3, 4}},
		{"explicit limit", MatrixOptions{MaxJobs: 100}, 100, []int{10}},
		{"limit of one", MatrixOptions{MaxJobs: 1}, 1, []int{1000}},
		{"under the limit", MatrixOptions{MaxJobs: 1000}, 1000, []int{1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, ci := range []string{triggers.SourceGitHub, triggers.SourceAzure} {
				entries := outputEntries(t, PlanOutputs(plan, ci, tc.o)["matrix"], ci)
				if len(entries) != tc.wantJobs {
					t.Errorf("%s: %d entries, want %d", ci, len(entries), tc.wantJobs)
				}
				checkCover(t, plan, entries)
				var sizes []int
				for _, names := range entryServices(entries) {
					if !slices.Contains(sizes, len(names)) {
						sizes = append(sizes, len(names))
					}
				}
				slices.Sort(sizes)
				if diff := cmp.Diff(tc.wantSizes, sizes); diff != "" {
					t.Errorf("%s: shard sizes (-want +got):\n%s", ci, diff)
				}
			}
		})
	}
}

// outputEntries decodes a matrix output of either shape, in job order.
func outputEntries(t *testing.T, matrix, ci string) []MatrixEntry {
	t.Helper()
	if ci == triggers.SourceAzure {
		var m map[string]MatrixEntry
		if err := json.Unmarshal([]byte(matrix), &m); err != nil {
			t.Fatal(err)
		}
		var out []MatrixEntry
		for _, k := range slices.Sorted(func(yield func(string) bool) {
			for k := range m {
				if !yield(k) {
					return
				}
			}
		}) {
			out = append(out, m[k])
		}
		return out
	}
	var m GitHubMatrixValue
	if err := json.Unmarshal([]byte(matrix), &m); err != nil {
		t.Fatal(err)
	}
	return m.Include
}

func TestShardEntryFields(t *testing.T) {
	plan := bigPlan(t, 5)
	got := GitHubMatrix(plan, MatrixOptions{MaxJobs: 2}).Include
	want := []MatrixEntry{
		{Service: "shard-1", Services: "svc-0000 svc-0001 svc-0002", Pipeline: "feature", Stages: "build,test"},
		{Service: "shard-2", Services: "svc-0003 svc-0004", Pipeline: "feature", Stages: "build,test"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("sharded matrix (-want +got):\n%s", diff)
	}
	az := AzureMatrix(plan, MatrixOptions{MaxJobs: 2})
	if _, ok := az["shard_1"]; !ok || len(az) != 2 {
		t.Errorf("Azure job names: %v", slices.Collect(func(yield func(string) bool) {
			for k := range az {
				yield(k)
			}
		}))
	}
	// Under the limit an entry is one service, named in both fields.
	one := GitHubMatrix(plan, MatrixOptions{}).Include[0]
	if one.Service != "svc-0000" || one.Services != "svc-0000" {
		t.Errorf("unsharded entry = %+v", one)
	}
	if got := shardName(9, 256); got != "shard-010" {
		t.Errorf("shardName(9, 256) = %s", got)
	}
}

func TestShardBalanceByDuration(t *testing.T) {
	plan := bigPlan(t, 6)
	m := time.Minute
	cases := []struct {
		name      string
		durations map[string]time.Duration
		n         int
		want      [][]string
	}{
		{
			// LPT: 10 → A, 6 → B, 5 → B (11), 3 → A (13), 2 → B (13), 1 → A (the lower of a tie).
			name: "longest first into the least loaded shard",
			durations: map[string]time.Duration{"svc-0000": 10 * m, "svc-0001": 6 * m, "svc-0002": 5 * m,
				"svc-0003": 3 * m, "svc-0004": 2 * m, "svc-0005": 1 * m},
			n:    2,
			want: [][]string{{"svc-0000", "svc-0003", "svc-0005"}, {"svc-0001", "svc-0002", "svc-0004"}},
		},
		{
			// One long service gets a shard of its own; the short ones share the other.
			name: "a long service alone",
			durations: map[string]time.Duration{"svc-0000": time.Second, "svc-0001": time.Second, "svc-0002": time.Hour,
				"svc-0003": time.Second, "svc-0004": time.Second, "svc-0005": time.Second},
			n:    2,
			want: [][]string{{"svc-0000", "svc-0001", "svc-0003", "svc-0004", "svc-0005"}, {"svc-0002"}},
		},
		{
			// Unmeasured services weigh the mean of the measured ones (here 2m): 3 → A, 2 → B,
			// 2 → C, 2 → B, 2 → C, and the 1m service tops A up to 4m like the others.
			name:      "unmeasured services weigh the mean",
			durations: map[string]time.Duration{"svc-0000": 3 * m, "svc-0001": 1 * m},
			n:         3,
			want:      [][]string{{"svc-0000", "svc-0001"}, {"svc-0002", "svc-0004"}, {"svc-0003", "svc-0005"}},
		},
		{
			name:      "no durations: consecutive runs by count",
			durations: nil,
			n:         4,
			want:      [][]string{{"svc-0000", "svc-0001"}, {"svc-0002", "svc-0003"}, {"svc-0004"}, {"svc-0005"}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := MatrixOptions{MaxJobs: tc.n, Durations: tc.durations}
			got := entryServices(GitHubMatrix(plan, o).Include)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("shards (-want +got):\n%s", diff)
			}
			// The same inputs always give the same matrix.
			if again := entryServices(GitHubMatrix(plan, o).Include); !cmp.Equal(got, again) {
				t.Errorf("second matrix differs: %v", again)
			}
		})
	}
}

// BenchmarkShardedMatrix1000 writes the matrix outputs of a 1000-service plan in 256 shards
// balanced by durations, for GitHub ($GITHUB_OUTPUT lines) and for Azure Pipelines
// (##vso[task.setvariable] commands): what ferry plan adds to a plan that large.
//
//	go test -run '^$' -bench ShardedMatrix1000 -benchmem -count 3 ./pipeline/report/
func BenchmarkShardedMatrix1000(b *testing.B) {
	plan := bigPlan(b, 1000)
	durations := map[string]time.Duration{}
	for i, s := range plan.Services {
		durations[s.Name] = time.Duration(1+i%17) * time.Minute
	}
	o := MatrixOptions{Durations: durations}
	for _, ci := range []struct {
		name  string
		write func(io.Writer, map[string]string) error
	}{
		{triggers.SourceGitHub, WriteGitHubOutputs},
		{triggers.SourceAzure, WriteAzureOutputs},
	} {
		b.Run(ci.name, func(b *testing.B) {
			var out countWriter
			if err := ci.write(&out, PlanOutputs(plan, ci.name, o)); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if err := ci.write(io.Discard, PlanOutputs(plan, ci.name, o)); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(out), "output-B")
		})
	}
}

// countWriter counts the bytes written to it.
type countWriter int64

func (c *countWriter) Write(p []byte) (int, error) {
	*c += countWriter(len(p))
	return len(p), nil
}
