package scan

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseSeverity(t *testing.T) {
	tests := []struct {
		in      string
		want    Severity
		wantErr string
	}{
		{in: "HIGH", want: SeverityHigh},
		{in: "high", want: SeverityHigh},
		{in: " Critical ", want: SeverityCritical},
		{in: "unknown", want: SeverityUnknown},
		{in: "LOW", want: SeverityLow},
		{in: "medium", want: SeverityMedium},
		{in: "SEVERE", wantErr: `unknown severity "SEVERE"`},
		{in: "", wantErr: `unknown severity ""`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseSeverity(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseSeverity(%q) = %q, %v; want error containing %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseSeverity(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestSeverityOrder(t *testing.T) {
	order := []Severity{SeverityUnknown, SeverityLow, SeverityMedium, SeverityHigh, SeverityCritical}
	for i, a := range order {
		for j, b := range order {
			if got, want := a.AtLeast(b), i >= j; got != want {
				t.Errorf("%s.AtLeast(%s) = %v, want %v", a, b, got, want)
			}
		}
	}
}

func TestPolicyValidate(t *testing.T) {
	exp := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		policy  Policy
		wantErr []string // substrings; nil means valid
	}{
		{name: "empty", policy: Policy{}},
		{name: "complete", policy: Policy{FailOn: SeverityMedium, IgnoreUnfixed: true,
			Ignore: []Ignore{{ID: "CVE-1", Reason: "r", Expires: exp}}}},
		{name: "lower-case fail-on", policy: Policy{FailOn: "critical"}},
		{name: "bad fail-on", policy: Policy{FailOn: "urgent"}, wantErr: []string{`fail-on: unknown severity "urgent"`}},
		{name: "missing id", policy: Policy{Ignore: []Ignore{{Reason: "r", Expires: exp}}},
			wantErr: []string{"ignore[0]: id is required"}},
		{name: "missing reason", policy: Policy{Ignore: []Ignore{{ID: "CVE-1", Reason: "  ", Expires: exp}}},
			wantErr: []string{"ignore[0] (CVE-1): reason is required"}},
		{name: "missing expiry", policy: Policy{Ignore: []Ignore{{ID: "CVE-1", Reason: "r"}}},
			wantErr: []string{"ignore[0] (CVE-1): expiry is required"}},
		{name: "duplicate", policy: Policy{Ignore: []Ignore{{ID: "CVE-1", Reason: "r", Expires: exp}, {ID: "CVE-1", Reason: "r", Expires: exp}}},
			wantErr: []string{"ignore[1] (CVE-1): duplicate of ignore[0]"}},
		{name: "all problems at once", policy: Policy{FailOn: "x", Ignore: []Ignore{{}, {ID: "CVE-2"}}},
			wantErr: []string{"invalid scan policy", `"x"`, "ignore[0]: id is required", "ignore[0]: reason is required",
				"ignore[0]: expiry is required", "ignore[1] (CVE-2): reason is required", "ignore[1] (CVE-2): expiry is required"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.policy.Validate()
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Validate() = %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Validate() = nil, want an error")
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Validate() = %q, want it to contain %q", err, want)
				}
			}
		})
	}
}

func finding(id string, sev Severity, fixed string) Finding {
	return Finding{ID: id, Package: "example.com/" + strings.ToLower(id), InstalledVersion: "1.0.0", FixedVersion: fixed,
		Severity: sev, Target: "usr/bin/app"}
}

func TestEvaluate(t *testing.T) {
	now := testNow()
	later, earlier := now.Add(time.Hour), now.Add(-time.Hour)
	report := &Report{Findings: []Finding{
		finding("CVE-LOW", SeverityLow, "1.0.1"),
		finding("CVE-MED", SeverityMedium, ""),
		finding("CVE-HIGH", SeverityHigh, "1.1.0"),
		finding("CVE-CRIT", SeverityCritical, ""),
		finding("CVE-UNK", SeverityUnknown, ""),
	}}
	allCounts := map[Severity]int{SeverityCritical: 1, SeverityHigh: 1, SeverityMedium: 1, SeverityLow: 1, SeverityUnknown: 1}
	ig := func(id string, exp time.Time) Ignore { return Ignore{ID: id, Reason: "accepted", Expires: exp} }

	type ignored struct {
		ID      string
		Unfixed bool
	}
	tests := []struct {
		name        string
		report      *Report
		policy      Policy
		wantPassed  bool
		wantFailOn  Severity
		wantFailing []string
		wantIgnored []ignored
		wantExpired []string
	}{
		{name: "default threshold is HIGH", report: report, wantFailOn: SeverityHigh,
			wantFailing: []string{"CVE-CRIT", "CVE-HIGH"}},
		{name: "threshold LOW", report: report, policy: Policy{FailOn: SeverityLow}, wantFailOn: SeverityLow,
			wantFailing: []string{"CVE-CRIT", "CVE-HIGH", "CVE-MED", "CVE-LOW"}},
		{name: "threshold CRITICAL", report: report, policy: Policy{FailOn: SeverityCritical}, wantFailOn: SeverityCritical,
			wantFailing: []string{"CVE-CRIT"}},
		{name: "lower-case threshold", report: report, policy: Policy{FailOn: "critical"}, wantFailOn: SeverityCritical,
			wantFailing: []string{"CVE-CRIT"}},
		{name: "invalid threshold is the strictest", report: report, policy: Policy{FailOn: "bogus"}, wantFailOn: SeverityUnknown,
			wantFailing: []string{"CVE-CRIT", "CVE-HIGH", "CVE-MED", "CVE-LOW", "CVE-UNK"}},
		{name: "ignore unfixed", report: report, policy: Policy{IgnoreUnfixed: true}, wantFailOn: SeverityHigh,
			wantFailing: []string{"CVE-HIGH"}, wantIgnored: []ignored{{"CVE-CRIT", true}}},
		{name: "active ignores pass", report: report, policy: Policy{Ignore: []Ignore{ig("CVE-HIGH", later), ig("CVE-CRIT", later)}},
			wantPassed: true, wantFailOn: SeverityHigh, wantIgnored: []ignored{{"CVE-CRIT", false}, {"CVE-HIGH", false}}},
		{name: "an entry beats ignore-unfixed", report: report, policy: Policy{IgnoreUnfixed: true, Ignore: []Ignore{ig("CVE-CRIT", later)}},
			wantFailOn: SeverityHigh, wantFailing: []string{"CVE-HIGH"}, wantIgnored: []ignored{{"CVE-CRIT", false}}},
		{name: "entry expiring now has expired", report: report, policy: Policy{Ignore: []Ignore{ig("CVE-HIGH", now), ig("CVE-CRIT", later)}},
			wantFailOn: SeverityHigh, wantFailing: []string{"CVE-HIGH"}, wantIgnored: []ignored{{"CVE-CRIT", false}},
			wantExpired: []string{"CVE-HIGH"}},
		{name: "expired entry fails even without its finding", report: &Report{},
			policy: Policy{Ignore: []Ignore{ig("CVE-GONE", earlier)}}, wantFailOn: SeverityHigh, wantExpired: []string{"CVE-GONE"}},
		{name: "entry without expiry counts as expired", report: &Report{},
			policy: Policy{Ignore: []Ignore{{ID: "CVE-X", Reason: "r"}}}, wantFailOn: SeverityHigh, wantExpired: []string{"CVE-X"}},
		{name: "nil report passes", wantPassed: true, wantFailOn: SeverityHigh},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := Evaluate(tt.report, tt.policy, now)
			if v.Passed != tt.wantPassed {
				t.Errorf("Passed = %v, want %v", v.Passed, tt.wantPassed)
			}
			if v.FailOn != tt.wantFailOn {
				t.Errorf("FailOn = %q, want %q", v.FailOn, tt.wantFailOn)
			}
			if diff := cmp.Diff(tt.wantFailing, findingIDs(v.Failing)); diff != "" {
				t.Errorf("failing (-want +got):\n%s", diff)
			}
			var gotIgnored []ignored
			for _, f := range v.Ignored {
				gotIgnored = append(gotIgnored, ignored{f.Finding.ID, f.Unfixed})
				if !f.Unfixed && f.Ignore.ID != f.Finding.ID {
					t.Errorf("ignored %s by entry %q", f.Finding.ID, f.Ignore.ID)
				}
			}
			if diff := cmp.Diff(tt.wantIgnored, gotIgnored); diff != "" {
				t.Errorf("ignored (-want +got):\n%s", diff)
			}
			var gotExpired []string
			for _, e := range v.ExpiredIgnores {
				gotExpired = append(gotExpired, e.ID)
			}
			if diff := cmp.Diff(tt.wantExpired, gotExpired); diff != "" {
				t.Errorf("expired (-want +got):\n%s", diff)
			}
			wantCounts := map[Severity]int{SeverityCritical: 0, SeverityHigh: 0, SeverityMedium: 0, SeverityLow: 0, SeverityUnknown: 0}
			if tt.report == report {
				wantCounts = allCounts
			}
			if diff := cmp.Diff(wantCounts, v.Counts); diff != "" {
				t.Errorf("counts (-want +got):\n%s", diff)
			}
			if (v.Err() == nil) != v.Passed {
				t.Errorf("Err() = %v with Passed = %v", v.Err(), v.Passed)
			}
		})
	}
}

