package report

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/ferry-ci/ferry/pipeline"
)

// DefaultMaxJobs is the most jobs a matrix may have: GitHub Actions and Azure Pipelines both
// refuse a matrix of more than 256 jobs.
const DefaultMaxJobs = 256

// MatrixOptions say how a plan becomes a CI matrix.
type MatrixOptions struct {
	// MaxJobs bounds the matrix's entries (DefaultMaxJobs when 0). A plan with more services
	// is grouped into MaxJobs shards, each entry running several services.
	MaxJobs int
	// Durations are the services' last measured pipeline durations, which balance the shards;
	// services without one count as the mean of the others. With none, shards are balanced
	// by count.
	Durations map[string]time.Duration
}

func (o MatrixOptions) maxJobs() int {
	if o.MaxJobs <= 0 {
		return DefaultMaxJobs
	}
	return o.MaxJobs
}

// Sharded reports whether the plan's matrix groups services into shards.
func (o MatrixOptions) Sharded(p *pipeline.Plan) bool { return len(p.Services) > o.maxJobs() }

// shards groups the plan's services into the matrix's jobs: one service per job when they
// fit, else at most MaxJobs groups. Every service is in exactly one group, and each group
// keeps plan order so that a job's services read like the plan.
func shards(p *pipeline.Plan, o MatrixOptions) [][]pipeline.ServicePlan {
	n := o.maxJobs()
	if len(p.Services) <= n {
		out := make([][]pipeline.ServicePlan, len(p.Services))
		for i, s := range p.Services {
			out[i] = []pipeline.ServicePlan{s}
		}
		return out
	}
	if len(o.Durations) == 0 {
		return chunks(p.Services, n)
	}
	return balance(p.Services, n, weights(p.Services, o.Durations))
}

// chunks splits services into n runs of consecutive services whose sizes differ by at most
// one: with nothing known about durations, the count is all there is to balance.
func chunks(services []pipeline.ServicePlan, n int) [][]pipeline.ServicePlan {
	out := make([][]pipeline.ServicePlan, 0, n)
	size, extra := len(services)/n, len(services)%n
	for i := 0; i < len(services); {
		k := size
		if len(out) < extra {
			k++
		}
		out = append(out, services[i:i+k])
		i += k
	}
	return out
}

// weights are the services' durations; a service never measured (new, or its runs were all
// cached) weighs the mean of the measured ones, so that it neither hides in nor swamps a shard.
func weights(services []pipeline.ServicePlan, durations map[string]time.Duration) []time.Duration {
	var sum time.Duration
	known := 0
	for _, s := range services {
		if d, ok := durations[s.Name]; ok && d > 0 {
			sum += d
			known++
		}
	}
	mean := time.Second
	if known > 0 {
		mean = max(sum/time.Duration(known), 1)
	}
	w := make([]time.Duration, len(services))
	for i, s := range services {
		w[i] = mean
		if d, ok := durations[s.Name]; ok && d > 0 {
			w[i] = d
		}
	}
	return w
}

// balance puts the longest service first into the shard with the least work so far (LPT
// scheduling: within 4/3 of the best possible longest shard), then orders each shard's
// services as the plan does. Ties go to plan order and to the lowest shard, so the same
// durations always give the same matrix.
func balance(services []pipeline.ServicePlan, n int, w []time.Duration) [][]pipeline.ServicePlan {
	order := make([]int, len(services))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(w[b], w[a]) })
	load := make([]time.Duration, n)
	members := make([][]int, n)
	for _, i := range order {
		least := 0
		for s := 1; s < n; s++ {
			if load[s] < load[least] {
				least = s
			}
		}
		load[least] += w[i]
		members[least] = append(members[least], i)
	}
	members = slices.DeleteFunc(members, func(m []int) bool { return len(m) == 0 })
	for _, m := range members {
		slices.Sort(m)
	}
	// Shards in the order of their first service: shard-001 starts with the plan's first.
	slices.SortFunc(members, func(a, b []int) int { return cmp.Compare(a[0], b[0]) })
	out := make([][]pipeline.ServicePlan, len(members))
	for k, m := range members {
		out[k] = make([]pipeline.ServicePlan, len(m))
		for j, i := range m {
			out[k][j] = services[i]
		}
	}
	return out
}

// shardName names the i-th of n shards (0-based), zero-padded so that job names sort.
func shardName(i, n int) string {
	return fmt.Sprintf("shard-%0*d", len(fmt.Sprint(n)), i+1)
}
