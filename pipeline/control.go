package pipeline

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ferry-ci/ferry/pipeline/config"
)

// Approve records approvals (or a rejection) of an environment for a run. decide builds the
// records from the run as loaded under its lock (signed statements name the run's digests);
// the run must have the environment's gate. The run is not resumed: ferry resume (or ferry
// approve --resume) continues it, and the gate verifies every signature again.
func Approve(ctx context.Context, store Store, cfg *config.Config, runID, env, holder string, decide func(*Run) ([]Approval, error), onBusy func(heldBy string)) (*Run, error) {
	var target *config.Environment
	for _, e := range cfg.Environments {
		if e.Name == env {
			target = e
		}
	}
	if target == nil {
		return nil, fmt.Errorf("no environment %q in the config", env)
	}
	if target.Approval == nil {
		return nil, fmt.Errorf("environment %s needs no approval", env)
	}
	unlock, err := store.Lock(ctx, "run-"+runID, holder, onBusy)
	if err != nil {
		return nil, err
	}
	defer unlock()
	run, err := store.Load(ctx, runID)
	if err != nil {
		return nil, err
	}
	if !hasGate(run, NewStageID(config.StageApprove, env)) {
		return nil, fmt.Errorf("run %s has no %s gate", runID, NewStageID(config.StageApprove, env))
	}
	approvals, err := decide(run)
	if err != nil {
		return nil, err
	}
	var recs []Record
	for _, a := range approvals {
		// A signed approval's principal comes from its verified key; an advisory name must be
		// listed (a config built in code without approvers lets nobody approve, not everybody).
		listed := slices.Contains(target.Approval.Approvers, a.By)
		if !listed && (a.Statement == nil || len(target.Approval.Approvers) > 0) {
			return nil, fmt.Errorf("%s may not approve %s (approvers: %s)", a.By, env, strings.Join(target.Approval.Approvers, ", "))
		}
		// A signed approver may decide again (an approval void after the values changed); the
		// gate counts principals once. A name alone, which anyone can write, may not.
		for _, prev := range run.ApprovalsFor(env) {
			if a.Statement == nil && prev.By == a.By && prev.Service == a.Service {
				return run, fmt.Errorf("%s already decided on %s for run %s", a.By, env, runID)
			}
		}
		a := a
		recs = append(recs, Record{Time: a.At, Approval: &a})
	}
	if err := store.Append(ctx, runID, recs...); err != nil {
		return nil, err
	}
	for _, rec := range recs {
		if err := run.Apply(rec); err != nil {
			return nil, err
		}
	}
	return run, nil
}

func hasGate(run *Run, gate StageID) bool {
	for _, svc := range run.Services {
		if svc.Stage(gate) != nil {
			return true
		}
	}
	return false
}

// Cancel stops a run. The process executing a run holds the run's lock: when the lock is
// held, its holder (a process on this machine) is sent signal and journals its own
// cancellation; Cancel returns its pid. When the lock is free nobody executes the run, whatever
// an old owner record says, and the unfinished stages are marked cancelled here.
func Cancel(ctx context.Context, store Store, runID, host string, signal func(pid int) error, now time.Time) (*Run, int, error) {
	run, err := store.Load(ctx, runID)
	if err != nil {
		return nil, 0, err
	}
	if o := run.Owner; o != nil && o.Host != host {
		return run, 0, fmt.Errorf("run %s is executing on %s (pid %d): cancel it there", runID, o.Host, o.PID)
	}
	lctx, stop := context.WithCancel(ctx)
	defer stop()
	heldBy := ""
	unlock, err := store.Lock(lctx, "run-"+runID, "ferry cancel", func(h string) { heldBy = h; stop() })
	if heldBy != "" {
		pid, holderHost, ok := parseHolder(heldBy)
		if !ok || holderHost != host {
			return run, 0, fmt.Errorf("run %s is being executed by %s: cancel it there", runID, heldBy)
		}
		if err := signal(pid); err != nil {
			return run, 0, fmt.Errorf("signal run %s (pid %d): %w", runID, pid, err)
		}
		return run, pid, nil
	}
	if err != nil {
		return run, 0, err
	}
	defer unlock()
	if run, err = store.Load(ctx, runID); err != nil {
		return nil, 0, err
	}
	recs := []Record{{Time: now.UTC(), Cancel: true}}
	for _, svc := range run.Services {
		for _, s := range svc.Stages {
			if s.Status.Done() || s.Status == Cancelled || s.Status == Failed {
				continue // a failure stays a failure
			}
			next := *s
			next.Status, next.Reason = Cancelled, "cancelled with ferry cancel"
			if !next.Started.IsZero() && next.Ended.IsZero() {
				next.Ended = now.UTC()
			}
			recs = append(recs, Record{Time: now.UTC(), Stage: &StageRecord{Service: svc.Name, State: next}})
		}
	}
	if err := store.Append(ctx, runID, recs...); err != nil {
		return nil, 0, err
	}
	for _, r := range recs {
		if err := run.Apply(r); err != nil {
			return nil, 0, err
		}
	}
	return run, 0, nil
}

// holderFormat describes the process executing a run in its lock, so that ferry cancel can
// find it from the lock itself rather than from a journal record that may be stale.
const holderFormat = "run %s, pid %d on %s"

func parseHolder(s string) (pid int, host string, ok bool) {
	var run string
	if _, err := fmt.Sscanf(strings.ReplaceAll(s, ",", " ,"), "run %s , pid %d on %s", &run, &pid, &host); err != nil {
		return 0, "", false
	}
	return pid, host, true
}
