package pipeline_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ferry-ci/ferry/pipeline"
)

func TestFilterServices(t *testing.T) {
	stages := []pipeline.StageID{"build", "test"}
	cases := []struct {
		name     string
		services []string
		want     []string
	}{
		{"plan order", []string{"c", "a"}, []string{"a", "c"}},
		{"a duplicate is one service", []string{"b", "b", "a", "b"}, []string{"a", "b"}},
		{"none selects all", nil, []string{"a", "b", "c"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			plan := &pipeline.Plan{Services: []pipeline.ServicePlan{{Name: "a", Stages: stages}, {Name: "b", Stages: stages}, {Name: "c", Stages: stages}}}
			if err := plan.Filter(tc.services, "", ""); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, plan.ServiceNames()); diff != "" {
				t.Errorf("services (-want +got):\n%s", diff)
			}
		})
	}
	plan := &pipeline.Plan{Services: []pipeline.ServicePlan{{Name: "a", Stages: stages}}}
	if err := plan.Filter([]string{"a", "zz"}, "", ""); err == nil {
		t.Error("Filter accepted a service that is not in the plan")
	}
}
