package pipeline

import (
	"context"
	"reflect"
)

// append journals a record, assigning its sequence number under the state lock. Its texts
// are masked first, so that the journal, the run state that replays it and everything shown
// from that state never hold a secret.
func (e *Engine) append(ctx context.Context, st *state, rec Record) error {
	rec = e.maskRecord(rec)
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
	st.mu.Unlock()
	return e.append(ctx, st, Record{Stage: &StageRecord{Service: svc.Name, State: next}})
}

// maskRecord returns rec with its free texts masked: a stage's reason and every string of
// its outputs (file names, references, findings), an approval's comment. Names the journal
// is keyed by (services, stage IDs, the approver) stay as they are.
func (e *Engine) maskRecord(rec Record) Record {
	if e.Masker == nil {
		return rec
	}
	if rec.Stage != nil {
		s := *rec.Stage
		s.State.Reason = e.mask(s.State.Reason)
		s.State.Outputs = maskCopy(e.mask, s.State.Outputs)
		rec.Stage = &s
	}
	if rec.Approval != nil {
		a := *rec.Approval
		a.Comment = e.mask(a.Comment)
		rec.Approval = &a
	}
	return rec
}

// maskPlan returns a copy of the plan, as the run's record keeps it, with its explanations
// masked: the reasons, the changed paths and the event's refs (shown only; the commits, which
// image tags are made of, stay).
func (e *Engine) maskPlan(p *Plan) *Plan {
	if e.Masker == nil || p == nil {
		return p
	}
	out := *p
	out.Reason = e.mask(p.Reason)
	out.Event.Ref, out.Event.Base = e.mask(p.Event.Ref), e.mask(p.Event.Base)
	out.Changes = maskCopy(e.mask, p.Changes)
	out.Services = make([]ServicePlan, len(p.Services))
	for i, sp := range p.Services {
		sp.Reasons = maskCopy(e.mask, sp.Reasons)
		out.Services[i] = sp
	}
	return &out
}

// maskCopy returns a deep copy of v with mask applied to every string in it: fields, slice
// elements, map keys and values, behind pointers. Unexported fields are copied as they are.
func maskCopy[T any](mask func(string) string, v T) T {
	return maskValue(mask, reflect.ValueOf(&v).Elem()).Interface().(T)
}

func maskValue(mask func(string) string, v reflect.Value) reflect.Value {
	switch v.Kind() {
	case reflect.String:
		out := reflect.New(v.Type()).Elem()
		out.SetString(mask(v.String()))
		return out
	case reflect.Pointer:
		if v.IsNil() {
			return v
		}
		out := reflect.New(v.Type().Elem())
		out.Elem().Set(maskValue(mask, v.Elem()))
		return out
	case reflect.Interface:
		if v.IsNil() {
			return v
		}
		out := reflect.New(v.Type()).Elem()
		out.Set(maskValue(mask, v.Elem()))
		return out
	case reflect.Struct:
		out := reflect.New(v.Type()).Elem()
		out.Set(v)
		for i := range v.NumField() {
			if f := out.Field(i); f.CanSet() {
				f.Set(maskValue(mask, v.Field(i)))
			}
		}
		return out
	case reflect.Slice:
		if v.IsNil() {
			return v
		}
		out := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		for i := range v.Len() {
			out.Index(i).Set(maskValue(mask, v.Index(i)))
		}
		return out
	case reflect.Array:
		out := reflect.New(v.Type()).Elem()
		for i := range v.Len() {
			out.Index(i).Set(maskValue(mask, v.Index(i)))
		}
		return out
	case reflect.Map:
		if v.IsNil() {
			return v
		}
		out := reflect.MakeMapWithSize(v.Type(), v.Len())
		for it := v.MapRange(); it.Next(); {
			out.SetMapIndex(maskValue(mask, it.Key()), maskValue(mask, it.Value()))
		}
		return out
	}
	return v
}
