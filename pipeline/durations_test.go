package pipeline_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ferry-ci/ferry/pipeline"
)

// listStore is a store that only lists runs, newest first.
type listStore struct {
	pipeline.Store
	runs []*pipeline.Run
}

func (s listStore) List(context.Context) ([]*pipeline.Run, error) { return s.runs, nil }

func TestLastDurations(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ran := func(d time.Duration) *pipeline.StageState {
		return &pipeline.StageState{ID: "build", Status: pipeline.Succeeded, Started: t0, Ended: t0.Add(d)}
	}
	cached := &pipeline.StageState{ID: "test", Status: pipeline.Skipped, Reason: "same inputs as run x", Ended: t0}
	runs := []*pipeline.Run{
		{ID: "newest", Services: []*pipeline.ServiceRun{
			{Name: "a", Stages: []*pipeline.StageState{ran(2 * time.Minute), ran(time.Minute)}},
			{Name: "b", Stages: []*pipeline.StageState{cached}}, // says nothing about b
		}},
		{ID: "older", Services: []*pipeline.ServiceRun{
			{Name: "a", Stages: []*pipeline.StageState{ran(time.Hour)}},
			{Name: "b", Stages: []*pipeline.StageState{ran(5 * time.Minute), cached}},
			{Name: "gone", Stages: []*pipeline.StageState{ran(time.Minute)}},
		}},
	}
	got, err := pipeline.LastDurations(t.Context(), listStore{runs: runs}, []string{"a", "b", "never"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]time.Duration{"a": 3 * time.Minute, "b": 5 * time.Minute}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("durations (-want +got):\n%s", diff)
	}
}
