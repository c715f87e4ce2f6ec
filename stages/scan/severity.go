package scan

import (
	"fmt"
	"strings"
)

// Severity is a vulnerability severity as Trivy reports it. Severities are ordered
// UNKNOWN < LOW < MEDIUM < HIGH < CRITICAL; the zero value "" means "not set".
type Severity string

// The severities, lowest first.
const (
	SeverityUnknown  Severity = "UNKNOWN"
	SeverityLow      Severity = "LOW"
	SeverityMedium   Severity = "MEDIUM"
	SeverityHigh     Severity = "HIGH"
	SeverityCritical Severity = "CRITICAL"
)

// Severities lists every severity, highest first: the order of reports and summaries.
func Severities() []Severity {
	return []Severity{SeverityCritical, SeverityHigh, SeverityMedium, SeverityLow, SeverityUnknown}
}

// ParseSeverity parses a severity name, ignoring case and surrounding space.
func ParseSeverity(s string) (Severity, error) {
	v := Severity(strings.ToUpper(strings.TrimSpace(s)))
	if v.rank() < 0 {
		return "", fmt.Errorf("unknown severity %q (want UNKNOWN, LOW, MEDIUM, HIGH or CRITICAL)", s)
	}
	return v, nil
}

// Valid reports whether s is one of the five severities.
func (s Severity) Valid() bool { return s.rank() >= 0 }

// AtLeast reports whether s is at or above min. An invalid severity ranks as UNKNOWN.
func (s Severity) AtLeast(min Severity) bool { return max(s.rank(), 0) >= max(min.rank(), 0) }

// rank orders the severities from 0 (UNKNOWN) to 4 (CRITICAL); -1 for anything else.
func (s Severity) rank() int {
	switch s {
	case SeverityUnknown:
		return 0
	case SeverityLow:
		return 1
	case SeverityMedium:
		return 2
	case SeverityHigh:
		return 3
	case SeverityCritical:
		return 4
	}
	return -1
}
