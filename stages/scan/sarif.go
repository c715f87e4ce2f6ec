package scan

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strings"
)

// SARIF 2.1.0, as much of it as code-scanning services read.
const (
	sarifVersion = "2.1.0"
	sarifSchema  = "https://json.schemastore.org/sarif-2.1.0.json"
	trivyInfoURI = "https://github.com/aquasecurity/trivy"
	sarifRootID  = "ROOTPATH"
)

type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool               sarifTool                      `json:"tool"`
	Invocations        []sarifInvocation              `json:"invocations"`
	OriginalURIBaseIDs map[string]sarifArtifactLocURI `json:"originalUriBaseIds"`
	Results            []sarifResult                  `json:"results"`
	Properties         map[string]any                 `json:"properties,omitempty"`
}

type sarifArtifactLocURI struct {
	URI string `json:"uri"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	Version        string      `json:"version,omitempty"`
	InformationURI string      `json:"informationUri"`
	Rules          []sarifRule `json:"rules"`
}

type sarifRule struct {
	ID                   string             `json:"id"`
	Name                 string             `json:"name"`
	ShortDescription     sarifText          `json:"shortDescription"`
	FullDescription      sarifText          `json:"fullDescription"`
	HelpURI              string             `json:"helpUri,omitempty"`
	Help                 sarifMarkdown      `json:"help"`
	DefaultConfiguration sarifConfiguration `json:"defaultConfiguration"`
	Properties           sarifRuleProps     `json:"properties"`
}

type sarifText struct {
	Text string `json:"text"`
}

type sarifMarkdown struct {
	Text     string `json:"text"`
	Markdown string `json:"markdown"`
}

type sarifConfiguration struct {
	Level string `json:"level"`
}

type sarifRuleProps struct {
	Tags             []string `json:"tags"`
	Precision        string   `json:"precision"`
	SecuritySeverity string   `json:"security-severity"`
}

type sarifResult struct {
	RuleID       string             `json:"ruleId"`
	RuleIndex    int                `json:"ruleIndex"`
	Level        string             `json:"level"`
	Message      sarifText          `json:"message"`
	Locations    []sarifLocation    `json:"locations"`
	Suppressions []sarifSuppression `json:"suppressions"` // [] = not suppressed
}

type sarifLocation struct {
	PhysicalLocation sarifPhysicalLocation `json:"physicalLocation"`
	Message          *sarifText            `json:"message,omitempty"`
}

type sarifPhysicalLocation struct {
	ArtifactLocation sarifArtifactLocation `json:"artifactLocation"`
	Region           sarifRegion           `json:"region"`
}

type sarifArtifactLocation struct {
	URI       string `json:"uri"`
	URIBaseID string `json:"uriBaseId"`
}

type sarifRegion struct {
	StartLine int `json:"startLine"`
}

type sarifSuppression struct {
	Kind          string `json:"kind"`
	Status        string `json:"status"`
	Justification string `json:"justification"`
}

type sarifInvocation struct {
	ExecutionSuccessful           bool                `json:"executionSuccessful"`
	ToolConfigurationNotification []sarifNotification `json:"toolConfigurationNotifications,omitempty"`
}

type sarifNotification struct {
	Descriptor sarifDescriptorRef `json:"descriptor"`
	Level      string             `json:"level"`
	Message    sarifText          `json:"message"`
}

type sarifDescriptorRef struct {
	ID string `json:"id"`
}

// securitySeverity maps a severity to the CVSS-like score code-scanning services sort by.
func securitySeverity(s Severity) string {
	switch s {
	case SeverityCritical:
		return "9.5"
	case SeverityHigh:
		return "8.0"
	case SeverityMedium:
		return "5.5"
	case SeverityLow:
		return "2.0"
	}
	return "0.0"
}

// findingKey identifies a finding within one report.
func findingKey(f Finding) string {
	return strings.Join([]string{f.ID, f.Package, f.InstalledVersion, f.Target}, "\x00")
}

// WriteSARIF writes the report as a SARIF 2.1.0 log with one run: one rule per vulnerability
// ID and one result per finding. Findings that fail the policy are errors; findings the
// policy accepts carry an accepted suppression with the reason; the others are warnings
// (MEDIUM and above) or notes. Expired ignore entries are configuration notifications.
func WriteSARIF(w io.Writer, r *Report, v Verdict) error {
	if r == nil {
		return fmt.Errorf("writing SARIF: no report")
	}
	failing := make(map[string]bool, len(v.Failing))
	for _, f := range v.Failing {
		failing[findingKey(f)] = true
	}
	ignored := make(map[string]IgnoredFinding, len(v.Ignored))
	for _, ig := range v.Ignored {
		ignored[findingKey(ig.Finding)] = ig
	}

	findings := append([]Finding(nil), r.Findings...)
	sortFindings(findings)

	name := r.Scanner
	if name == "" {
		name = "trivy"
	}
	run := sarifRun{
		Tool:               sarifTool{Driver: sarifDriver{Name: name, Version: r.ScannerVersion, InformationURI: trivyInfoURI, Rules: []sarifRule{}}},
		Invocations:        []sarifInvocation{{ExecutionSuccessful: true}},
		OriginalURIBaseIDs: map[string]sarifArtifactLocURI{sarifRootID: {URI: "file:///"}},
		Results:            []sarifResult{},
		Properties: map[string]any{
			"target":  r.Target,
			"verdict": verdictWord(v),
			"failOn":  string(v.FailOn),
		},
	}
	ruleIndex := map[string]int{}
	for _, f := range findings {
		idx, ok := ruleIndex[f.ID]
		if !ok {
			idx = len(run.Tool.Driver.Rules)
			ruleIndex[f.ID] = idx
			run.Tool.Driver.Rules = append(run.Tool.Driver.Rules, sarifRuleFor(f))
		}
		res := sarifResult{
			RuleID:    f.ID,
			RuleIndex: idx,
			Level:     resultLevel(f.Severity),
			Message:   sarifText{Text: resultMessage(f)},
			Locations: []sarifLocation{{PhysicalLocation: sarifPhysicalLocation{
				ArtifactLocation: sarifArtifactLocation{URI: targetURI(f.Target), URIBaseID: sarifRootID},
				Region:           sarifRegion{StartLine: 1},
			}}},
			Suppressions: []sarifSuppression{},
		}
		key := findingKey(f)
		if failing[key] {
			res.Level = "error"
		}
		if ig, ok := ignored[key]; ok {
			res.Suppressions = append(res.Suppressions, sarifSuppression{Kind: "external", Status: "accepted", Justification: ignoreWhy(ig)})
		}
		run.Results = append(run.Results, res)
	}
	for _, ig := range v.ExpiredIgnores {
		run.Invocations[0].ToolConfigurationNotification = append(run.Invocations[0].ToolConfigurationNotification, sarifNotification{
			Descriptor: sarifDescriptorRef{ID: "expired-ignore"},
			Level:      "error",
			Message:    sarifText{Text: describeExpired(ig)},
		})
	}

	b, err := json.MarshalIndent(sarifLog{Schema: sarifSchema, Version: sarifVersion, Runs: []sarifRun{run}}, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding SARIF: %w", err)
	}
	if _, err := w.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("writing SARIF: %w", err)
	}
	return nil
}

func sarifRuleFor(f Finding) sarifRule {
	title := f.Title
	if title == "" {
		title = f.ID
	}
	text := fmt.Sprintf("Vulnerability %s\nSeverity: %s\nPackage: %s\nFixed version: %s\n", f.ID, f.Severity, f.Package, orNone(f.FixedVersion))
	md := fmt.Sprintf("**Vulnerability %s**\n\n| Severity | Package | Fixed version |\n| --- | --- | --- |\n| %s | %s | %s |\n",
		f.ID, f.Severity, mdCell(f.Package), mdCell(orNone(f.FixedVersion)))
	if f.URL != "" {
		text += f.URL + "\n"
		md += fmt.Sprintf("\n[%s](%s)\n", f.ID, f.URL)
	}
	return sarifRule{
		ID:                   f.ID,
		Name:                 "Vulnerability",
		ShortDescription:     sarifText{Text: title},
		FullDescription:      sarifText{Text: title},
		HelpURI:              f.URL,
		Help:                 sarifMarkdown{Text: text, Markdown: md},
		DefaultConfiguration: sarifConfiguration{Level: resultLevel(f.Severity)},
		Properties: sarifRuleProps{
			Tags:             []string{"vulnerability", "security", string(f.Severity)},
			Precision:        "very-high",
			SecuritySeverity: securitySeverity(f.Severity),
		},
	}
}

// resultLevel is the SARIF level of a finding that does not fail the policy.
func resultLevel(s Severity) string {
	if s.AtLeast(SeverityMedium) {
		return "warning"
	}
	return "note"
}

func resultMessage(f Finding) string {
	msg := fmt.Sprintf("%s %s is affected by %s (%s)", f.Package, f.InstalledVersion, f.ID, f.Severity)
	if f.Title != "" {
		msg += ": " + f.Title
	}
	if f.FixedVersion != "" {
		return msg + ". Fixed in " + f.FixedVersion + "."
	}
	return msg + ". No fix is available."
}

// targetURI makes a relative URI of a Trivy result target, e.g. "usr/local/bin/app" or
// "alpine 3.10 (image)".
func targetURI(target string) string {
	if target == "" {
		target = "image"
	}
	return (&url.URL{Path: strings.TrimPrefix(target, "/")}).String()
}

// ignoreWhy explains why the policy accepts a finding.
func ignoreWhy(ig IgnoredFinding) string {
	if ig.Unfixed {
		return "no fix available; the policy ignores unfixed findings"
	}
	return fmt.Sprintf("%s (ignored until %s)", ig.Ignore.Reason, formatExpiry(ig.Ignore.Expires))
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
