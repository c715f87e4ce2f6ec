package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/ferry-ci/ferry/pipeline"
)

// AzureOptions are the paths of an Azure Pipelines step; the CLI reads them from the
// environment.
type AzureOptions struct {
	// SummaryDir is where the Markdown summary is written (e.g. $AGENT_TEMPDIRECTORY); empty
	// for no summary.
	SummaryDir string
	// RepoRoot is the repository checkout; issues point at files under it.
	RepoRoot string
	// Mask, when set, masks the summary before it is written to its file.
	Mask func(string) string
}

// Azure renders a run as Azure Pipelines logging commands: one collapsed group per finished
// stage with its log, issues on failures and on the source lines the log points at, output
// variables (runId, status, images) and an uploaded Markdown summary at Close. It never sets
// the task result: Ferry's exit code decides it.
type Azure struct{ ci *ciRenderer }

var _ pipeline.Reporter = (*Azure)(nil)

// NewAzure returns an Azure Pipelines renderer writing logging commands to w (the step's
// standard output). Call Close when the run is over.
func NewAzure(w io.Writer, opt AzureOptions) *Azure {
	return &Azure{ci: newCIRenderer(w, azureDialect{opt}, opt.RepoRoot)}
}

// Report renders one event; a stage's group is written whole when it finishes.
func (a *Azure) Report(e pipeline.Event) { a.ci.report(e) }

// Close sets the output variables and uploads the summary.
func (a *Azure) Close() error { return a.ci.close() }

// azureDialect is the logging and formatting commands of Azure Pipelines.
type azureDialect struct{ opt AzureOptions }

func (azureDialect) notice(what, message string) string {
	return "##[section]" + azureText(what+": "+message)
}

func (azureDialect) headline(s string) string { return azureText(s) }

func (azureDialect) group() (open, end string) { return "##[group]", "##[endgroup]" }

// copyLog writes a stage log into its group, defused: the agent takes "##vso[" anywhere in a
// line, and "##[" at its start, for a command, so a build could otherwise set variables or
// upload files through Ferry's output.
func (azureDialect) copyLog(c *ciRenderer, f *os.File) {
	c.copy(f, func(w io.Writer) io.Writer { return &defuseWriter{w: w} })
}

func (azureDialect) failed(what, message string) string {
	return "##vso[task.logissue type=error]" + azureEscape(what+": "+message)
}

func (azureDialect) location(_ string, loc Location) string {
	s := fmt.Sprintf("##vso[task.logissue type=%s;sourcepath=%s;linenumber=%d", loc.Severity, azureProperty(loc.File), loc.Line)
	if loc.Col > 0 {
		s += fmt.Sprintf(";columnnumber=%d", loc.Col)
	}
	return s + "]" + azureEscape(loc.Message)
}

func (azureDialect) runLine(s string) string { return azureText(s) }

func (d azureDialect) close(c *ciRenderer) {
	images, err := json.Marshal(c.sum.images())
	c.errs.keep(err)
	vars := map[string]string{"runId": c.sum.run, "status": string(c.sum.status), "images": string(images)}
	c.errs.keep(WriteAzureOutputs(c.w, vars))
	if d.opt.SummaryDir != "" {
		c.errs.keep(d.uploadSummary(c))
	}
}

func (d azureDialect) uploadSummary(c *ciRenderer) error {
	var b bytes.Buffer
	if err := writeSummaryMarkdown(&b, &c.sum); err != nil {
		return err
	}
	dir, err := filepath.Abs(d.opt.SummaryDir)
	if err != nil {
		return fmt.Errorf("writing summary: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("writing summary: %w", err)
	}
	name := filepath.Join(dir, "ferry-summary-"+fileSafe(c.sum.run)+".md")
	text := b.String()
	if d.opt.Mask != nil {
		text = d.opt.Mask(text)
	}
	if err := os.WriteFile(name, []byte(text), 0o644); err != nil {
		return fmt.Errorf("writing summary: %w", err)
	}
	c.printf("##vso[task.uploadsummary]%s\n", azureEscape(name))
	return nil
}

// azureProperty escapes a logging command property value: also ";" and "]", which end it.
func azureProperty(s string) string {
	return strings.NewReplacer("%", "%AZP25", "\r", "%0D", "\n", "%0A", ";", "%3B", "]", "%5D").Replace(s)
}

// azureText is a text for the rest of a formatting command's line: one line, defused.
func azureText(s string) string { return string(defuse([]byte(oneLine(s)))) }

// fileSafe keeps letters, digits, '-', '_' and '.' of a name for use in a file name.
func fileSafe(s string) string {
	if s == "" {
		return "run"
	}
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			return r
		}
		return '_'
	}, s)
}

// defuseWriter inserts a zero-width space after "##" where a logging command would start. It
// works on whole lines and keeps a partial line until it ends.
type defuseWriter struct {
	w       io.Writer
	partial []byte
}

func (d *defuseWriter) Write(p []byte) (int, error) {
	d.partial = append(d.partial, p...)
	i := bytes.LastIndexByte(d.partial, '\n')
	if i < 0 && len(d.partial) < maxLogRead {
		return len(p), nil
	}
	cut := i + 1
	if i < 0 {
		cut = len(d.partial)
	}
	if _, err := d.w.Write(defuse(d.partial[:cut])); err != nil {
		return 0, err
	}
	d.partial = append(d.partial[:0], d.partial[cut:]...)
	return len(p), nil
}

// ReadFrom copies r and writes the last partial line, so io.Copy ends with everything written.
func (d *defuseWriter) ReadFrom(r io.Reader) (int64, error) {
	var n int64
	buf := make([]byte, 32<<10)
	for {
		m, err := r.Read(buf)
		n += int64(m)
		if m > 0 {
			if _, werr := d.Write(buf[:m]); werr != nil {
				return n, werr
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return n, err
		}
	}
	if len(d.partial) > 0 {
		if _, err := d.w.Write(defuse(d.partial)); err != nil {
			return n, err
		}
		d.partial = d.partial[:0]
	}
	return n, nil
}

func defuse(b []byte) []byte {
	if !bytes.Contains(b, []byte("##")) {
		return b
	}
	b = bytes.ReplaceAll(b, []byte("##vso["), []byte("##\u200bvso["))
	var out []byte
	for line := range bytes.Lines(b) {
		if t := bytes.TrimLeft(line, " \t"); bytes.HasPrefix(t, []byte("##[")) {
			at := len(line) - len(t) + 2
			out = append(out, line[:at]...)
			out = append(out, "\u200b"...)
			out = append(out, line[at:]...)
			continue
		}
		out = append(out, line...)
	}
	return out
}
