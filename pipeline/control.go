package pipeline

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ferry-ci/ferry/pipeline/config"
)

// Approve records a person's approval of an environment for a run. The person must be one of
// the environment's approvers, and the run must have an approval gate for it. The run is not
// resumed: ferry resume (or ferry approve --resume) continues it.
func Approve(ctx context.Context, store Store, cfg *config.Config, runID, env, by, comment string, now time.Time) (*Run, error) {
	if by == "" {
		return nil, errors.New("who approves? pass --as (or set FERRY_APPROVER)")
	}
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
	if len(target.Approval.Approvers) > 0 && !slices.Contains(target.Approval.Approvers, by) {
		return nil, fmt.Errorf("%s may not approve %s (approvers: %s)", by, env, strings.Join(target.Approval.Approvers, ", "))
	}
	unlock, err := store.Lock(ctx, "run-"+runID, fmt.Sprintf("ferry approve by %s", by), nil)
	if err != nil {
		return nil, err
	}
	defer unlock()
	run, err := store.Load(ctx, runID)
	if err != nil {
		return nil, err
	}
	gate := NewStageID(config.StageApprove, env)
	has := false
	for _, svc := range run.Services {
		if svc.Stage(gate) != nil {
			has = true
		}
	}
	if !has {
		return nil, fmt.Errorf("run %s has no %s gate", runID, gate)
	}
	for _, a := range run.ApprovalsFor(env) {
		if a.By == by {
			return run, fmt.Errorf("%s already approved %s for run %s", by, env, runID)
		}
	}
	rec := Record{Time: now.UTC(), Approval: &Approval{Env: env, By: by, At: now.UTC(), Comment: comment}}
	if err := store.Append(ctx, runID, rec); err != nil {
		return nil, err
	}
	return run, run.Apply(rec)
}

// Cancel stops a run. A run executing in a live process on this machine is signalled (signal
// is called with the owner's pid) and journals its own cancellation; a stopped run has its
// unfinished stages marked cancelled here.
func Cancel(ctx context.Context, store Store, runID, host string, alive func(pid int) bool, signal func(pid int) error, now time.Time) (*Run, error) {
	run, err := store.Load(ctx, runID)
	if err != nil {
		return nil, err
	}
	if o := run.Owner; o != nil && o.Host == host && alive(o.PID) {
		if err := signal(o.PID); err != nil {
			return run, fmt.Errorf("signal run %s (pid %d): %w", runID, o.PID, err)
		}
		return run, nil
	} else if o != nil && o.Host != host {
		return run, fmt.Errorf("run %s is executing on %s (pid %d): cancel it there", runID, o.Host, o.PID)
	}
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	unlock, err := store.Lock(lctx, "run-"+runID, "ferry cancel", nil)
	if err != nil {
		return run, err
	}
	defer unlock()
	if run, err = store.Load(ctx, runID); err != nil {
		return nil, err
	}
	recs := []Record{{Time: now.UTC(), Cancel: true}}
	for _, svc := range run.Services {
		for _, s := range svc.Stages {
			if s.Status.Done() || s.Status == Cancelled {
				continue
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
		return nil, err
	}
	for _, r := range recs {
		if err := run.Apply(r); err != nil {
			return nil, err
		}
	}
	return run, nil
}
