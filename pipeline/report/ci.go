package report

import (
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/ferry-ci/ferry/pipeline"
)

// This file holds what the CI renderers (GitHub Actions, Azure Pipelines) share: the run as
// the CI log shows it, one collapsed group per finished stage with its log, an error on a
// failure followed by the source locations its log points at, and a summary at Close. A
// dialect says each piece in the CI system's own commands.

// maxAnnotations bounds the file annotations per stage: GitHub shows 10 of each kind per step.
const maxAnnotations = 10

// dialect is the syntax of one CI system's log commands. Its methods return whole lines
// without their newline, already escaped; copyLog and close write through the renderer.
type dialect interface {
	// notice marks a stage that was skipped or is waiting: what is "service › stage status".
	notice(what, message string) string
	// headline is a stage's headline on a line of its own (a group's title, or the line of a
	// stage that has no log).
	headline(s string) string
	// group returns the commands that open (followed by the headline) and close a group.
	group() (open, end string)
	// copyLog writes a stage log, open at f, so that the runner takes none of its lines for
	// a command, and ends it on a line of its own.
	copyLog(c *ciRenderer, f *os.File)
	// failed is the error of a failed stage: what is "service › stage failed".
	failed(what, message string) string
	// location is an error or warning at a source location the log of a failed stage points
	// at; title is "service › stage".
	location(title string, loc Location) string
	// runLine is the line that ends a run.
	runLine(s string) string
	// close writes the run's summary and outputs.
	close(c *ciRenderer)
}

// ciRenderer renders a run for a CI system in the commands of its dialect.
type ciRenderer struct {
	mu       sync.Mutex
	w        io.Writer
	d        dialect
	repoRoot string
	sum      runSummary
	closed   bool
	errs     errs
}

func newCIRenderer(w io.Writer, d dialect, repoRoot string) *ciRenderer {
	return &ciRenderer{w: w, d: d, repoRoot: repoRoot, sum: newRunSummary()}
}

// report renders one event. Log lines are not streamed: a group is written whole when its
// stage finishes, since groups of stages running in parallel cannot interleave.
func (c *ciRenderer) report(e pipeline.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	c.sum.observe(e)
	switch e.Kind {
	case pipeline.RunStarted:
		c.printf("Ferry run %s started\n", e.Run)
	case pipeline.StageFinished:
		c.stage(e)
	case pipeline.RunFinished:
		c.printf("%s\n", c.d.runLine(fmt.Sprintf("Ferry run %s %s%s", e.Run, c.sum.status, runDetail(e))))
	}
}

func (c *ciRenderer) stage(e pipeline.Event) {
	title := fmt.Sprintf("%s › %s", e.Service, e.Stage)
	switch {
	case e.Status == pipeline.Skipped || e.Status == pipeline.Waiting:
		c.printf("%s\n", c.d.notice(title+" "+string(e.Status), orDefault(e.Message, string(e.Status))))
		return
	case e.LogFile == "":
		// Nothing ran (cancelled before starting): no empty group.
		c.printf("%s\n", c.d.headline(stageHeadline(e)))
	default:
		open, end := c.d.group()
		c.printf("%s%s\n", open, c.d.headline(stageHeadline(e)))
		c.copyLog(e.LogFile)
		c.printf("%s\n", end)
	}
	if e.Status != pipeline.Failed {
		return
	}
	c.printf("%s\n", c.d.failed(title+" failed", orDefault(e.Message, "failed")))
	if e.LogFile == "" {
		return
	}
	log, err := readLogTail(e.LogFile, maxLogRead)
	if err != nil {
		return // copyLog has said so in the group
	}
	n := 0
	for _, loc := range FindLocations(log, e.ServiceDir, c.repoRoot) {
		if loc.Severity != "error" && loc.Severity != "warning" {
			continue
		}
		c.printf("%s\n", c.d.location(title, loc))
		if n++; n == maxAnnotations {
			break
		}
	}
}

func (c *ciRenderer) copyLog(name string) {
	f, err := os.Open(name)
	if err != nil {
		c.printf("(log not readable: %v)\n", err)
		return
	}
	defer f.Close()
	c.d.copyLog(c, f)
}

// copy writes r to the output through the writer that wrap makes of it (none for nil), and
// ends it on a line of its own.
func (c *ciRenderer) copy(r io.Reader, wrap func(io.Writer) io.Writer) {
	lw := &lineEndWriter{w: c.w}
	var w io.Writer = lw
	if wrap != nil {
		w = wrap(lw)
	}
	_, err := io.Copy(w, r)
	c.errs.keep(err)
	c.errs.keep(lw.end())
}

func (c *ciRenderer) printf(format string, args ...any) {
	_, err := fmt.Fprintf(c.w, format, args...)
	c.errs.keep(err)
}

// close has the dialect write the summary and outputs, once.
func (c *ciRenderer) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return c.errs.err
	}
	c.closed = true
	c.d.close(c)
	return c.errs.err
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
