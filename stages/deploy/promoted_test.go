package deploy

import (
	"testing"

	"github.com/ferry-ci/ferry/pipeline"
	"github.com/ferry-ci/ferry/pipeline/config"
)

// TestPromotedRefs: an environment that promotes deploys the promoted chart and image (same
// digests, its registry namespace); the others deploy what the push and chart stages pushed.
func TestPromotedRefs(t *testing.T) {
	const digest, chart = "sha256:1111", "sha256:2222"
	pushedChart := &pipeline.ChartOutput{Ref: "reg/helm/delivery@" + chart, Digest: chart, Name: "delivery", Tag: "1.0.2"}
	svc := &pipeline.ServiceRun{Name: "delivery", Version: "1.0.2", Stages: []*pipeline.StageState{
		{ID: "push", Status: pipeline.Succeeded, Outputs: pipeline.Outputs{Push: &pipeline.PushOutput{Ref: "reg/delivery@" + digest, Digest: digest}}},
		{ID: "chart", Status: pipeline.Succeeded, Outputs: pipeline.Outputs{Chart: pushedChart}},
		{ID: "promote:prod", Status: pipeline.Succeeded, Outputs: pipeline.Outputs{Promote: &pipeline.PromoteOutput{
			PushOutput: pipeline.PushOutput{Ref: "reg/prod/delivery@" + digest, Digest: digest},
			Chart:      &pipeline.PushOutput{Ref: "reg/prod/helm/delivery@" + chart, Digest: chart}}}},
	}}
	tests := []struct{ env, image, chart string }{
		{"qa", "reg/delivery", "reg/helm/delivery@" + chart},
		{"prod", "reg/prod/delivery", "reg/prod/helm/delivery@" + chart},
	}
	for _, tt := range tests {
		job := &pipeline.Job{Run: &pipeline.Run{}, Pipeline: svc, Env: &config.Environment{Name: tt.env}}
		img, err := imageFor(job)
		if err != nil || img.Repository != tt.image || img.Digest != digest || img.Tag != "1.0.2" {
			t.Errorf("%s: image = %+v %v, want %s@%s", tt.env, img, err, tt.image, digest)
		}
		if got := chartFor(job, pushedChart); got.Ref != tt.chart || got.Digest != chart {
			t.Errorf("%s: chart = %+v, want %s", tt.env, got, tt.chart)
		}
	}
	if pushedChart.Ref != "reg/helm/delivery@"+chart {
		t.Errorf("chartFor changed the chart stage's output: %s", pushedChart.Ref)
	}
}
