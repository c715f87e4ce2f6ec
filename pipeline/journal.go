package pipeline

import "context"

// append journals a record, assigning its sequence number under the state lock.
func (e *Engine) append(ctx context.Context, st *state, rec Record) error {
	st.mu.Lock()
	rec.Time = e.now()
	if err := st.run.Apply(rec); err != nil {
		st.mu.Unlock()
		return err
	}
	st.mu.Unlock()
	return e.Store.Append(ctx, st.run.ID, rec)
}

// setStage changes a stage's state and journals it.
func (e *Engine) setStage(ctx context.Context, st *state, svc *ServiceRun, s *StageState, change func(*StageState)) error {
	st.mu.Lock()
	next := *s
	change(&next)
	next.Reason = e.mask(next.Reason)
	st.mu.Unlock()
	return e.append(ctx, st, Record{Stage: &StageRecord{Service: svc.Name, State: next}})
}
