package scan

import (
	"bytes"
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// recorded reads the trivy report recorded by TestTrivyGate -update: an image with
// golang.org/x/text v0.3.6 and github.com/google/go-cmp v0.7.0, scanned with the fixture DB.
func recorded(t *testing.T) *Report {
	t.Helper()
	raw, err := os.ReadFile(recordedReport)
	if err != nil {
		t.Fatal(err)
	}
	r, err := parseTrivyReport(raw)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestParseTrivyReport(t *testing.T) {
	r := recorded(t)
	want := []Finding{
		{ID: "CVE-2021-38561", Package: "golang.org/x/text", InstalledVersion: "0.3.6", FixedVersion: "0.3.7",
			Severity: SeverityHigh, Title: "golang.org/x/text: out-of-bounds read in language.ParseAcceptLanguage",
			Target: "usr/local/bin/vulnapp", URL: "https://avd.aquasec.com/nvd/cve-2021-38561"},
		{ID: "FERRY-TEST-0001", Package: "github.com/google/go-cmp", InstalledVersion: "0.7.0",
			Severity: SeverityHigh, Title: "go-cmp: test fixture advisory without a fix (not a real vulnerability)",
			Target: "usr/local/bin/vulnapp"},
	}
	if diff := cmp.Diff(want, r.Findings); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
	if r.Scanner != "trivy" || r.ScannerVersion == "" || !strings.HasSuffix(r.Target, "/both") {
		t.Errorf("header = %q %q %q", r.Scanner, r.ScannerVersion, r.Target)
	}
	raw, _ := os.ReadFile(recordedReport)
	if !bytes.Equal(r.Raw, raw) {
		t.Error("Raw is not the input")
	}
}

func TestParseTrivyReportErrors(t *testing.T) {
	tests := []struct {
		name, json, wantErr string
	}{
		{name: "not JSON", json: "FATAL error", wantErr: "decoding trivy JSON"},
		{name: "empty", json: "", wantErr: "decoding trivy JSON"},
		{name: "old schema", json: `{"SchemaVersion": 1}`, wantErr: "unsupported trivy report schema version 1 (want 2)"},
		{name: "unknown severity", json: `{"SchemaVersion": 2, "Results": [{"Target": "app", "Vulnerabilities": [{"VulnerabilityID": "CVE-1", "Severity": "SEVERE"}]}]}`,
			wantErr: `result "app": CVE-1: unknown severity "SEVERE"`},
		{name: "no ID", json: `{"SchemaVersion": 2, "Results": [{"Target": "app", "Vulnerabilities": [{"Severity": "LOW"}]}]}`,
			wantErr: `result "app": vulnerability 0 has no ID`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseTrivyReport([]byte(tt.json))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestParseTrivyReportNoFindings(t *testing.T) {
	r, err := parseTrivyReport([]byte(`{"SchemaVersion": 2, "Trivy": {"Version": "0.74.0"}, "ArtifactName": "x", "Results": [{"Target": "app", "Class": "lang-pkgs"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Findings) != 0 || r.ScannerVersion != "0.74.0" {
		t.Errorf("report = %+v", r)
	}
}

func TestTrimGoV(t *testing.T) {
	for in, want := range map[string]string{"v0.3.6": "0.3.6", "0.3.7": "0.3.7", "v1.2.3, v1.3.1": "1.2.3, 1.3.1", "": "", "vendor": "vendor"} {
		if got := trimGoV(in); got != want {
			t.Errorf("trimGoV(%q) = %q, want %q", in, got, want)
		}
	}
}

// outputCases are the reports and policies behind the SARIF and summary golden files.
func outputCases(t *testing.T) []struct {
	name   string
	report *Report
	policy Policy
} {
	now := testNow()
	image := func(r *Report) *Report {
		r.Target = "registry.example.com/shop/cart@sha256:4f1c0b9a5d3e"
		r.ScannerVersion = "0.74.0"
		return r
	}
	mixed := image(&Report{Scanner: "trivy", Findings: []Finding{
		{ID: "CVE-2024-0001", Package: "openssl", InstalledVersion: "3.0.2-r0", FixedVersion: "3.0.2-r1", Severity: SeverityCritical,
			Title: "openssl: a | pipe, *stars* and <tags>", Target: "cart (alpine 3.19.1)", URL: "https://avd.aquasec.com/nvd/cve-2024-0001"},
		{ID: "CVE-2024-0002", Package: "musl", InstalledVersion: "1.2.4-r2", Severity: SeverityMedium,
			Title: "musl: medium issue without fix", Target: "cart (alpine 3.19.1)"},
		{ID: "CVE-2024-0003", Package: "golang.org/x/net", InstalledVersion: "0.17.0", FixedVersion: "0.23.0", Severity: SeverityLow,
			Title: "x/net: low", Target: "usr/local/bin/cart"},
		{ID: "CVE-2024-0004", Package: "stdlib", InstalledVersion: "1.21.0", FixedVersion: "1.21.9, 1.22.2", Severity: SeverityUnknown,
			Target: "usr/local/bin/cart"},
	}})
	return []struct {
		name   string
		report *Report
		policy Policy
	}{
		{name: "failing", report: image(recorded(t))},
		{name: "accepted", report: image(recorded(t)), policy: Policy{IgnoreUnfixed: true, Ignore: []Ignore{
			{ID: "CVE-2021-38561", Reason: "not reachable: we never parse Accept-Language", Expires: now.AddDate(0, 3, 0).Truncate(24 * time.Hour)}}}},
		{name: "expired", report: image(recorded(t)), policy: Policy{IgnoreUnfixed: true, Ignore: []Ignore{
			{ID: "CVE-2021-38561", Reason: "waiting for the base image", Expires: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}}}},
		{name: "mixed", report: mixed, policy: Policy{FailOn: SeverityMedium}},
		{name: "clean", report: image(&Report{Scanner: "trivy"})},
	}
}

func TestWriteSARIF(t *testing.T) {
	for _, tt := range outputCases(t) {
		t.Run(tt.name, func(t *testing.T) {
			v := Evaluate(tt.report, tt.policy, testNow())
			var buf bytes.Buffer
			if err := WriteSARIF(&buf, tt.report, v); err != nil {
				t.Fatal(err)
			}
			validateSARIF(t, buf.Bytes(), tt.report, v)
			golden(t, tt.name+".sarif", buf.Bytes())
		})
	}
}

func TestWriteSummary(t *testing.T) {
	for _, tt := range outputCases(t) {
		for _, format := range []string{"text", "markdown"} {
			t.Run(tt.name+"/"+format, func(t *testing.T) {
				v := Evaluate(tt.report, tt.policy, testNow())
				var buf bytes.Buffer
				if err := WriteSummary(&buf, tt.report, v, format); err != nil {
					t.Fatal(err)
				}
				ext := map[string]string{"text": ".txt", "markdown": ".md"}[format]
				golden(t, tt.name+ext, buf.Bytes())
			})
		}
	}
	if err := WriteSummary(&bytes.Buffer{}, &Report{}, Verdict{}, "html"); err == nil || !strings.Contains(err.Error(), `"html"`) {
		t.Errorf("WriteSummary(html) = %v, want an error naming the format", err)
	}
}

// validateSARIF checks the structure code-scanning services rely on: SARIF 2.1.0 with one
// run, rules referenced by id and index, valid levels, a location per result, suppressions
// exactly on accepted findings, and the policy's verdict.
func validateSARIF(t *testing.T, b []byte, r *Report, v Verdict) {
	t.Helper()
	var log struct {
		Schema  string `json:"$schema"`
		Version string `json:"version"`
		Runs    []struct {
			Tool struct {
				Driver struct {
					Name           string `json:"name"`
					InformationURI string `json:"informationUri"`
					Rules          []struct {
						ID               string `json:"id"`
						ShortDescription struct {
							Text string `json:"text"`
						} `json:"shortDescription"`
						Help struct {
							Text string `json:"text"`
						} `json:"help"`
						Properties map[string]any `json:"properties"`
					} `json:"rules"`
				} `json:"driver"`
			} `json:"tool"`
			Invocations []struct {
				ExecutionSuccessful bool `json:"executionSuccessful"`
				Notifications       []struct {
					Level   string `json:"level"`
					Message struct {
						Text string `json:"text"`
					} `json:"message"`
				} `json:"toolConfigurationNotifications"`
			} `json:"invocations"`
			Results []struct {
				RuleID    string `json:"ruleId"`
				RuleIndex *int   `json:"ruleIndex"`
				Level     string `json:"level"`
				Message   struct {
					Text string `json:"text"`
				} `json:"message"`
				Locations []struct {
					PhysicalLocation struct {
						ArtifactLocation struct {
							URI       string `json:"uri"`
							URIBaseID string `json:"uriBaseId"`
						} `json:"artifactLocation"`
						Region struct {
							StartLine int `json:"startLine"`
						} `json:"region"`
					} `json:"physicalLocation"`
				} `json:"locations"`
				Suppressions *[]struct {
					Kind          string `json:"kind"`
					Status        string `json:"status"`
					Justification string `json:"justification"`
				} `json:"suppressions"`
			} `json:"results"`
			OriginalURIBaseIDs map[string]struct {
				URI string `json:"uri"`
			} `json:"originalUriBaseIds"`
			Properties map[string]any `json:"properties"`
		} `json:"runs"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&log); err != nil {
		t.Fatalf("SARIF does not decode: %v", err)
	}
	if log.Version != "2.1.0" || !strings.Contains(log.Schema, "sarif-2.1.0") {
		t.Errorf("version %q, schema %q", log.Version, log.Schema)
	}
	if len(log.Runs) != 1 {
		t.Fatalf("%d runs, want 1", len(log.Runs))
	}
	run := log.Runs[0]
	if run.Tool.Driver.Name != "trivy" || run.Tool.Driver.InformationURI == "" {
		t.Errorf("driver %+v", run.Tool.Driver)
	}
	ruleIDs := map[string]int{}
	for i, rule := range run.Tool.Driver.Rules {
		if _, dup := ruleIDs[rule.ID]; dup || rule.ID == "" {
			t.Errorf("rule %d: empty or duplicate id %q", i, rule.ID)
		}
		ruleIDs[rule.ID] = i
		if rule.ShortDescription.Text == "" || rule.Help.Text == "" {
			t.Errorf("rule %s: no description or help", rule.ID)
		}
		ss, _ := rule.Properties["security-severity"].(string)
		if f, err := strconv.ParseFloat(ss, 64); err != nil || f < 0 || f > 10 {
			t.Errorf("rule %s: security-severity %q", rule.ID, ss)
		}
	}
	if len(run.Results) != len(r.Findings) {
		t.Errorf("%d results for %d findings", len(run.Results), len(r.Findings))
	}
	if _, ok := run.OriginalURIBaseIDs["ROOTPATH"]; !ok {
		t.Error("no ROOTPATH uriBaseId")
	}
	suppressed, errors := 0, 0
	for i, res := range run.Results {
		idx, ok := ruleIDs[res.RuleID]
		if !ok || res.RuleIndex == nil || *res.RuleIndex != idx {
			t.Errorf("result %d: ruleId %q, ruleIndex %v does not match a rule", i, res.RuleID, res.RuleIndex)
		}
		switch res.Level {
		case "error":
			errors++
		case "warning", "note":
		default:
			t.Errorf("result %d: level %q", i, res.Level)
		}
		if res.Message.Text == "" || len(res.Locations) == 0 || res.Locations[0].PhysicalLocation.ArtifactLocation.URI == "" ||
			res.Locations[0].PhysicalLocation.ArtifactLocation.URIBaseID != "ROOTPATH" || res.Locations[0].PhysicalLocation.Region.StartLine != 1 {
			t.Errorf("result %d: incomplete %+v", i, res)
		}
		if res.Suppressions == nil {
			t.Errorf("result %d: suppressions missing (want [] when not suppressed)", i)
		} else if len(*res.Suppressions) > 0 {
			suppressed++
			s := (*res.Suppressions)[0]
			if s.Kind != "external" || s.Status != "accepted" || s.Justification == "" {
				t.Errorf("result %d: suppression %+v", i, s)
			}
		}
	}
	if errors != len(v.Failing) || suppressed != len(v.Ignored) {
		t.Errorf("%d error results, %d suppressed; verdict has %d failing, %d ignored", errors, suppressed, len(v.Failing), len(v.Ignored))
	}
	if len(run.Invocations) != 1 || !run.Invocations[0].ExecutionSuccessful {
		t.Fatalf("invocations %+v", run.Invocations)
	}
	if n := len(run.Invocations[0].Notifications); n != len(v.ExpiredIgnores) {
		t.Errorf("%d notifications for %d expired ignores", n, len(v.ExpiredIgnores))
	}
	for _, n := range run.Invocations[0].Notifications {
		if n.Level != "error" || !strings.Contains(n.Message.Text, "expired") {
			t.Errorf("notification %+v", n)
		}
	}
	if got, want := run.Properties["verdict"], verdictWord(v); got != want {
		t.Errorf("verdict property %v, want %v", got, want)
	}
}
