package cigen

import (
	"fmt"
	"strings"
)

func (g *azureGen) stageID(i int) string { return azureID("Deploy_", g.l.envs[i].env.Name) }

// releaseCondition is true when the plan is of a release pipeline that reaches the
// environments: only those runs hold before them. The matrix is compact JSON.
func (g *azureGen) releaseCondition() string {
	m := "dependencies.Build.outputs['Plan.plan.matrix']"
	parts := make([]string, len(g.l.release))
	for i, name := range g.l.release {
		parts[i] = fmt.Sprintf("contains(%s, %s)", m, azureString(`"pipeline":"`+name+`"`))
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return "or(" + strings.Join(parts, ", ") + ")"
}

// deployStage continues a release run in one environment. Checks on an environment hold the
// whole stage that uses it, so each environment has a stage of its own; its condition is
// evaluated first, so no approval is asked for a plan that does not reach it.
func (g *azureGen) deployStage(i int) *mapping {
	j := g.l.envs[i]
	dependsOn := []string{"Build"}
	for k := range i {
		dependsOn = append(dependsOn, g.stageID(k))
	}
	var deps any = "Build"
	if len(dependsOn) > 1 {
		deps = strs(dependsOn, true)
	}
	steps := []any{azureCheckout("")}
	steps = append(steps, ferryFromArtifact()...)
	resume := g.script(g.resumeScript(j), "run", g.deployDisplay(j), azureRegistryEnv())
	resume.n.HeadComment = "# Resume re-runs the stages whose outputs this machine lacks: install the same toolchains\n# as in Build before this step."
	env := resume.n.Content[len(resume.n.Content)-1]
	env.Content[len(env.Content)-2].FootComment = "# and what your deploy stages need to reach the " + j.env.Name + " cluster"
	steps = append(steps, resume)

	job := newMap().
		add("deployment", azureID("", j.env.Name)).
		add("displayName", g.deployDisplay(j)).
		add("timeoutInMinutes", 60)
	if j.approval() {
		job.add(commented("environment", fmt.Sprintf("Add an Approvals check to the environment %q (Pipelines > Environments > %s >", j.env.Name, j.env.Name),
			"Approvals and checks): this job starts once an approver approves."), j.env.Name)
	} else {
		job.add(commented("environment", "Checks on the environment (approvals, exclusive lock, business hours) gate this stage."), j.env.Name)
	}
	job.add("strategy", newMap().add("runOnce", newMap().add("deploy", newMap().add("steps", seq(steps...)))))
	return newMap().
		add("stage", g.stageID(i)).
		add("displayName", g.deployDisplay(j)).
		add("dependsOn", deps).
		add("condition", fmt.Sprintf("and(succeeded(), %s)", g.releaseCondition())).
		add("jobs", seq(job))
}

func (g *azureGen) deployDisplay(j envJob) string {
	return fmt.Sprintf("%s (%s)", j.env.Name, stageWords(j.kinds))
}

// resumeScript finds the run the Build stage held (the newest of this branch and commit that
// is pending), approves the environment when it has an approval, and resumes the run up to
// the next environment.
func (g *azureGen) resumeScript(j envJob) string {
	var b strings.Builder
	fmt.Fprintf(&b, `set -euo pipefail
# The run that Build started for this branch and commit, held before this environment.
run=$(%s | jq -r --arg ref "$BUILD_SOURCEBRANCH" --arg commit "$BUILD_SOURCEVERSION" \
  'map(select(.status == "pending" and .ref == $ref and .commit == $commit)) | first | .id // empty')
if [ -z "$run" ]; then
  echo "##vso[task.logissue type=error]no Ferry run of $BUILD_SOURCEBRANCH at $BUILD_SOURCEVERSION holds before %s"
  exit 1
fi
`, g.ferry("runs", "-o json"), j.env.Name)
	if j.recordsApproval() {
		b.WriteString(g.ferry("approve", `"$run"`, "--env", shellWord(j.env.Name),
			`--comment "$SYSTEM_COLLECTIONURI$SYSTEM_TEAMPROJECT/_build/results?buildId=$BUILD_BUILDID"`) + "\n")
	}
	if j.next != "" {
		b.WriteString(g.ferry("resume", `"$run"`, "--stop-before-env", shellWord(j.next)) + "\n")
	} else {
		b.WriteString(g.ferry("resume", `"$run"`) + "\n")
	}
	return b.String()
}
