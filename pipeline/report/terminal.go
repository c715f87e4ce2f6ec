package report

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/ferry-ci/ferry/pipeline"
)

// TerminalOptions choose how a run looks in a terminal. The CLI decides them from the
// environment and flags; the renderer never looks.
type TerminalOptions struct {
	// TTY is true when w is a terminal.
	TTY bool
	// Color enables ANSI colors; false when NO_COLOR is set.
	Color bool
	// Progress shows a live area on a TTY; false with --no-progress.
	Progress bool
	// Verbose streams each stage's log lines.
	Verbose bool
	// Now is the clock for events without a time and for elapsed times; time.Now if nil.
	Now func() time.Time
	// Width is the width of the live area in columns; 0 asks the terminal when w is one and
	// uses 80 otherwise (w wrapped by a masker is not).
	Width int
}

// failureTail is how many lines of a failed stage's log the terminal shows when it has not
// streamed them.
const failureTail = 20

// Terminal renders a run for people: plain, grep-able lines with timestamps, or on a TTY a
// live area with one line per service above which finished stages are printed; a summary table
// at Close.
type Terminal struct {
	mu       sync.Mutex
	w        io.Writer
	opt      TerminalOptions
	sum      runSummary
	svcW     int
	stageW   int
	streamed map[stageKey]bool
	live     *liveArea
	closed   bool
	errs     errs
}

var _ pipeline.Reporter = (*Terminal)(nil)

// NewTerminal returns a terminal renderer writing to w. Call Close when the run is over.
func NewTerminal(w io.Writer, opt TerminalOptions) *Terminal {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	t := &Terminal{w: w, opt: opt, sum: newRunSummary(), streamed: map[stageKey]bool{}, svcW: 8, stageW: 5}
	if opt.TTY && opt.Progress {
		t.live = newLiveArea(w, opt, t.paint)
	}
	return t
}

// Report renders one event.
func (t *Terminal) Report(e pipeline.Event) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	t.sum.observe(e)
	ts := e.Time
	if ts.IsZero() {
		ts = t.opt.Now()
	}
	key := stageKey{e.Service, e.Stage}
	switch e.Kind {
	case pipeline.RunStarted:
		t.columns(e.State)
		n := ""
		if e.State != nil {
			n = fmt.Sprintf(": %d services", len(e.State.Services))
		}
		t.println(fmt.Sprintf("%s run %s started%s", clock(ts), e.Run, n))
		if t.live != nil && e.State != nil {
			for _, s := range e.State.Services {
				t.live.service(s.Name, len(s.Stages))
			}
		}
	case pipeline.StageStarted:
		if t.live != nil {
			t.live.service(e.Service, -1).start(e.Stage, ts)
			break
		}
		text := "started"
		if e.Attempt > 1 {
			text = fmt.Sprintf("started (attempt %d)", e.Attempt)
		}
		t.println(t.stageLine(ts, e, text))
	case pipeline.StageLog:
		if !t.opt.Verbose {
			break
		}
		t.streamed[key] = true
		for _, l := range strings.Split(strings.TrimRight(e.Message, "\n"), "\n") {
			t.println(logPrefix(e) + l)
		}
	case pipeline.StageFinished:
		first, rest, _ := strings.Cut(e.Message, "\n")
		text := t.paint(e.Status, string(e.Status))
		if e.Duration > 0 {
			text += " " + fmtDuration(e.Duration)
		}
		switch {
		case first == "":
		case e.Status == pipeline.Succeeded:
			text += " (" + first + ")"
		default:
			text += ": " + first
		}
		t.println(t.stageLine(ts, e, text))
		for l := range strings.Lines(rest) {
			t.println(logPrefix(e) + strings.TrimRight(l, "\r\n"))
		}
		if e.Status == pipeline.Failed && !t.streamed[key] && e.LogFile != "" {
			t.printTail(e)
		}
		if t.live != nil {
			t.live.service(e.Service, -1).finish(e.Stage, e.Status, e.Duration)
		}
	case pipeline.RunFinished:
		text := t.paint(t.sum.status, string(t.sum.status))
		if e.Duration > 0 {
			text += " " + fmtDuration(e.Duration)
		}
		if e.Message != "" {
			text += ": " + e.Message
		}
		t.println(fmt.Sprintf("%s run %s %s", clock(ts), e.Run, text))
		if t.live != nil {
			t.live.finishAll(t.sum.list())
		}
	}
	// Log lines wait for the next tick: a chatty build would otherwise redraw for every line.
	if t.live != nil && e.Kind != pipeline.StageLog {
		t.live.refresh()
	}
}

// Close ends the live area and writes the summary table.
func (t *Terminal) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return t.errs.err
	}
	t.closed = true
	if t.live != nil {
		t.errs.keep(t.live.close(t.sum.list()))
	}
	if len(t.sum.list()) > 0 {
		_, err := fmt.Fprintln(t.w)
		t.errs.keep(err)
		t.errs.keep(writeSummaryText(t.w, &t.sum, t.paint))
	}
	return t.errs.err
}

// columns sizes the service and stage columns from the plan, so lines align from the start.
func (t *Terminal) columns(st *pipeline.Run) {
	if st == nil {
		return
	}
	for _, s := range st.Services {
		t.svcW = max(t.svcW, len(s.Name))
		for _, ss := range s.Stages {
			t.stageW = max(t.stageW, len(ss.ID))
		}
	}
}

func (t *Terminal) stageLine(ts time.Time, e pipeline.Event, text string) string {
	return fmt.Sprintf("%s %-*s  %-*s  %s", clock(ts), t.svcW, e.Service, t.stageW, e.Stage, text)
}

func (t *Terminal) printTail(e pipeline.Event) {
	b, err := readLogTail(e.LogFile, 64<<10)
	if err != nil {
		t.println(logPrefix(e) + fmt.Sprintf("(log not readable: %v)", err))
		return
	}
	for _, l := range lastLines(b, failureTail) {
		t.println(logPrefix(e) + l)
	}
}

func (t *Terminal) println(line string) {
	if t.live != nil {
		t.live.println(line)
		return
	}
	_, err := io.WriteString(t.w, line+"\n")
	t.errs.keep(err)
}

// ANSI SGR colors by status. All have the same length, so that columns of painted text stay
// aligned in a tabwriter, which counts bytes.
const (
	ansiReset   = "\x1b[0m"
	ansiRed     = "\x1b[31m"
	ansiGreen   = "\x1b[32m"
	ansiYellow  = "\x1b[33m"
	ansiCyan    = "\x1b[36m"
	ansiGray    = "\x1b[90m"
	ansiDefault = "\x1b[39m"
)

func (t *Terminal) paint(s pipeline.Status, text string) string {
	if !t.opt.Color {
		return text
	}
	var c string
	switch s {
	case pipeline.Succeeded:
		c = ansiGreen
	case pipeline.Failed:
		c = ansiRed
	case pipeline.Cancelled, pipeline.Waiting:
		c = ansiYellow
	case pipeline.Running:
		c = ansiCyan
	case pipeline.Skipped, pipeline.Pending:
		c = ansiGray
	default:
		c = ansiDefault
	}
	return c + text + ansiReset
}

func clock(t time.Time) string { return t.Format("15:04:05") }

func logPrefix(e pipeline.Event) string { return fmt.Sprintf("%s/%s | ", e.Service, e.Stage) }
