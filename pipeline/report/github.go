package report

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/ferry-ci/ferry/pipeline"
)

// GitHubOptions are the files and paths of a GitHub Actions step; the CLI reads them from the
// environment.
type GitHubOptions struct {
	// StepSummary receives the Markdown summary ($GITHUB_STEP_SUMMARY); nil for none.
	StepSummary io.Writer
	// Outputs receives the step outputs ($GITHUB_OUTPUT); nil for none.
	Outputs io.Writer
	// RepoRoot is the repository checkout; annotations point at files under it.
	RepoRoot string
}

// GitHub renders a run as GitHub Actions workflow commands: one collapsed group per finished
// stage with its log, error annotations on failures and on the source lines the log points
// at, a job summary and step outputs (run-id, status, images) at Close.
type GitHub struct{ ci *ciRenderer }

var _ pipeline.Reporter = (*GitHub)(nil)

// NewGitHub returns a GitHub Actions renderer writing workflow commands to w (the step's
// standard output). Call Close when the run is over.
func NewGitHub(w io.Writer, opt GitHubOptions) *GitHub {
	return &GitHub{ci: newCIRenderer(w, githubDialect{opt}, opt.RepoRoot)}
}

// Report renders one event. Log lines are not streamed: a group is written whole when its
// stage finishes, since groups of stages running in parallel cannot interleave.
func (g *GitHub) Report(e pipeline.Event) { g.ci.report(e) }

// Close writes the job summary and the step outputs.
func (g *GitHub) Close() error { return g.ci.close() }

// githubDialect is the workflow commands of GitHub Actions.
type githubDialect struct{ opt GitHubOptions }

func (githubDialect) notice(what, message string) string {
	return "::notice title=" + ghProperty(what) + "::" + ghData(message)
}

func (githubDialect) headline(s string) string { return ghData(s) }

func (githubDialect) group() (open, end string) { return "::group::", "::endgroup::" }

// copyLog writes a stage log into its group. A log may contain workflow commands (a test
// printing "::error::", or worse "::add-path::"), so their processing is stopped around it with
// a token the log cannot contain: its own digest. The file is read twice rather than held in
// memory: logs can be large.
func (githubDialect) copyLog(c *ciRenderer, f *os.File) {
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		c.printf("(log not readable: %v)\n", err)
		return
	}
	if n == 0 {
		return
	}
	token := hex.EncodeToString(h.Sum(nil))
	c.printf("::stop-commands::%s\n", token)
	c.copy(f, nil)
	c.printf("::%s::\n", token)
}

func (githubDialect) failed(what, message string) string {
	return "::error title=" + ghProperty(what) + "::" + ghData(message)
}

func (githubDialect) location(title string, loc Location) string {
	s := fmt.Sprintf("::%s file=%s,line=%d", loc.Severity, ghProperty(loc.File), loc.Line)
	if loc.Col > 0 {
		s += fmt.Sprintf(",col=%d", loc.Col)
	}
	return s + ",title=" + ghProperty(title) + "::" + ghData(loc.Message)
}

// runLine leaves the line as it is: the runner takes only lines that start with "::" for
// commands, and runDetail has made the message one line.
func (githubDialect) runLine(s string) string { return s }

func (d githubDialect) close(c *ciRenderer) {
	if d.opt.StepSummary != nil {
		if err := writeSummaryMarkdown(d.opt.StepSummary, &c.sum); err != nil {
			c.errs.keep(fmt.Errorf("writing step summary: %w", err))
		}
	}
	if d.opt.Outputs != nil {
		images, err := json.Marshal(c.sum.images())
		if err != nil {
			c.errs.keep(fmt.Errorf("encoding images: %w", err))
		}
		outputs := map[string]string{"run-id": c.sum.run, "status": string(c.sum.status), "images": string(images)}
		for _, k := range slices.Sorted(maps.Keys(outputs)) {
			if err := writeGitHubOutput(d.opt.Outputs, k, outputs[k]); err != nil {
				c.errs.keep(err)
				break
			}
		}
	}
}

// writeGitHubOutput writes name=value to a $GITHUB_OUTPUT file, or for a value with a line
// break the heredoc form with a random delimiter that the value cannot contain.
func writeGitHubOutput(w io.Writer, name, value string) error {
	var err error
	if !strings.ContainsAny(value, "\r\n") {
		_, err = fmt.Fprintf(w, "%s=%s\n", name, value)
	} else {
		var delim string
		for delim == "" || strings.Contains(value, delim) {
			delim = "ghadelimiter_" + rand.Text()
		}
		_, err = fmt.Fprintf(w, "%s<<%s\n%s\n%s\n", name, delim, value, delim)
	}
	if err != nil {
		return fmt.Errorf("writing output %s: %w", name, err)
	}
	return nil
}

// ghData escapes the message of a workflow command the way the runner unescapes it.
func ghData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

// ghProperty escapes a property value of a workflow command: also ":" and ",", which end it.
func ghProperty(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(s)
}
