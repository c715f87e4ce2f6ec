package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/ferry-ci/ferry/pipeline"
	"github.com/ferry-ci/ferry/triggers"
)

// TestPlanExplain checks that every service of a plan is accounted for: --explain in text
// and always in JSON, with unaffected an empty list rather than null when none is left out.
func TestPlanExplain(t *testing.T) {
	included := pipeline.ServicePlan{Name: "delivery", Pipeline: "feature", Stages: []pipeline.StageID{"build"},
		Reasons: []string{"depends on go.mod (changed: go.mod)", "depends on service package (affected)"}}
	left := triggers.Unaffected{Name: "frontend", Reason: "no changed path under src/web/frontend"}
	cases := []struct {
		name    string
		plan    pipeline.Plan
		format  string
		explain bool
		want    []string
		notWant []string
	}{
		{"text explains", pipeline.Plan{Trigger: "feature", Services: []pipeline.ServicePlan{included}, Unaffected: []triggers.Unaffected{left}},
			"text", true, []string{
				"explain:\n",
				"  delivery: included — depends on go.mod (changed: go.mod); depends on service package (affected)\n",
				"  frontend: not affected — no changed path under src/web/frontend\n"}, nil},
		{"text without --explain", pipeline.Plan{Trigger: "feature", Services: []pipeline.ServicePlan{included}, Unaffected: []triggers.Unaffected{left}},
			"text", false, nil, []string{"explain:", "not affected"}},
		{"text with nothing affected", pipeline.Plan{Unaffected: []triggers.Unaffected{left}},
			"text", true, []string{"no services affected\n", "  frontend: not affected — no changed path under src/web/frontend\n"}, nil},
		{"json lists the unaffected", pipeline.Plan{Trigger: "feature", Services: []pipeline.ServicePlan{included}, Unaffected: []triggers.Unaffected{left}},
			"json", false, []string{`"unaffected": [`, `"name": "frontend"`, `"reason": "no changed path under src/web/frontend"`}, nil},
		{"json without unaffected", pipeline.Plan{Trigger: "feature", Services: []pipeline.ServicePlan{included}},
			"json", false, []string{`"unaffected": []`}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := WritePlan(&b, &tc.plan, tc.format, PlanOptions{Explain: tc.explain}); err != nil {
				t.Fatal(err)
			}
			got := b.String()
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("output lacks %q:\n%s", w, got)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(got, w) {
					t.Errorf("output has %q:\n%s", w, got)
				}
			}
			if tc.format == "json" && !json.Valid(b.Bytes()) {
				t.Errorf("invalid JSON:\n%s", got)
			}
		})
	}
}
