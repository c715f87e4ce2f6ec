package cigen

import "fmt"

func (g *githubGen) envJobID(i int) string { return jobID("deploy-", g.l.envs[i].env.Name) }

func (g *githubGen) envJobComment(j envJob) []string {
	c := []string{fmt.Sprintf("The GitHub environment %q holds the credentials of its cluster (and registry", j.env.Name),
		"namespace) as environment secrets."}
	if j.approval() && !j.recordsApproval() {
		c = append(c, "The gate is signed: approvers run ferry approve RUN --env "+j.env.Name+" --key ... with their",
			"own SSH keys (allowed_signers in ferry.yaml); this job resumes the run, and the gate checks them.")
	}
	if j.recordsApproval() {
		c = append(c, "Give it required reviewers: this job starts once one of them approves and then records",
			"the approval with ferry approve, as the GITHUB_ACTOR who started the workflow (list",
			"those who start releases among the approvers in ferry.yaml).")
	}
	return c
}

// envJob continues a release run in one environment: it waits for the job before it, resumes
// the run (after ferry approve where the environment has an approval) and holds it again
// before the next environment.
func (g *githubGen) envJob(i int) *mapping {
	j := g.l.envs[i]
	prev, needs := "pipeline", []string{"plan", "pipeline"}
	if i > 0 {
		prev = g.envJobID(i - 1)
		for k := range i {
			needs = append(needs, g.envJobID(k))
		}
	}
	run := "${{ needs.pipeline.outputs.run-id }}"
	steps := []any{checkoutStep("the default depth 1 is enough: resume plans nothing")}
	// Resume re-runs the stages whose outputs this machine lacks: the same toolchains.
	steps = append(steps, g.toolchainSteps()...)
	if j.recordsApproval() {
		steps = append(steps, g.ferryStep("", "approve", "", []string{
			run + " --env " + j.env.Name,
			"--comment ${{ github.server_url }}/${{ github.repository }}/actions/runs/${{ github.run_id }}",
		}, "", registryEnv()))
	}
	resumeArgs := []string{run}
	if j.next != "" {
		resumeArgs = append(resumeArgs, "--stop-before-env "+j.next)
	}
	env := registryEnv()
	env.n.Content[len(env.n.Content)-2].FootComment = "# and what your deploy stages need to reach the " + j.env.Name + " cluster, e.g. KUBECONFIG"
	steps = append(steps, g.ferryStep("run", "resume", "", resumeArgs, "", env))

	job := newMap().
		add("name", fmt.Sprintf("%s (%s)", j.env.Name, stageWords(j.kinds))).
		add("needs", strs(needs, true)).
		add("if", withComment(str(fmt.Sprintf("needs.%s.outputs.status == 'pending'", prev)), "the run holds before "+j.env.Name)).
		add("runs-on", "ubuntu-latest").
		add("timeout-minutes", 60).
		add("environment", j.env.Name).
		add(commented("concurrency", "One deploy of a service per environment at a time: a newer release waits for the",
			"running one (and replaces one still waiting)."), newMap().
			add("group", fmt.Sprintf("ferry-%s-${{ fromJSON(needs.plan.outputs.services)[0] }}", j.env.Name)).
			add("cancel-in-progress", false)).
		add("permissions", newMap().add("contents", "read"))
	if j.next != "" {
		job.add("outputs", newMap().add("status", "${{ steps.run.outputs.status }}"))
	}
	return job.add("steps", seq(steps...))
}