func TestPolicyErrorMessage(t *testing.T) {
	xtext := Finding{ID: "CVE-2021-38561", Package: "golang.org/x/text", InstalledVersion: "0.3.6", FixedVersion: "0.3.7", Severity: SeverityHigh}
	var many []Finding
	for i := range 7 {
		many = append(many, finding(fmt.Sprintf("CVE-%d", i), SeverityCritical, "2.0.0"))
	}
	tests := []struct {
		name string
		v    Verdict
		want string
	}{
		{name: "one finding", v: Verdict{FailOn: SeverityHigh, Failing: []Finding{xtext}},
			want: "policy failed: 1 finding at or above HIGH: CVE-2021-38561 in golang.org/x/text 0.3.6 (fixed in 0.3.7)"},
		{name: "unfixed", v: Verdict{FailOn: SeverityMedium, Failing: []Finding{finding("CVE-9", SeverityMedium, "")}},
			want: "policy failed: 1 finding at or above MEDIUM: CVE-9 in example.com/cve-9 1.0.0 (no fix available)"},
		{name: "many findings", v: Verdict{FailOn: SeverityHigh, Failing: many},
			want: "policy failed: 7 findings at or above HIGH: CVE-0 in example.com/cve-0 1.0.0 (fixed in 2.0.0), " +
				"CVE-1 in example.com/cve-1 1.0.0 (fixed in 2.0.0), CVE-2 in example.com/cve-2 1.0.0 (fixed in 2.0.0), " +
				"CVE-3 in example.com/cve-3 1.0.0 (fixed in 2.0.0), CVE-4 in example.com/cve-4 1.0.0 (fixed in 2.0.0), and 2 more"},
		{name: "expired entry only", v: Verdict{FailOn: SeverityHigh, ExpiredIgnores: []Ignore{
			{ID: "CVE-2021-38561", Reason: "waiting for upstream", Expires: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}}},
			want: `policy failed: ignore entry CVE-2021-38561 expired on 2026-01-01 (reason: "waiting for upstream"): renew or remove it`},
		{name: "expiry with a time of day", v: Verdict{FailOn: SeverityHigh, ExpiredIgnores: []Ignore{
			{ID: "CVE-1", Reason: "r", Expires: time.Date(2026, 1, 1, 15, 30, 0, 0, time.FixedZone("CET", 3600))}}},
			want: `policy failed: ignore entry CVE-1 expired on 2026-01-01T15:30:00+01:00 (reason: "r"): renew or remove it`},
		{name: "finding and expired entry", v: Verdict{FailOn: SeverityHigh, Failing: []Finding{xtext}, ExpiredIgnores: []Ignore{
			{ID: "CVE-2021-38561", Reason: "r", Expires: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}}},
			want: `policy failed: 1 finding at or above HIGH: CVE-2021-38561 in golang.org/x/text 0.3.6 (fixed in 0.3.7); ` +
				`ignore entry CVE-2021-38561 expired on 2026-01-01 (reason: "r"): renew or remove it`},
		{name: "entry without expiry", v: Verdict{FailOn: SeverityHigh, ExpiredIgnores: []Ignore{{ID: "CVE-1", Reason: "r"}}},
			want: "policy failed: ignore entry CVE-1 has no expiry: add one"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := (&PolicyError{Verdict: tt.v}).Error(); got != tt.want {
				t.Errorf("Error() =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

// stubScanner returns a fixed report or error.
type stubScanner struct {
	report *Report
	err    error
	called bool
}

func (s *stubScanner) Scan(context.Context, Target) (*Report, error) {
	s.called = true
	return s.report, s.err
}

var _ Scanner = (*stubScanner)(nil)

func TestGate(t *testing.T) {
	vuln := &Report{Scanner: "stub", Findings: []Finding{finding("CVE-1", SeverityHigh, "2.0")}}
	scanErr := &ScannerError{Reason: "no DB", ExitCode: 1}
	tests := []struct {
		name       string
		scanner    *stubScanner
		policy     Policy
		wantReport bool
		wantScan   bool
		check      func(error) bool
	}{
		{name: "pass", scanner: &stubScanner{report: &Report{}}, wantReport: true, wantScan: true,
			check: func(err error) bool { return err == nil }},
		{name: "policy failure", scanner: &stubScanner{report: vuln}, wantReport: true, wantScan: true,
			check: func(err error) bool { var pe *PolicyError; return errors.As(err, &pe) }},
		{name: "scanner failure", scanner: &stubScanner{err: scanErr}, wantScan: true,
			check: func(err error) bool { var se *ScannerError; return errors.As(err, &se) }},
		{name: "invalid policy is neither and scans nothing", scanner: &stubScanner{report: vuln},
			policy: Policy{Ignore: []Ignore{{ID: "CVE-1"}}},
			check: func(err error) bool {
				var pe *PolicyError
				var se *ScannerError
				return err != nil && !errors.As(err, &pe) && !errors.As(err, &se) && strings.Contains(err.Error(), "reason is required")
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _, err := Gate(t.Context(), tt.scanner, Target{ImageRef: "example.com/app@sha256:0"}, tt.policy, testNow())
			if !tt.check(err) {
				t.Errorf("Gate() error = %v (%T)", err, err)
			}
			if (r != nil) != tt.wantReport {
				t.Errorf("report = %v, want one: %v", r, tt.wantReport)
			}
			if tt.scanner.called != tt.wantScan {
				t.Errorf("scanned = %v, want %v", tt.scanner.called, tt.wantScan)
			}
		})
	}
}
