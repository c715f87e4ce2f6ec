package pipeline

import (
	"sync"
	"time"
)

// EventKind says what an engine event reports.
type EventKind string

const (
	RunStarted    EventKind = "run-started"
	StageStarted  EventKind = "stage-started"
	StageLog      EventKind = "stage-log"
	StageFinished EventKind = "stage-finished"
	RunFinished   EventKind = "run-finished"
)

// Event is what the engine tells renderers. Every text in it is already masked.
type Event struct {
	Time    time.Time `json:"time"`
	Kind    EventKind `json:"event"`
	Run     string    `json:"run"`
	Service string    `json:"service,omitempty"`
	Stage   StageID   `json:"stage,omitempty"`
	Status  Status    `json:"state,omitempty"`
	// Message is a log line for StageLog, the reason for a finished stage (skip reason,
	// failure), a summary for RunFinished.
	Message  string        `json:"message,omitempty"`
	Duration time.Duration `json:"duration,omitempty"`
	Attempt  int           `json:"attempt,omitempty"`
	Outputs  *Outputs      `json:"outputs,omitempty"`
	// CachedFrom is the run whose result a skipped stage reused (StageFinished).
	CachedFrom string `json:"cachedFrom,omitempty"`
	// LogFile is the absolute path of the stage's log (masked), for StageFinished.
	LogFile string `json:"logFile,omitempty"`
	// ServiceDir is the service folder relative to the repository root, so that renderers can
	// turn file names in logs (relative to the folder the command ran in) into annotations.
	ServiceDir string `json:"serviceDir,omitempty"`
	// Run is the full run state for RunStarted and RunFinished.
	State *Run `json:"-"`
}

// Reporter receives engine events. Implementations must be safe for concurrent use: services
// run in parallel.
type Reporter interface {
	Report(Event)
}

// Reporters fans events out to several reporters, one event at a time, in order.
type Reporters struct {
	mu   sync.Mutex
	list []Reporter
}

// NewReporters combines reporters.
func NewReporters(rs ...Reporter) *Reporters { return &Reporters{list: rs} }

// Report sends the event to every reporter, serialised so that renderers never interleave.
func (r *Reporters) Report(e Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rep := range r.list {
		rep.Report(e)
	}
}
