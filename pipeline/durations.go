package pipeline

import (
	"context"
	"fmt"
	"time"
)

// LastDurations returns, for each named service, how long its stages ran in the newest run
// where any of them really ran: the sum of its stage durations. Stages skipped or taken from
// the cache have no duration, and a run made only of them says nothing about the service's
// work, so older runs are looked at for it. Services never measured are left out.
func LastDurations(ctx context.Context, store Store, services []string) (map[string]time.Duration, error) {
	runs, err := store.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("list runs for the services' durations: %w", err)
	}
	want := make(map[string]bool, len(services))
	for _, s := range services {
		want[s] = true
	}
	out := map[string]time.Duration{}
	for _, run := range runs { // newest first
		for _, svc := range run.Services {
			if !want[svc.Name] {
				continue
			}
			if d := svc.Duration(); d > 0 {
				out[svc.Name] = d
				delete(want, svc.Name)
			}
		}
		if len(want) == 0 {
			break
		}
	}
	return out, nil
}

// Duration is the time the service's stages ran, summed: what its pipeline costs a machine.
func (s *ServiceRun) Duration() time.Duration {
	var d time.Duration
	for _, st := range s.Stages {
		d += st.Duration()
	}
	return d
}
