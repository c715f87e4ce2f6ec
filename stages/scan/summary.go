package scan

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteSummary writes a human summary of the verdict: the finding counts by severity, the
// failing findings, the accepted ones and the expired ignore entries. format is "text" (for
// logs) or "markdown" (for pull-request comments and job summaries).
func WriteSummary(w io.Writer, r *Report, v Verdict, format string) error {
	if r == nil {
		return fmt.Errorf("writing summary: no report")
	}
	var buf bytes.Buffer
	switch format {
	case "text":
		writeTextSummary(&buf, r, v)
	case "markdown":
		writeMarkdownSummary(&buf, r, v)
	default:
		return fmt.Errorf("unknown summary format %q (want text or markdown)", format)
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("writing summary: %w", err)
	}
	return nil
}

func verdictWord(v Verdict) string {
	if v.Passed {
		return "passed"
	}
	return "failed"
}

func scannerName(r *Report) string {
	s := r.Scanner
	if s == "" {
		s = "trivy"
	}
	if r.ScannerVersion != "" {
		s += " " + r.ScannerVersion
	}
	return s
}

func countsLine(v Verdict) string {
	parts := make([]string, 0, 5)
	for _, s := range Severities() {
		parts = append(parts, fmt.Sprintf("%s %d", s, v.Counts[s]))
	}
	return strings.Join(parts, ", ")
}

func writeTextSummary(b *bytes.Buffer, r *Report, v Verdict) {
	fmt.Fprintf(b, "Vulnerability scan %s: %s\n", verdictWord(v), r.Target)
	fmt.Fprintf(b, "Scanner: %s; policy fails on %s and above\n", scannerName(r), v.FailOn)
	fmt.Fprintf(b, "Findings: %s\n", countsLine(v))
	if len(v.Failing) > 0 {
		fmt.Fprintf(b, "\nFailing (%d):\n", len(v.Failing))
		tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  SEVERITY\tID\tPACKAGE\tINSTALLED\tFIXED\tTARGET")
		for _, f := range v.Failing {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", f.Severity, f.ID, f.Package, f.InstalledVersion, orNone(f.FixedVersion), f.Target)
		}
		tw.Flush()
	}
	if len(v.Ignored) > 0 {
		fmt.Fprintf(b, "\nIgnored by policy (%d):\n", len(v.Ignored))
		tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
		for _, ig := range v.Ignored {
			f := ig.Finding
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", f.Severity, f.ID, f.Package, f.InstalledVersion, ignoreWhy(ig))
		}
		tw.Flush()
	}
	if len(v.ExpiredIgnores) > 0 {
		fmt.Fprintf(b, "\nExpired ignore entries (%d):\n", len(v.ExpiredIgnores))
		for _, ig := range v.ExpiredIgnores {
			fmt.Fprintf(b, "  %s\n", describeExpired(ig))
		}
	}
}

func writeMarkdownSummary(b *bytes.Buffer, r *Report, v Verdict) {
	fmt.Fprintf(b, "### Vulnerability scan %s\n\n", verdictWord(v))
	fmt.Fprintf(b, "`%s` scanned with %s; the policy fails on **%s** and above.\n\n", mdCode(r.Target), scannerName(r), v.FailOn)
	b.WriteString("| Severity | Findings |\n| --- | ---: |\n")
	for _, s := range Severities() {
		fmt.Fprintf(b, "| %s | %d |\n", s, v.Counts[s])
	}
	if len(v.Failing) > 0 {
		fmt.Fprintf(b, "\n#### Failing (%d)\n\n", len(v.Failing))
		b.WriteString("| Severity | ID | Package | Installed | Fixed | Target | Title |\n| --- | --- | --- | --- | --- | --- | --- |\n")
		for _, f := range v.Failing {
			fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s |\n", f.Severity, mdID(f), mdCell(f.Package),
				mdCell(f.InstalledVersion), mdCell(orNone(f.FixedVersion)), mdCell(f.Target), mdCell(f.Title))
		}
	}
	if len(v.Ignored) > 0 {
		fmt.Fprintf(b, "\n#### Ignored by policy (%d)\n\n", len(v.Ignored))
		b.WriteString("| Severity | ID | Package | Installed | Why |\n| --- | --- | --- | --- | --- |\n")
		for _, ig := range v.Ignored {
			f := ig.Finding
			fmt.Fprintf(b, "| %s | %s | %s | %s | %s |\n", f.Severity, mdID(f), mdCell(f.Package), mdCell(f.InstalledVersion), mdCell(ignoreWhy(ig)))
		}
	}
	if len(v.ExpiredIgnores) > 0 {
		fmt.Fprintf(b, "\n#### Expired ignore entries (%d)\n\n", len(v.ExpiredIgnores))
		for _, ig := range v.ExpiredIgnores {
			fmt.Fprintf(b, "- %s\n", mdCell(describeExpired(ig)))
		}
	}
}

// mdID links the vulnerability ID to its advisory when the URL is known.
func mdID(f Finding) string {
	if f.URL == "" {
		return mdCell(f.ID)
	}
	return fmt.Sprintf("[%s](%s)", mdCell(f.ID), strings.NewReplacer("(", "%28", ")", "%29", " ", "%20").Replace(f.URL))
}

// mdCell escapes text for a Markdown table cell.
func mdCell(s string) string {
	return strings.NewReplacer("\\", "\\\\", "|", "\\|", "\r", " ", "\n", " ", "<", "&lt;", ">", "&gt;", "`", "\\`", "*", "\\*", "_", "\\_", "[", "\\[", "]", "\\]").Replace(s)
}

// mdCode makes text safe inside a single-backtick code span.
func mdCode(s string) string { return strings.ReplaceAll(s, "`", "'") }
