package report

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ferry-ci/ferry/pipeline"
)

// This file holds what the run renderers (terminal, GitHub Actions, Azure Pipelines, JSON
// lines) share: the run's table of stages as events arrive, durations, log tails.

type stageKey struct {
	service string
	stage   pipeline.StageID
}

// stageRow is one line of a run summary.
type stageRow struct {
	Service    string
	Stage      pipeline.StageID
	Status     pipeline.Status
	Duration   time.Duration
	Outputs    pipeline.Outputs
	Reason     string
	CachedFrom string
}

// runSummary follows a run through its events. The run state in RunStarted and RunFinished
// is the authority (plan order, stages that never started, cache hits); events fill in
// between.
type runSummary struct {
	run      string
	status   pipeline.Status
	message  string
	duration time.Duration
	finished bool
	order    []stageKey
	rows     map[stageKey]*stageRow
	// state is the run as RunFinished left it, for the release record.
	state *pipeline.Run
}

func newRunSummary() runSummary {
	return runSummary{rows: map[stageKey]*stageRow{}}
}

func (s *runSummary) row(service string, stage pipeline.StageID) *stageRow {
	k := stageKey{service, stage}
	r, ok := s.rows[k]
	if !ok {
		r = &stageRow{Service: service, Stage: stage, Status: pipeline.Pending}
		s.rows[k] = r
		s.order = append(s.order, k)
	}
	return r
}

func (s *runSummary) observe(e pipeline.Event) {
	if s.run == "" {
		s.run = e.Run
	}
	switch e.Kind {
	case pipeline.RunStarted:
		s.status = pipeline.Running
		s.fromState(e.State)
	case pipeline.StageStarted:
		s.row(e.Service, e.Stage).Status = pipeline.Running
	case pipeline.StageFinished:
		r := s.row(e.Service, e.Stage)
		r.Status, r.Duration, r.Reason, r.CachedFrom = e.Status, e.Duration, e.Message, e.CachedFrom
		if e.Outputs != nil {
			r.Outputs = *e.Outputs
		}
	case pipeline.RunFinished:
		s.finished = true
		s.message, s.duration, s.state = e.Message, e.Duration, e.State
		s.fromState(e.State)
		s.status = e.Status
		if s.status == "" && e.State != nil {
			s.status = e.State.Status()
		}
	}
}

// fromState takes the stages of the run state, in plan order, and what the journal knows
// about them.
func (s *runSummary) fromState(st *pipeline.Run) {
	if st == nil {
		return
	}
	if s.run == "" {
		s.run = st.ID
	}
	var order []stageKey
	for _, svc := range st.Services {
		for _, ss := range svc.Stages {
			r := s.row(svc.Name, ss.ID)
			order = append(order, stageKey{svc.Name, ss.ID})
			if ss.Status != pipeline.Pending || r.Status == pipeline.Pending {
				r.Status = ss.Status
			}
			if d := ss.Duration(); d > 0 {
				r.Duration = d
			}
			if !ss.Outputs.IsZero() {
				r.Outputs = ss.Outputs
			}
			if ss.Reason != "" {
				r.Reason = ss.Reason
			}
			r.CachedFrom = ss.CachedFrom
		}
	}
	// Stages the state does not know (it should know them all) keep their place at the end.
	in := map[stageKey]bool{}
	for _, k := range order {
		in[k] = true
	}
	for _, k := range s.order {
		if !in[k] {
			order = append(order, k)
		}
	}
	s.order = order
}

func (s *runSummary) list() []*stageRow {
	out := make([]*stageRow, 0, len(s.order))
	for _, k := range s.order {
		out = append(out, s.rows[k])
	}
	return out
}

// images maps each pushed service to its image by digest.
func (s *runSummary) images() map[string]string {
	m := map[string]string{}
	for _, r := range s.list() {
		if r.Outputs.Push != nil {
			m[r.Service] = digestRef(r.Outputs.Push)
		}
	}
	return m
}

// digestRef is repo@digest for a pushed image, whatever form its Ref has.
func digestRef(p *pipeline.PushOutput) string {
	if strings.Contains(p.Ref, "@") || p.Digest == "" {
		return p.Ref
	}
	repo := p.Ref
	// A colon after the last slash starts a tag; one before it belongs to a registry port.
	if i := strings.LastIndexByte(repo, ':'); i > strings.LastIndexByte(repo, '/') {
		repo = repo[:i]
	}
	return repo + "@" + p.Digest
}

// statusText is the status shown in summaries. A stage whose result was reused from an earlier
// run (the engine ends it as skipped, with that run's outputs) says "cached".
func (r *stageRow) statusText() string {
	if r.CachedFrom != "" && r.Status.Done() {
		return "cached"
	}
	return string(r.Status)
}

