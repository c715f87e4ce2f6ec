package report

import (
	"io"
	"strings"
	"sync"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/ferry-ci/ferry/pipeline"
)

// spinInterval is how often the live area redraws between events, to turn the spinners and
// count the elapsed time.
const spinInterval = 150 * time.Millisecond

// liveArea is the terminal's progress display: one mpb bar per service, redrawn after every
// event and on a ticker. Lines printed through it appear above the bars.
type liveArea struct {
	p       *mpb.Progress
	redraw  chan any
	stop    chan struct{}
	stopped chan struct{}
	now     func() time.Time
	paint   func(pipeline.Status, string) string
	bars    map[string]*serviceBar
}

func newLiveArea(w io.Writer, opt TerminalOptions, paint func(pipeline.Status, string) string) *liveArea {
	a := &liveArea{
		redraw:  make(chan any),
		stop:    make(chan struct{}),
		stopped: make(chan struct{}),
		now:     opt.Now,
		paint:   paint,
		bars:    map[string]*serviceBar{},
	}
	// ForceTTY because w is often a wrapper (the masker) around the terminal; manual refresh so
	// that every event is drawn at once rather than on mpb's next tick.
	opts := []mpb.ContainerOption{mpb.WithOutput(w), mpb.ForceTTY(), mpb.WithManualRefresh(a.redraw)}
	if opt.Width > 0 {
		opts = append(opts, mpb.WithWidth(opt.Width))
	}
	a.p = mpb.New(opts...)
	go a.tick()
	return a
}

func (a *liveArea) tick() {
	defer close(a.stopped)
	t := time.NewTicker(spinInterval)
	defer t.Stop()
	for {
		select {
		case <-a.stop:
			return
		case <-t.C:
			select {
			case a.redraw <- nil:
			case <-a.stop:
				return
			}
		}
	}
}

// refresh redraws now.
func (a *liveArea) refresh() { a.redraw <- nil }

// println prints a line above the bars.
func (a *liveArea) println(line string) {
	// Write fails only after the area is closed, and then nothing is printed through it.
	_, _ = a.p.Write([]byte(line + "\n"))
}

// service returns the bar of a service, adding it on first use. stages is the number of stages
// in the service's plan, -1 if unknown: the bar completes when they are all done.
func (a *liveArea) service(name string, stages int) *serviceBar {
	if b, ok := a.bars[name]; ok {
		if stages >= 0 {
			b.setRemaining(stages)
		}
		return b
	}
	b := &serviceBar{now: a.now, paint: a.paint, remaining: stages}
	b.bar = a.p.New(1, mpb.SpinnerStyle().PositionLeft(),
		mpb.BarWidth(1),
		mpb.BarFillerOnComplete(a.paint(pipeline.Succeeded, "✓")),
		mpb.BarFillerOnAbort(a.paint(pipeline.Failed, "✗")),
		mpb.PrependDecorators(decor.Name(name, decor.WCSyncSpaceR)),
		mpb.AppendDecorators(decor.Any(b.text)),
	)
	a.bars[name] = b
	return b
}

// finishAll ends every bar at the end of the run: completed when the service has no failed or
// unfinished stage, aborted otherwise.
func (a *liveArea) finishAll(rows []*stageRow) {
	ok := map[string]bool{}
	for _, r := range rows {
		if _, seen := ok[r.Service]; !seen {
			ok[r.Service] = true
		}
		if !r.Status.Done() {
			ok[r.Service] = false
		}
	}
	for name, b := range a.bars {
		b.end(ok[name])
	}
}

// close ends the bars that are still running, stops the ticker and waits for mpb's last frame.
func (a *liveArea) close(rows []*stageRow) error {
	a.finishAll(rows)
	close(a.stop)
	<-a.stopped
	a.refresh()
	a.p.Wait()
	return a.p.Error
}

// serviceBar is the state one bar shows. mpb calls text from its own goroutine, so the state
// has its own lock, never held while calling into mpb.
type serviceBar struct {
	bar   *mpb.Bar
	now   func() time.Time
	paint func(pipeline.Status, string) string

	mu        sync.Mutex
	stage     pipeline.StageID
	started   time.Time
	done      []string
	remaining int
	over      bool
}

func (b *serviceBar) setRemaining(n int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.remaining = n
}

func (b *serviceBar) start(stage pipeline.StageID, at time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.stage, b.started = stage, at
}

func (b *serviceBar) finish(stage pipeline.StageID, st pipeline.Status, d time.Duration) {
	b.mu.Lock()
	item := string(stage)
	if d > 0 {
		item += " " + fmtDuration(d)
	}
	if st != pipeline.Succeeded {
		item += " " + string(st)
	}
	b.done = append(b.done, b.paint(st, item))
	if b.stage == stage {
		b.stage = ""
	}
	if b.remaining > 0 {
		b.remaining--
	}
	last := b.remaining == 0
	b.mu.Unlock()
	switch {
	case st == pipeline.Failed || st == pipeline.Cancelled:
		b.end(false)
	case last:
		b.end(true)
	}
}

func (b *serviceBar) end(ok bool) {
	b.mu.Lock()
	if b.over {
		b.mu.Unlock()
		return
	}
	b.over = true
	b.stage = ""
	b.mu.Unlock()
	if ok {
		b.bar.SetCurrent(1)
	} else {
		b.bar.Abort(false)
	}
}

// text is the bar's line after the spinner: the running stage and its elapsed time, then the
// finished stages.
func (b *serviceBar) text(decor.Statistics) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var parts []string
	switch {
	case b.stage != "":
		parts = append(parts, b.paint(pipeline.Running, string(b.stage)+" "+fmtDuration(b.now().Sub(b.started))))
	case !b.over:
		parts = append(parts, "waiting")
	}
	if len(b.done) > 0 {
		parts = append(parts, strings.Join(b.done, ", "))
	}
	return strings.Join(parts, " · ")
}
