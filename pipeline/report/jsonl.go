package report

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/ferry-ci/ferry/pipeline"
)

// JSONLines renders a run for machines: one JSON object per event, one per line. The field
// names are stable; fields without a value are left out.
//
//	time         RFC 3339 time of the event, UTC, with nanoseconds
//	run          run id
//	event        run-started, stage-started, stage-log, stage-finished, run-finished
//	service      service name (stage events)
//	stage        stage id, e.g. build or deploy:qa (stage events)
//	state        pending, running, succeeded, failed, skipped, cancelled, waiting: the stage's
//	             status for stage-finished, the run's for run-finished
//	message      the log line (stage-log), the reason (skip, failure, cache hit), or a summary
//	duration_ms  how long the stage or the run took, in milliseconds
//	attempt      the attempt of the stage, from 1, when the engine retried it
//	outputs      the stage's typed outputs (build, image, scan, push, chart, approve, promote,
//	             deploy) as in the run journal
//	log_file     absolute path of the stage's log (stage-finished)
//	service_dir  the service folder relative to the repository root
//	services     for run-started and run-finished: each service with its stages' states
type JSONLines struct {
	mu     sync.Mutex
	enc    *json.Encoder
	closed bool
	errs   errs
}

var _ pipeline.Reporter = (*JSONLines)(nil)

// NewJSONLines returns a JSON lines renderer writing to w.
func NewJSONLines(w io.Writer) *JSONLines {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return &JSONLines{enc: enc}
}

type jsonEvent struct {
	Time       string             `json:"time"`
	Run        string             `json:"run"`
	Event      pipeline.EventKind `json:"event"`
	Service    string             `json:"service,omitempty"`
	Stage      pipeline.StageID   `json:"stage,omitempty"`
	State      pipeline.Status    `json:"state,omitempty"`
	Message    string             `json:"message,omitempty"`
	DurationMS *int64             `json:"duration_ms,omitempty"`
	Attempt    int                `json:"attempt,omitempty"`
	Outputs    *pipeline.Outputs  `json:"outputs,omitempty"`
	LogFile    string             `json:"log_file,omitempty"`
	ServiceDir string             `json:"service_dir,omitempty"`
	Services   []jsonService      `json:"services,omitempty"`
}

type jsonService struct {
	Name   string          `json:"name"`
	State  pipeline.Status `json:"state"`
	Stages []jsonStage     `json:"stages"`
}

type jsonStage struct {
	Stage      pipeline.StageID `json:"stage"`
	State      pipeline.Status  `json:"state"`
	Reason     string           `json:"reason,omitempty"`
	DurationMS *int64           `json:"duration_ms,omitempty"`
	CachedFrom string           `json:"cached_from,omitempty"`
}

// Report writes one event as a line.
func (j *JSONLines) Report(e pipeline.Event) {
	je := jsonEvent{
		Time: e.Time.UTC().Format(time.RFC3339Nano), Run: e.Run, Event: e.Kind,
		Service: e.Service, Stage: e.Stage, State: e.Status, Message: e.Message,
		DurationMS: millis(e.Duration), Attempt: e.Attempt, LogFile: e.LogFile, ServiceDir: e.ServiceDir,
	}
	if e.Outputs != nil && !e.Outputs.IsZero() {
		je.Outputs = e.Outputs
	}
	if st := e.State; st != nil && (e.Kind == pipeline.RunStarted || e.Kind == pipeline.RunFinished) {
		if e.Kind == pipeline.RunFinished && je.State == "" {
			je.State = st.Status()
		}
		for _, s := range st.Services {
			js := jsonService{Name: s.Name, State: s.Status(), Stages: []jsonStage{}}
			for _, ss := range s.Stages {
				js.Stages = append(js.Stages, jsonStage{Stage: ss.ID, State: ss.Status, Reason: ss.Reason, DurationMS: millis(ss.Duration()), CachedFrom: ss.CachedFrom})
			}
			je.Services = append(je.Services, js)
		}
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return
	}
	if err := j.enc.Encode(je); err != nil {
		j.errs.keep(fmt.Errorf("writing event: %w", err))
	}
}

// Close returns the first write error; there is nothing more to write.
func (j *JSONLines) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.closed = true
	return j.errs.err
}

func millis(d time.Duration) *int64 {
	if d <= 0 {
		return nil
	}
	ms := d.Milliseconds()
	return &ms
}