// fmtDuration prints seconds with one decimal below a minute, whole seconds above.
func fmtDuration(d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	if d < time.Minute {
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	return d.Round(time.Second).String()
}

// stageDetail is what follows a finished stage's status in one-line forms: the duration, and
// for a success the engine's note (a cache hit).
func stageDetail(e pipeline.Event) string {
	var parts []string
	if e.Duration > 0 {
		parts = append(parts, fmtDuration(e.Duration))
	}
	if e.Status == pipeline.Succeeded && e.Message != "" {
		parts = append(parts, e.Message)
	}
	return strings.Join(parts, ", ")
}

// stageHeadline is "service › stage — status (detail)" for CI log groups.
func stageHeadline(e pipeline.Event) string {
	s := fmt.Sprintf("%s › %s — %s", e.Service, e.Stage, e.Status)
	if d := stageDetail(e); d != "" {
		s += " (" + d + ")"
	}
	return s
}

// writeSummaryText writes the run's stages as an aligned table. paint colors a status; it must
// add the same number of bytes to every cell (the tabwriter counts bytes), so the header is
// painted too.
func writeSummaryText(w io.Writer, s *runSummary, paint func(pipeline.Status, string) string) error {
	rows := s.list()
	if len(rows) == 0 {
		return nil
	}
	var b bytes.Buffer
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "SERVICE\tSTAGE\t%s\tDURATION\tOUTPUTS\n", paint("", "STATUS"))
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Service, r.Stage, paint(r.Status, r.statusText()), fmtDuration(r.Duration), r.Outputs.String())
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	// Rows without outputs end in padding.
	var out bytes.Buffer
	for line := range bytes.Lines(b.Bytes()) {
		out.Write(bytes.TrimRight(line, " \n"))
		out.WriteByte('\n')
	}
	_, err := w.Write(out.Bytes())
	return err
}

// writeSummaryMarkdown writes the run as a Markdown table, for job summaries.
func writeSummaryMarkdown(w io.Writer, s *runSummary) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "### Ferry run `%s`: %s\n\n", s.run, statusIcon(s.status)+" "+string(s.status))
	if s.message != "" {
		fmt.Fprintf(&b, "%s\n\n", mdCell(s.message))
	}
	b.WriteString("| service | stage | status | duration | outputs |\n|---|---|---|---|---|\n")
	for _, r := range s.list() {
		icon := statusIcon(r.Status)
		if r.CachedFrom != "" {
			icon = "♻️"
		}
		status := icon + " " + r.statusText()
		if r.Reason != "" && r.Status != pipeline.Succeeded {
			status += ": " + r.Reason
		}
		out := r.Outputs.String()
		if out != "" {
			out = "`" + strings.ReplaceAll(out, "`", "'") + "`"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", mdCell(r.Service), mdCell(string(r.Stage)), mdCell(status), fmtDuration(r.Duration), mdCell(out))
	}
	if s.state != nil {
		writeReleaseMarkdown(&b, Releases(s.state))
	}
	_, err := w.Write(b.Bytes())
	return err
}

func statusIcon(s pipeline.Status) string {
	switch s {
	case pipeline.Succeeded:
		return "✅"
	case pipeline.Failed:
		return "❌"
	case pipeline.Skipped:
		return "⏭️"
	case pipeline.Cancelled:
		return "🚫"
	case pipeline.Waiting:
		return "⏸️"
	case pipeline.Running:
		return "⏳"
	}
	return "⚪"
}

// mdCell keeps a value inside one Markdown table cell.
func mdCell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	s = strings.ReplaceAll(s, "\r", "")
	return strings.ReplaceAll(s, "\n", "<br>")
}

// maxLogRead bounds how much of a stage log renderers read into memory (for locations and
// tails); the end of a log is where failures are.
const maxLogRead = 4 << 20

// readLogTail reads at most the last limit bytes of a log file, starting at a line boundary
// when it had to cut.
func readLogTail(name string, limit int64) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("reading log: %w", err)
	}
	off := max(fi.Size()-limit, 0)
	b := make([]byte, fi.Size()-off)
	if _, err := f.ReadAt(b, off); err != nil && err != io.EOF {
		return nil, fmt.Errorf("reading log: %w", err)
	}
	if off > 0 {
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return b, nil
}

// lastLines returns the last n lines of a log, without the final newline.
func lastLines(b []byte, n int) []string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) == 1 && lines[0] == "" {
		return nil
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, "\r")
	}
	return lines
}

// runDetail is " in 12.3s: message" for the line that ends a run.
func runDetail(e pipeline.Event) string {
	var s string
	if e.Duration > 0 {
		s += " in " + fmtDuration(e.Duration)
	}
	if e.Message != "" {
		s += ": " + oneLine(e.Message)
	}
	return s
}

// oneLine keeps a text on the line of the command that shows it.
func oneLine(s string) string {
	return strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(s)
}

// lineEndWriter passes writes through and remembers whether the last byte ended a line, so
// that a group or a section can be closed on a line of its own.
type lineEndWriter struct {
	w       io.Writer
	written bool
	last    byte
}

func (l *lineEndWriter) Write(p []byte) (int, error) {
	if len(p) > 0 {
		l.written, l.last = true, p[len(p)-1]
	}
	return l.w.Write(p)
}

// end writes a newline if the text written so far did not end with one.
func (l *lineEndWriter) end() error {
	if !l.written || l.last == '\n' {
		return nil
	}
	_, err := l.w.Write([]byte("\n"))
	return err
}

// errs keeps the first write error of a renderer: Report cannot return one, Close does.
type errs struct{ err error }

func (e *errs) keep(err error) {
	if err != nil && e.err == nil {
		e.err = err
	}
}
