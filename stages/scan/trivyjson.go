package scan

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// trivyReport is the part of Trivy's JSON report (schema version 2) that Ferry reads.
type trivyReport struct {
	SchemaVersion int
	Trivy         struct{ Version string }
	ArtifactName  string
	Results       []struct {
		Target          string
		Class           string
		Type            string
		Vulnerabilities []struct {
			VulnerabilityID  string
			PkgName          string
			InstalledVersion string
			FixedVersion     string
			Severity         string
			Title            string
			PrimaryURL       string
		}
	}
}

// isGoResult reports whether a Trivy result type holds Go modules. Trivy reports their
// installed version as "v0.3.6" and fixed versions as "0.3.7"; Ferry drops the "v" so both
// read alike.
func isGoResult(typ string) bool { return typ == "gobinary" || typ == "gomod" }

// trimGoV removes the leading "v" of each version in a comma-separated list.
func trimGoV(versions string) string {
	if versions == "" {
		return ""
	}
	parts := strings.Split(versions, ",")
	for i, p := range parts {
		p = strings.TrimSpace(p)
		if len(p) > 1 && p[0] == 'v' && p[1] >= '0' && p[1] <= '9' {
			p = p[1:]
		}
		parts[i] = p
	}
	return strings.Join(parts, ", ")
}

// trivySchemaVersion is the report schema Ferry understands.
const trivySchemaVersion = 2

// parseTrivyReport reads a Trivy JSON report. Findings are sorted highest severity first;
// Raw keeps the input. An unknown severity is an error rather than a guess.
func parseTrivyReport(raw []byte) (*Report, error) {
	var tr trivyReport
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&tr); err != nil {
		return nil, fmt.Errorf("decoding trivy JSON: %w", err)
	}
	if tr.SchemaVersion != trivySchemaVersion {
		return nil, fmt.Errorf("unsupported trivy report schema version %d (want %d)", tr.SchemaVersion, trivySchemaVersion)
	}
	r := &Report{
		Scanner:        "trivy",
		ScannerVersion: tr.Trivy.Version,
		Target:         tr.ArtifactName,
		Raw:            raw,
	}
	for _, res := range tr.Results {
		for i, v := range res.Vulnerabilities {
			if v.VulnerabilityID == "" {
				return nil, fmt.Errorf("result %q: vulnerability %d has no ID", res.Target, i)
			}
			sev, err := ParseSeverity(v.Severity)
			if err != nil {
				return nil, fmt.Errorf("result %q: %s: %w", res.Target, v.VulnerabilityID, err)
			}
			installed, fixed := v.InstalledVersion, v.FixedVersion
			if isGoResult(res.Type) {
				installed, fixed = trimGoV(installed), trimGoV(fixed)
			}
			r.Findings = append(r.Findings, Finding{
				ID:               v.VulnerabilityID,
				Package:          v.PkgName,
				InstalledVersion: installed,
				FixedVersion:     fixed,
				Severity:         sev,
				Title:            v.Title,
				Target:           res.Target,
				URL:              v.PrimaryURL,
			})
		}
	}
	sortFindings(r.Findings)
	return r, nil
}
