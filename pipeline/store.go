package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// Record is one entry of a run's journal: a change to the run after it was created. Replaying
// the records in order over the created run gives its current state.
type Record struct {
	Time time.Time `json:"time"`
	// Exactly one of the following is set.
	Stage    *StageRecord `json:"stage,omitempty"`
	Approval *Approval    `json:"approval,omitempty"`
	Cancel   bool         `json:"cancel,omitempty"`
	Owner    *Owner       `json:"owner,omitempty"`
	// Released clears the owner when the executing process stops.
	Released bool `json:"released,omitempty"`
}

// StageRecord is the full new state of one stage.
type StageRecord struct {
	Service string     `json:"service"`
	State   StageState `json:"state"`
}

// Apply changes the run as the record says.
func (r *Run) Apply(rec Record) error {
	switch {
	case rec.Stage != nil:
		svc := r.Service(rec.Stage.Service)
		if svc == nil {
			return fmt.Errorf("unknown service %q", rec.Stage.Service)
		}
		st := svc.Stage(rec.Stage.State.ID)
		if st == nil {
			return fmt.Errorf("service %s has no stage %q", svc.Name, rec.Stage.State.ID)
		}
		*st = rec.Stage.State
	case rec.Approval != nil:
		r.Approvals = append(r.Approvals, *rec.Approval)
	case rec.Cancel:
		r.CancelRequested = true
	case rec.Owner != nil:
		o := *rec.Owner
		r.Owner = &o
	case rec.Released:
		r.Owner = nil
	}
	return nil
}

// ErrRunNotFound is returned when a store has no run with the id.
var ErrRunNotFound = errors.New("run not found")

// Store keeps runs: the record of each run, its journal, its logs and files, the results cache
// and locks. Appends are durable when they return.
type Store interface {
	// Create stores a new run; its journal starts empty.
	Create(ctx context.Context, run *Run) error
	// Append adds records to a run's journal, durably, in order.
	Append(ctx context.Context, runID string, recs ...Record) error
	// Load rebuilds a run from its record and journal.
	Load(ctx context.Context, runID string) (*Run, error)
	// List returns every run, newest first.
	List(ctx context.Context) ([]*Run, error)
	// Dir is the local folder of a run: logs/ and work/ live there.
	Dir(runID string) string
	// Sync makes the run's logs and files visible to other machines (a no-op for local stores).
	Sync(ctx context.Context, runID string) error
	// OpenLog returns a stage log for reading, from the local folder or the remote store.
	OpenLog(ctx context.Context, runID, relPath string) (io.ReadCloser, error)
	// Lock takes a named lock, waiting first come first served; holder describes the taker to
	// those who wait, and onWait is called once if the lock is held by someone else.
	Lock(ctx context.Context, name, holder string, onWait func(heldBy string)) (unlock func() error, err error)
	// LookupCache returns a cached result for a stage kind and inputs digest.
	LookupCache(ctx context.Context, stage, digest string) (*CacheEntry, error)
	// SaveCache records a successful result.
	SaveCache(ctx context.Context, e CacheEntry) error
}

// CacheEntry is a stage result that can be reused by any run with the same inputs.
type CacheEntry struct {
	Stage   string    `json:"stage"`
	Digest  string    `json:"digest"`
	Run     string    `json:"run"`
	Service string    `json:"service"`
	Outputs Outputs   `json:"outputs"`
	Created time.Time `json:"created"`
	// Duration is how long the stage took in that run.
	Duration time.Duration `json:"duration,omitempty"`
	// Inputs name what made Digest (see cachekeys.go), so a later miss can say what changed.
	Inputs []Input `json:"inputs,omitempty"`
	// Files are the stage's output files as a store that keeps them (oci://) stored them.
	Files []CacheFile `json:"files,omitempty"`
	// Roots are the output files of the stage that just ran, for SaveCache of a store that
	// keeps files; never serialised.
	Roots []OutputRoot `json:"-"`
}

// ErrCacheMiss is returned by LookupCache when there is no entry.
var ErrCacheMiss = errors.New("cache miss")
