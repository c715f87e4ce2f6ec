package cigen

import "fmt"

// pipelineJob runs each matrix entry's services: one service, or a shard of them.
func (g *githubGen) pipelineJob() *mapping {
	args := []string{
		// Pull request runs keep their journal in the job: nothing resumes them, and pull
		// requests from forks get no secrets to reach the registry's run store.
		"${{ github.event_name == 'pull_request' && '--state local' || '' }}",
	}
	if env := g.l.firstEnv(); env != "" {
		args = append(args, fmt.Sprintf("${{ (%s) && '--stop-before-env %s' || '' }}", anyPipeline(g.l.release), env))
	}
	allowWaiting := ""
	if len(g.l.waiting) > 0 {
		allowWaiting = fmt.Sprintf("${{ %s }}", anyPipeline(g.l.waiting))
	}
	steps := []any{checkoutStep("ferry run plans again, fetching what depth 1 lacks")}
	steps = append(steps, g.toolchainSteps()...)
	steps = append(steps, g.ferryStep("run", "run", "${{ matrix.services }}", args, allowWaiting, registryEnv()))

	job := newMap().
		add("name", "${{ matrix.service }} (${{ matrix.pipeline }})").
		add("needs", "plan").
		add("if", withComment(str("needs.plan.outputs.count != '0'"), "GitHub rejects an empty matrix")).
		add("runs-on", "ubuntu-latest").
		add("timeout-minutes", 60).
		add("permissions", newMap().add("contents", "read")).
		add("strategy", newMap().
			add("fail-fast", false).
			add("matrix", "${{ fromJSON(needs.plan.outputs.matrix) }}"))
	if len(g.l.envs) > 0 {
		job.add(commented("outputs", "Read by the environment jobs, which follow release pipelines only: their plan has",
			"the one service the branch names, so the one matrix job sets these."), newMap().
			add("run-id", "${{ steps.run.outputs.run-id }}").
			add("status", "${{ steps.run.outputs.status }}"))
	}
	return job.add("steps", seq(steps...))
}
