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
	"sync"

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

// maxAnnotations bounds the file annotations per stage: GitHub shows 10 of each kind per step.
const maxAnnotations = 10

// GitHub renders a run as GitHub Actions workflow commands: one collapsed group per finished
// stage with its log, error annotations on failures and on the source lines the log points
// at, a job summary and step outputs (run-id, status, images) at Close.
type GitHub struct {
	mu     sync.Mutex
	w      io.Writer
	opt    GitHubOptions
	sum    runSummary
	closed bool
	errs   errs
}

var _ pipeline.Reporter = (*GitHub)(nil)

// NewGitHub returns a GitHub Actions renderer writing workflow commands to w (the step's
// standard output). Call Close when the run is over.
func NewGitHub(w io.Writer, opt GitHubOptions) *GitHub {
	return &GitHub{w: w, opt: opt, sum: newRunSummary()}
}

// Report renders one event. Log lines are not streamed: a group is written whole when its
// stage finishes, since groups of stages running in parallel cannot interleave.
func (g *GitHub) Report(e pipeline.Event) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return
	}
	g.sum.observe(e)
	switch e.Kind {
	case pipeline.RunStarted:
		g.printf("Ferry run %s started\n", e.Run)
	case pipeline.StageFinished:
		g.stage(e)
	case pipeline.RunFinished:
		g.printf("Ferry run %s %s%s\n", e.Run, g.sum.status, runDetail(e))
	}
}

func (g *GitHub) stage(e pipeline.Event) {
	title := fmt.Sprintf("%s › %s", e.Service, e.Stage)
	switch {
	case e.Status == pipeline.Skipped || e.Status == pipeline.Waiting:
		g.printf("::notice title=%s::%s\n", ghProperty(title+" "+string(e.Status)), ghData(orDefault(e.Message, string(e.Status))))
		return
	case e.LogFile == "":
		// Nothing ran (cancelled before starting): no empty group.
		g.printf("%s\n", ghData(stageHeadline(e)))
	default:
		g.printf("::group::%s\n", ghData(stageHeadline(e)))
		g.copyLog(e.LogFile)
		g.printf("::endgroup::\n")
	}
	if e.Status != pipeline.Failed {
		return
	}
	g.printf("::error title=%s::%s\n", ghProperty(title+" failed"), ghData(orDefault(e.Message, "failed")))
	if e.LogFile == "" {
		return
	}
	log, err := readLogTail(e.LogFile, maxLogRead)
	if err != nil {
		return // copyLog has said so in the group
	}
	n := 0
	for _, loc := range FindLocations(log, e.ServiceDir, g.opt.RepoRoot) {
		if loc.Severity != "error" && loc.Severity != "warning" {
			continue
		}
		g.printf("::%s file=%s,line=%d", loc.Severity, ghProperty(loc.File), loc.Line)
		if loc.Col > 0 {
			g.printf(",col=%d", loc.Col)
		}
		g.printf(",title=%s::%s\n", ghProperty(title), ghData(loc.Message))
		if n++; n == maxAnnotations {
			break
		}
	}
}

// copyLog writes a stage log into its group. A log may contain workflow commands (a test
// printing "::error::", or worse "::add-path::"), so their processing is stopped around it with
// a token the log cannot contain: its own digest. The file is read twice rather than held in
// memory: logs can be large.
func (g *GitHub) copyLog(name string) {
	f, err := os.Open(name)
	if err != nil {
		g.printf("(log not readable: %v)\n", err)
		return
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		g.printf("(log not readable: %v)\n", err)
		return
	}
	if n == 0 {
		return
	}
	token := hex.EncodeToString(h.Sum(nil))
	g.printf("::stop-commands::%s\n", token)
	g.copy(f)
	g.printf("::%s::\n", token)
}

func (g *GitHub) copy(r io.Reader) {
	lw := &lineEndWriter{w: g.w}
	_, err := io.Copy(lw, r)
	g.errs.keep(err)
	g.errs.keep(lw.end())
}

func (g *GitHub) printf(format string, args ...any) {
	_, err := fmt.Fprintf(g.w, format, args...)
	g.errs.keep(err)
}

// Close writes the job summary and the step outputs.
func (g *GitHub) Close() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return g.errs.err
	}
	g.closed = true
	if g.opt.StepSummary != nil {
		if err := writeSummaryMarkdown(g.opt.StepSummary, &g.sum); err != nil {
			g.errs.keep(fmt.Errorf("writing step summary: %w", err))
		}
	}
	if g.opt.Outputs != nil {
		images, err := json.Marshal(g.sum.images())
		if err != nil {
			g.errs.keep(fmt.Errorf("encoding images: %w", err))
		}
		outputs := map[string]string{"run-id": g.sum.run, "status": string(g.sum.status), "images": string(images)}
		for _, k := range slices.Sorted(maps.Keys(outputs)) {
			if err := writeGitHubOutput(g.opt.Outputs, k, outputs[k]); err != nil {
				g.errs.keep(err)
				break
			}
		}
	}
	return g.errs.err
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

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
