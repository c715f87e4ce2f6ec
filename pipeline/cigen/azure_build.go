package cigen

import (
	"fmt"
	"strings"
)

// buildStage plans and runs the matrix. Plan is a job of this stage, not a stage of its own:
// a job's matrix reads output variables of a job of its own stage
// ($[ dependencies.Plan.outputs['plan.matrix'] ]).
func (g *azureGen) buildStage() *mapping {
	return newMap().
		add("stage", "Build").
		add("jobs", seq(g.planJob(), g.buildJob()))
}

func (g *azureGen) planJob() *mapping {
	install := newMap().
		add("bash", block(`set -euo pipefail
GOBIN="$AGENT_TEMPDIRECTORY/ferry" go install "github.com/ferry-ci/ferry/cmd/ferry@$FERRY_VERSION"
echo "##vso[task.prependpath]$AGENT_TEMPDIRECTORY/ferry"`)).
		add("displayName", "Install Ferry").
		add("env", newMap().
			add("FERRY_VERSION", "$(ferryVersion)").
			add("GOTOOLCHAIN", "auto").
			add("GOFLAGS", "-trimpath").
			add("CGO_ENABLED", "0"))
	publish := newMap().
		add("publish", "$(Agent.TempDirectory)/ferry").
		add("artifact", "ferry").
		add("displayName", "Publish Ferry for the other jobs")
	plan := g.script(g.ferry("plan"),
		withComment(str("plan"), "the output variables are dependencies.Plan.outputs['plan.<name>']"), "ferry plan", nil)
	return newMap().
		add("job", "Plan").
		add("timeoutInMinutes", 15).
		add("steps", seq(
			azureCheckout("Ferry fetches the commit a diff starts from, or deepens a PR to its merge-base"),
			install, publish, plan))
}

// buildJob runs each matrix entry's services.
func (g *azureGen) buildJob() *mapping {
	steps := []any{azureCheckout("")}
	steps = append(steps, ferryFromArtifact()...)
	run := g.script(g.runScript(), "run", "ferry run", newMap().
		add("FERRY_SERVICES", withComment(str("$(services)"), "the matrix variables: service, services, pipeline, version, stages")).
		add("FERRY_PIPELINE", "$(pipeline)").
		add("FERRY_REGISTRY_USERNAME", "$(FERRY_REGISTRY_USERNAME)").
		add("FERRY_REGISTRY_PASSWORD", "$(FERRY_REGISTRY_PASSWORD)"))
	run.n.HeadComment = "# Install the toolchains your services' build and test commands need before this step."
	steps = append(steps, run)
	return newMap().
		add("job", "Build").
		add("dependsOn", "Plan").
		add("condition", withComment(str("and(succeeded(), ne(dependencies.Plan.outputs['plan.count'], '0'))"), "an empty matrix fails the job")).
		add("timeoutInMinutes", 60).
		add("strategy", newMap().add("matrix", "$[ dependencies.Plan.outputs['plan.matrix'] ]")).
		add("steps", seq(steps...))
}

// runScript runs the entry's services: one --service each, the pull request's journal kept
// in the job, release pipelines held before the first environment stage.
func (g *azureGen) runScript() string {
	var b strings.Builder
	b.WriteString(`set -uo pipefail
args=()
for s in $FERRY_SERVICES; do args+=(--service "$s"); done
# Pull request runs keep their journal in the job: nothing resumes them, and builds of
# forks get no secrets to reach the registry's run store.
if [ "$BUILD_REASON" = PullRequest ]; then args+=(--state local); fi
`)
	if env := g.l.firstEnv(); env != "" {
		fmt.Fprintf(&b, "# Release runs stop before %s: the environment stages continue them.\n", env)
		fmt.Fprintf(&b, "case \"$FERRY_PIPELINE\" in %s) args+=(--stop-before-env %s) ;; esac\n", caseWords(g.l.release), shellWord(env))
	}
	cmd := g.ferry("run", `"${args[@]}"`)
	if len(g.l.waiting) == 0 {
		b.WriteString(cmd + "\n")
		return b.String()
	}
	fmt.Fprintf(&b, `rc=0
%s || rc=$?
# These pipelines stop at an approval (exit code 3): approve and resume them by hand.
if [ "$rc" -eq 3 ]; then
  case "$FERRY_PIPELINE" in %s)
    echo "##vso[task.logissue type=warning]the run waits for an approval"
    exit 0 ;;
  esac
fi
exit "$rc"
`, cmd, caseWords(g.l.waiting))
	return b.String()
}

// caseWords is a bash case pattern matching any of names.
func caseWords(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = shellWord(n)
	}
	return strings.Join(q, "|")
}
