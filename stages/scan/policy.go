package scan

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ferry-ci/ferry/pipeline/config"
)

// DefaultFailOn is the threshold of a Policy that sets none.
const DefaultFailOn = Severity(config.DefaultFailOn)

// Policy decides whether a report passes the gate.
type Policy struct {
	// FailOn is the lowest severity that fails the gate; "" means DefaultFailOn (HIGH).
	FailOn Severity
	// IgnoreUnfixed lets findings without a known fixed version pass.
	IgnoreUnfixed bool
	// Ignore lists accepted findings. Every entry needs an ID, a reason and an expiry.
	Ignore []Ignore
}

// Ignore accepts the findings with one vulnerability ID until it expires. An expired entry
// no longer applies and fails the gate by itself, whether or not the vulnerability is still
// present, so that stale acceptances are renewed or removed rather than forgotten.
type Ignore struct {
	ID     string // vulnerability ID, e.g. CVE-2021-38561
	Reason string // why the finding is accepted; shown in every report
	// Expires is the instant the entry stops applying; a date alone means its midnight.
	Expires time.Time
}

// expired reports whether the entry no longer applies at now.
func (ig Ignore) expired(now time.Time) bool { return !now.Before(ig.Expires) }

// Validate checks the policy: a known FailOn severity and, for every ignore entry, an ID, a
// reason and an expiry, with no ID listed twice. All problems are reported together.
func (p Policy) Validate() error {
	var errs []error
	if p.FailOn != "" {
		if _, err := ParseSeverity(string(p.FailOn)); err != nil {
			errs = append(errs, fmt.Errorf("fail-on: %w", err))
		}
	}
	seen := make(map[string]int, len(p.Ignore))
	for i, ig := range p.Ignore {
		where := fmt.Sprintf("ignore[%d]", i)
		if ig.ID != "" {
			where = fmt.Sprintf("ignore[%d] (%s)", i, ig.ID)
		}
		if strings.TrimSpace(ig.ID) == "" {
			errs = append(errs, fmt.Errorf("%s: id is required", where))
		} else if j, dup := seen[ig.ID]; dup {
			errs = append(errs, fmt.Errorf("%s: duplicate of ignore[%d]", where, j))
		} else {
			seen[ig.ID] = i
		}
		if strings.TrimSpace(ig.Reason) == "" {
			errs = append(errs, fmt.Errorf("%s: reason is required", where))
		}
		if ig.Expires.IsZero() {
			errs = append(errs, fmt.Errorf("%s: expiry is required", where))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("invalid scan policy: %w", err)
	}
	return nil
}

// failOn is the effective threshold. An invalid value (which Validate rejects) counts as
// UNKNOWN, the strictest, so that a broken policy never lets findings through.
func (p Policy) failOn() Severity {
	if p.FailOn == "" {
		return DefaultFailOn
	}
	s, err := ParseSeverity(string(p.FailOn))
	if err != nil {
		return SeverityUnknown
	}
	return s
}

// Verdict is the outcome of evaluating a report against a policy.
type Verdict struct {
	// Passed is true when no finding fails and no ignore entry has expired.
	Passed bool
	// FailOn is the threshold that was applied.
	FailOn Severity
	// Failing are the findings at or above FailOn that the policy does not accept, highest
	// severity first.
	Failing []Finding
	// Ignored are the findings at or above FailOn that the policy accepts.
	Ignored []IgnoredFinding
	// ExpiredIgnores are the ignore entries that have expired; each one fails the gate.
	ExpiredIgnores []Ignore
	// Counts has every finding of the report by severity, before the policy; all five
	// severities are present.
	Counts map[Severity]int
}

// IgnoredFinding is a finding the policy accepts, with the reason.
type IgnoredFinding struct {
	Finding Finding
	// Ignore is the entry that accepts it; zero when Unfixed is the reason.
	Ignore Ignore
	// Unfixed is true when the finding passes because it has no fix and the policy has
	// IgnoreUnfixed.
	Unfixed bool
}

// Evaluate judges the report against the policy at time now. Call Policy.Validate first:
// Evaluate treats an invalid threshold as UNKNOWN and an entry without expiry as expired.
// A nil report has no findings.
func Evaluate(r *Report, p Policy, now time.Time) Verdict {
	v := Verdict{FailOn: p.failOn(), Counts: make(map[Severity]int, 5)}
	for _, s := range Severities() {
		v.Counts[s] = 0
	}
	active := make(map[string]Ignore, len(p.Ignore))
	for _, ig := range p.Ignore {
		if ig.expired(now) {
			v.ExpiredIgnores = append(v.ExpiredIgnores, ig)
			continue
		}
		if _, dup := active[ig.ID]; !dup {
			active[ig.ID] = ig
		}
	}
	var findings []Finding
	if r != nil {
		findings = slices.Clone(r.Findings)
	}
	sortFindings(findings)
	for _, f := range findings {
		sev := f.Severity
		if !sev.Valid() {
			sev = SeverityUnknown
		}
		v.Counts[sev]++
		if !sev.AtLeast(v.FailOn) {
			continue
		}
		switch ig, ok := active[f.ID]; {
		case ok:
			v.Ignored = append(v.Ignored, IgnoredFinding{Finding: f, Ignore: ig})
		case p.IgnoreUnfixed && f.FixedVersion == "":
			v.Ignored = append(v.Ignored, IgnoredFinding{Finding: f, Unfixed: true})
		default:
			v.Failing = append(v.Failing, f)
		}
	}
	v.Passed = len(v.Failing) == 0 && len(v.ExpiredIgnores) == 0
	return v
}

// Err returns a *PolicyError when the verdict fails, else nil.
func (v Verdict) Err() error {
	if v.Passed {
		return nil
	}
	return &PolicyError{Verdict: v}
}

// PolicyError is returned when the scan succeeded and the policy rejected the image.
type PolicyError struct {
	Verdict Verdict
}

// maxListed bounds how many findings a PolicyError message names.
const maxListed = 5

func (e *PolicyError) Error() string {
	v := e.Verdict
	var parts []string
	if n := len(v.Failing); n > 0 {
		var b strings.Builder
		fmt.Fprintf(&b, "%d %s at or above %s: ", n, plural(n, "finding", "findings"), v.FailOn)
		for i, f := range v.Failing {
			if i == maxListed {
				fmt.Fprintf(&b, ", and %d more", n-maxListed)
				break
			}
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(describeFinding(f))
		}
		parts = append(parts, b.String())
	}
	for _, ig := range v.ExpiredIgnores {
		parts = append(parts, describeExpired(ig))
	}
	if len(parts) == 0 {
		return "policy failed"
	}
	return "policy failed: " + strings.Join(parts, "; ")
}

// describeFinding renders "CVE-1 in pkg 1.0 (fixed in 1.1)".
func describeFinding(f Finding) string {
	fix := "no fix available"
	if f.FixedVersion != "" {
		fix = "fixed in " + f.FixedVersion
	}
	return fmt.Sprintf("%s in %s %s (%s)", f.ID, f.Package, f.InstalledVersion, fix)
}

// describeExpired renders "ignore entry CVE-1 expired on 2025-01-31 (reason: ...): renew or remove it".
func describeExpired(ig Ignore) string {
	id := ig.ID
	if id == "" {
		id = "without id"
	}
	if ig.Expires.IsZero() {
		return fmt.Sprintf("ignore entry %s has no expiry: add one", id)
	}
	return fmt.Sprintf("ignore entry %s expired on %s (reason: %q): renew or remove it", id, formatExpiry(ig.Expires), ig.Reason)
}

// formatExpiry prints a date when the expiry is a midnight in UTC, else the full instant.
func formatExpiry(t time.Time) string {
	u := t.UTC()
	if u.Hour() == 0 && u.Minute() == 0 && u.Second() == 0 && u.Nanosecond() == 0 {
		return u.Format(time.DateOnly)
	}
	return t.Format(time.RFC3339)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
