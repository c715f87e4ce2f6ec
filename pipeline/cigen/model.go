package cigen

import (
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/ferry-ci/ferry/pipeline"
	"github.com/ferry-ci/ferry/pipeline/config"
)

// Options say where the generated file sits in the repository and which Ferry it runs.
type Options struct {
	// ConfigPath is ferry.yaml's path relative to the repository root, slash-separated
	// (default ferry.yaml): the jobs run Ferry in its folder.
	ConfigPath string
	// GoVersionFile is a go.mod relative to the repository root whose Go version the jobs
	// that build set up (actions/setup-go); empty for none.
	GoVersionFile string
	// FerryRef is the Ferry the jobs run: the ref of ferry-ci/ferry's action on GitHub
	// (default main), the go install version on Azure (default latest). A commit SHA pins it.
	FerryRef string
}

// configDir is ferry.yaml's folder relative to the repository root, "." for the root.
func (o Options) configDir() string {
	if o.ConfigPath == "" {
		return "."
	}
	return path.Dir(o.ConfigPath)
}

// configArgs are the arguments (one line) every ferry command needs to find a config not named
// ferry.yaml (run in the config's folder, ferry.yaml is found by itself).
func (o Options) configArgs() []string {
	if o.ConfigPath == "" || path.Base(o.ConfigPath) == config.FileName {
		return nil
	}
	return []string{"--config " + path.Base(o.ConfigPath)}
}

// regenerate is the command that writes the file again, for its header.
func (o Options) regenerate(target string) string {
	cmd := []string{"ferry", "ci", "generate", target}
	if o.ConfigPath != "" && o.ConfigPath != config.FileName {
		cmd = append(cmd, "--config", o.ConfigPath)
	}
	if o.FerryRef != "" {
		cmd = append(cmd, "--ferry-ref", o.FerryRef)
	}
	return strings.Join(append(cmd, "-o", "<this file>"), " ")
}

// layout is what the config asks of the CI file's jobs.
type layout struct {
	cfg *config.Config
	// release are the release triggers whose pipelines reach an environment: their runs hold
	// before the first environment job and go through one job per environment.
	release []string
	// envs are the environment jobs, in the config's order.
	envs []envJob
	// waiting are the other triggers whose pipelines have an approval gate: their runs stop
	// at it in the pipeline job (allow-waiting), for someone to approve and resume.
	waiting []string
	// deployInPipeline are the non-release triggers that reach an environment: a matrix job
	// has one run per service or shard, which no single environment job could continue, so
	// they deploy in the pipeline job.
	deployInPipeline []string
}

// envJob is one environment's job: the stages release pipelines run there.
type envJob struct {
	env *config.Environment
	// kinds are the stage kinds of the environment that some release pipeline runs, in
	// pipeline order (approve, promote, deploy).
	kinds []string
	// next is the environment of the following job, where this job's resume holds.
	next string
}

func (j envJob) approval() bool { return slices.Contains(j.kinds, config.StageApprove) }

// recordsApproval reports whether the job records the approval itself, as the CI user: only
// for advisory (signed: false) gates. A signed gate is passed by approvers who sign with their
// own keys (ferry approve --key) before the job resumes the run; the job cannot sign for them.
func (j envJob) recordsApproval() bool {
	return j.approval() && j.env.Approval != nil && !j.env.Approval.Signed
}

func newLayout(cfg *config.Config) layout {
	l := layout{cfg: cfg}
	kinds := map[string][]string{}
	for _, t := range cfg.Triggers {
		stages := pipeline.ExpandStages(cfg, t.Stages)
		reaches := slices.ContainsFunc(stages, func(id pipeline.StageID) bool { return id.Env() != "" })
		switch {
		case t.Release && reaches:
			l.release = append(l.release, t.Name)
			for _, id := range stages {
				if env := id.Env(); env != "" && !slices.Contains(kinds[env], id.Kind()) {
					kinds[env] = append(kinds[env], id.Kind())
				}
			}
		case reaches:
			l.deployInPipeline = append(l.deployInPipeline, t.Name)
			if slices.ContainsFunc(stages, func(id pipeline.StageID) bool { return id.Kind() == config.StageApprove }) {
				l.waiting = append(l.waiting, t.Name)
			}
		}
	}
	for _, env := range cfg.Environments {
		if k := kinds[env.Name]; len(k) > 0 {
			l.envs = append(l.envs, envJob{env: env, kinds: k})
		}
	}
	for i := range l.envs {
		if i+1 < len(l.envs) {
			l.envs[i].next = l.envs[i+1].env.Name
		}
	}
	return l
}

// firstEnv is where release runs hold in the pipeline job, "" without environment jobs.
func (l layout) firstEnv() string {
	if len(l.envs) == 0 {
		return ""
	}
	return l.envs[0].env.Name
}

// sharedState reports whether the config keeps runs where a job on another machine finds
// them: an environment job resumes the run the pipeline job started.
func (l layout) sharedState() bool { return strings.HasPrefix(l.cfg.State, "oci://") }

// warnings are what the generated file cannot do with this config, for its header and for
// ferry ci generate to print.
func (l layout) warnings() []string {
	var w []string
	if len(l.envs) > 0 && !l.sharedState() {
		w = append(w, "ferry.yaml keeps runs on the machine (no state: oci://...): the environment jobs cannot resume the run the pipeline job started until it sets state: oci://<registry>/<repository>")
	}
	if len(l.deployInPipeline) > 0 {
		what := "the pipeline " + l.deployInPipeline[0] + " is not a release pipeline but reaches environments: it deploys"
		if len(l.deployInPipeline) > 1 {
			what = "the pipelines " + strings.Join(l.deployInPipeline, ", ") + " are not release pipelines but reach environments: they deploy"
		}
		w = append(w, what+" in the pipeline job (one run per service or shard), outside the environment jobs")
	}
	return w
}

// jobID makes an environment name part of a job id: GitHub takes letters, digits, '-' and
// '_', Azure letters, digits and '_'; the prefix makes it start with a letter.
var (
	notGitHubID = regexp.MustCompile(`[^A-Za-z0-9_-]+`)
	notAzureID  = regexp.MustCompile(`[^A-Za-z0-9_]+`)
)

func jobID(prefix, name string) string {
	return prefix + strings.Trim(notGitHubID.ReplaceAllString(name, "_"), "_")
}

func azureID(prefix, name string) string {
	return prefix + strings.Trim(notAzureID.ReplaceAllString(name, "_"), "_")
}

// stageWords says what an environment job does there: "approve, promote, deploy".
func stageWords(kinds []string) string { return strings.Join(kinds, ", ") }
