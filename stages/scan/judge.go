package scan

import (
	"fmt"
	"time"

	"github.com/ferry-ci/ferry/pipeline/evidence"
)

// Judge judges a Trivy JSON report again under a recorded policy at the time it was judged:
// what `ferry verify` asks of the scan evidence attached to an image.
func Judge(report []byte, p evidence.ScanPolicy, at time.Time) (bool, []string, error) {
	r, err := parseTrivyReport(report)
	if err != nil {
		return false, nil, err
	}
	pol := Policy{IgnoreUnfixed: p.IgnoreUnfixed}
	if p.FailOn != "" {
		if pol.FailOn, err = ParseSeverity(p.FailOn); err != nil {
			return false, nil, fmt.Errorf("recorded policy: %w", err)
		}
	}
	for _, ig := range p.Ignore {
		pol.Ignore = append(pol.Ignore, Ignore{ID: ig.ID, Reason: ig.Reason, Expires: ig.Expires})
	}
	if err := pol.Validate(); err != nil {
		return false, nil, fmt.Errorf("recorded policy: %w", err)
	}
	v := Evaluate(r, pol, at)
	var failing []string
	for _, f := range v.Failing {
		failing = append(failing, string(f.Severity)+" "+describeFinding(f))
	}
	for _, ig := range v.ExpiredIgnores {
		failing = append(failing, describeExpired(ig))
	}
	return v.Passed, failing, nil
}
