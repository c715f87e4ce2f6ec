// Package scan is Ferry's vulnerability scan gate: it scans a built image with a Scanner
// (the pinned Trivy CLI, run as a subprocess), evaluates the findings against a Policy and
// reports the verdict as SARIF and as a text or Markdown summary.
//
// Scanning and judging are separate on purpose. The scanner never decides pass or fail (Trivy
// runs without --exit-code); Evaluate does, so that ignore entries can require a reason and an
// expiry date. The two ways a gate can stop a pipeline are distinct types: a *ScannerError
// when the scanner could not produce a report (no DB, crash, timeout, unreadable output) and a
// *PolicyError when it did and the policy rejected the image.
package scan

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"
)

// Target is the image to scan: exactly one of LayoutDir and ImageRef is set.
type Target struct {
	// LayoutDir is an OCI image layout directory, as the image stage writes it. The first
	// image in its index.json is scanned.
	LayoutDir string
	// ImageRef is an image reference in a registry, preferably by digest.
	ImageRef string
}

// String names the target in messages and reports.
func (t Target) String() string {
	if t.ImageRef != "" {
		return t.ImageRef
	}
	return t.LayoutDir
}

func (t Target) validate() error {
	switch {
	case t.LayoutDir == "" && t.ImageRef == "":
		return fmt.Errorf("empty scan target: set a layout directory or an image reference")
	case t.LayoutDir != "" && t.ImageRef != "":
		return fmt.Errorf("scan target sets both layout directory %q and image reference %q", t.LayoutDir, t.ImageRef)
	}
	return nil
}

// Scanner scans an image for known vulnerabilities. Implementations return a *ScannerError
// for every failure, and never judge the findings.
type Scanner interface {
	Scan(ctx context.Context, t Target) (*Report, error)
}

// Report is what a scanner found in one image.
type Report struct {
	Scanner        string // e.g. "trivy"
	ScannerVersion string // e.g. "0.74.0"
	Target         string // the scanned target as given
	Findings       []Finding
	Raw            []byte // the scanner's own report (Trivy JSON), unchanged
}

// Finding is one vulnerability in one package of the image.
type Finding struct {
	ID               string   // e.g. CVE-2021-38561
	Package          string   // e.g. golang.org/x/text
	InstalledVersion string   // e.g. 0.3.6; Go module versions without their "v"
	FixedVersion     string   // e.g. 0.3.7, or "0.3.7, 0.4.1" for several branches; "" when no fix is known
	Severity         Severity //
	Title            string   //
	Target           string   // where in the image: a file, or the OS, e.g. usr/local/bin/app
	URL              string   // advisory page, if the scanner knows one
}

// Gate validates the policy, scans the target and evaluates the report at time now. The error
// is a *ScannerError when the scan failed, a *PolicyError when the policy rejected the image,
// or a plain error when the policy itself is invalid. The report and verdict are returned
// whenever the scan produced a report, so that they can be published even on failure.
func Gate(ctx context.Context, s Scanner, t Target, p Policy, now time.Time) (*Report, Verdict, error) {
	if err := p.Validate(); err != nil {
		return nil, Verdict{}, err
	}
	r, err := s.Scan(ctx, t)
	if err != nil {
		return nil, Verdict{}, err
	}
	v := Evaluate(r, p, now)
	return r, v, v.Err()
}

// compareFindings orders findings by severity (highest first), then ID, package, version
// and target, so that reports are deterministic.
func compareFindings(a, b Finding) int {
	if c := cmp.Compare(b.Severity.rank(), a.Severity.rank()); c != 0 {
		return c
	}
	return cmp.Or(
		cmp.Compare(a.ID, b.ID),
		cmp.Compare(a.Package, b.Package),
		cmp.Compare(a.InstalledVersion, b.InstalledVersion),
		cmp.Compare(a.Target, b.Target),
	)
}

func sortFindings(fs []Finding) { slices.SortStableFunc(fs, compareFindings) }
