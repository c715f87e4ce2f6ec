package pipeline

import (
	"context"
	"fmt"
	"io"
)

// prepareResume makes every stage that did not finish pending again, and re-runs succeeded
// stages whose outputs a later stage needs but that can no longer be verified.
func (e *Engine) prepareResume(ctx context.Context, st *state) error {
	for _, svc := range st.run.Services {
		first := firstUndone(svc)
		if first < 0 {
			continue
		}
		first, err := e.reverify(ctx, st, svc, first)
		if err != nil {
			return err
		}
		for _, s := range svc.Stages[first:] {
			if s.Status == Pending {
				continue
			}
			prev := s.Status
			if err := e.setStage(ctx, st, svc, s, func(n *StageState) {
				n.Status, n.Reason = Pending, fmt.Sprintf("resumed after %s", prev)
			}); err != nil {
				return err
			}
		}
	}
	return nil
}

// firstUndone is the index of the service's first stage that is not done, -1 when all are.
func firstUndone(svc *ServiceRun) int {
	for i, s := range svc.Stages {
		if !s.Status.Done() {
			return i
		}
	}
	return -1
}

// reverify checks the outputs of the done stages before first that live outside the journal.
// From the first one that cannot be used, every stage is made pending again; the returned
// index is where the service resumes.
func (e *Engine) reverify(ctx context.Context, st *state, svc *ServiceRun, first int) (int, error) {
	job := e.newJob(st.run, svc, nil, io.Discard)
	for i, s := range svc.Stages[:first] {
		v, ok := e.Stages[s.ID.Kind()].(Verifier)
		if !ok || s.Outputs.IsZero() {
			continue
		}
		job.Stage = s.ID
		err := v.Verify(ctx, job, s.Outputs)
		if err == nil {
			continue
		}
		reason := fmt.Sprintf("outputs of %s cannot be used here (%v): running it again", s.ID, err)
		for _, later := range svc.Stages[i:] {
			if err := e.setStage(ctx, st, svc, later, func(n *StageState) {
				n.Status, n.Reason, n.Outputs = Pending, reason, Outputs{}
			}); err != nil {
				return 0, err
			}
		}
		return i, nil
	}
	return first, nil
}
