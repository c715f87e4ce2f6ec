//go:build linux

package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/rhysd/actionlint"
	"gopkg.in/yaml.v3"

	"github.com/ferry-ci/ferry/internal/testenv"
	"github.com/ferry-ci/ferry/pipeline"
)

// This file plays a GitHub Actions workflow on one machine the way GitHub runs it: jobs in
// the order of their needs, each job (each matrix entry) in a fresh directory with its own
// HOME and checkout, the workflow's expressions evaluated with actionlint's parser, and the
// Ferry action's own run script (action.yml's "ferry" step) executing ferry. Only the origin
// repository and what the jobs put in the registry are shared. GOCACHE and GOMODCACHE are
// shared as actions/setup-go's cache would restore them.

// workflow is the part of a workflow file the player executes.
type workflow struct {
	Jobs map[string]*wfJob `yaml:"jobs"`
}

type wfJob struct {
	Name        string                  `yaml:"name"`
	Needs       needsList               `yaml:"needs"`
	If          string                  `yaml:"if"`
	Environment string                  `yaml:"environment"`
	Concurrency *struct{ Group string } `yaml:"concurrency"`
	Strategy    struct {
		Matrix any `yaml:"matrix"`
	} `yaml:"strategy"`
	Outputs map[string]string `yaml:"outputs"`
	Steps   []wfStep          `yaml:"steps"`
}

type wfStep struct {
	ID   string            `yaml:"id"`
	Name string            `yaml:"name"`
	Uses string            `yaml:"uses"`
	Run  string            `yaml:"run"`
	If   string            `yaml:"if"`
	With map[string]string `yaml:"with"`
	Env  map[string]string `yaml:"env"`
}

// needsList is a job's needs: one job or a list.
type needsList []string

func (n *needsList) UnmarshalYAML(v *yaml.Node) error {
	if v.Kind == yaml.ScalarNode {
		*n = needsList{v.Value}
		return nil
	}
	var list []string
	if err := v.Decode(&list); err != nil {
		return fmt.Errorf("needs: %w", err)
	}
	*n = list
	return nil
}

// compositeAction is the part of action.yml the player reads.
type compositeAction struct {
	Inputs map[string]struct {
		Required bool   `yaml:"required"`
		Default  string `yaml:"default"`
	} `yaml:"inputs"`
	Outputs map[string]struct {
		Value string `yaml:"value"`
	} `yaml:"outputs"`
	Runs struct {
		Using string `yaml:"using"`
		Steps []struct {
			ID               string            `yaml:"id"`
			Shell            string            `yaml:"shell"`
			WorkingDirectory string            `yaml:"working-directory"`
			Env              map[string]string `yaml:"env"`
			Run              string            `yaml:"run"`
		} `yaml:"steps"`
	} `yaml:"runs"`
}

// ghEvent is the event a play starts from: what GitHub puts in GITHUB_* and the payload.
type ghEvent struct {
	name    string // push or pull_request
	ref     string // GITHUB_REF
	sha     string // GITHUB_SHA: the pushed commit, or the pull request's merge commit
	payload map[string]any
	env     map[string]string // more variables: GITHUB_BASE_REF, GITHUB_HEAD_REF
}

// ferryStep is one execution of the Ferry action in a job.
type ferryStep struct {
	job, command, args, services string
	code                         int
	output                       string // ferry's stdout and stderr
	outputs                      map[string]string
	workspace                    string
	env                          []string
}

// jobResult is what a job (all its matrix entries) left for the jobs that need it.
type jobResult struct {
	result  string // success, failure or skipped
	outputs map[string]string
}

// player plays one workflow file.
type player struct {
	t          *testing.T
	origin     string // the bare remote, served over file://
	wf         *workflow
	action     *compositeAction
	ferrySrc   string            // the action's folder (the module root)
	jobEnv     map[string]string // per GitHub environment: what its secrets and variables add (KUBECONFIG)
	shared     []string          // the environment every runner has: PATH, Go's caches
	between    map[string]func(ev ghEvent, done map[string]*jobResult)
	steps      []*ferryStep
	runCounter int
}

func newPlayer(t *testing.T, origin string, workflowYAML []byte) *player {
	t.Helper()
	wf := &workflow{}
	if err := yaml.Unmarshal(workflowYAML, wf); err != nil {
		t.Fatalf("parse the generated workflow: %v", err)
	}
	src, err := filepath.Abs(filepath.Join(testdata, "../../.."))
	if err != nil {
		t.Fatal(err)
	}
	act := &compositeAction{}
	if err := yaml.Unmarshal(readFile(t, filepath.Join(src, "action.yml")), act); err != nil {
		t.Fatalf("parse action.yml: %v", err)
	}
	if act.Runs.Using != "composite" {
		t.Fatalf("action.yml runs using %q, the player knows composite", act.Runs.Using)
	}
	shared := []string{"PATH=" + os.Getenv("PATH"), "GIT_CONFIG_NOSYSTEM=1", "LANG=C.UTF-8"}
	out, err := exec.Command("go", "env", "GOCACHE", "GOMODCACHE").Output()
	if err != nil {
		t.Fatalf("go env: %v", err)
	}
	caches := strings.Fields(string(out))
	shared = append(shared, "GOCACHE="+caches[0], "GOMODCACHE="+caches[1])
	for _, k := range []string{"GOPROXY", "GOFLAGS", "GOTOOLCHAIN", "GONOSUMDB", "GOPRIVATE", "GOSUMDB"} {
		if v, ok := os.LookupEnv(k); ok {
			shared = append(shared, k+"="+v)
		}
	}
	return &player{t: t, origin: origin, wf: wf, action: act, ferrySrc: src, jobEnv: map[string]string{},
		shared: shared, between: map[string]func(ghEvent, map[string]*jobResult){}}
}

// jobOrder is the jobs in the order of their needs (GitHub starts a job when its needs ended;
// the player runs one at a time), ties by name.
func (p *player) jobOrder() []string {
	p.t.Helper()
	var order []string
	done := map[string]bool{}
	for len(order) < len(p.wf.Jobs) {
		var ready []string
		for name, j := range p.wf.Jobs {
			if done[name] {
				continue
			}
			ok := true
			for _, n := range j.Needs {
				if _, exists := p.wf.Jobs[n]; !exists {
					p.t.Fatalf("job %s needs %s, which the workflow does not have", name, n)
				}
				ok = ok && done[n]
			}
			if ok {
				ready = append(ready, name)
			}
		}
		if len(ready) == 0 {
			p.t.Fatalf("the jobs' needs form a cycle")
		}
		slices.Sort(ready)
		order = append(order, ready[0])
		done[ready[0]] = true
	}
	return order
}

// play runs the workflow for an event and returns each job's result.
func (p *player) play(ev ghEvent) map[string]*jobResult {
	p.t.Helper()
	p.runCounter++
	eventPath := filepath.Join(p.t.TempDir(), "event.json")
	data, _ := json.Marshal(ev.payload)
	if err := os.WriteFile(eventPath, data, 0o644); err != nil {
		p.t.Fatal(err)
	}
	github := map[string]any{
		"event_name": ev.name, "ref": ev.ref, "sha": ev.sha, "workflow": "Ferry", "event": ev.payload,
		"repository": "ferry-ci/shipping", "run_id": strconv.Itoa(p.runCounter),
	}
	done := map[string]*jobResult{}
	for _, name := range p.jobOrder() {
		if hook := p.between[name]; hook != nil {
			hook(ev, done)
		}
		done[name] = p.job(name, ev, eventPath, github, done)
	}
	return done
}

func (p *player) job(name string, ev ghEvent, eventPath string, github map[string]any, done map[string]*jobResult) *jobResult {
	t := p.t
	t.Helper()
	j := p.wf.Jobs[name]
	needs := map[string]any{}
	succeeded := true
	for _, n := range j.Needs {
		needs[n] = map[string]any{"result": done[n].result, "outputs": toAny(done[n].outputs)}
		succeeded = succeeded && done[n].result == "success"
	}
	ctx := map[string]any{"github": github, "needs": needs, "secrets": map[string]any{}, "vars": map[string]any{},
		"env": map[string]any{}, "inputs": map[string]any{}}
	// Without a status function in if, GitHub runs a job only when all its needs succeeded.
	if !succeeded {
		return &jobResult{result: "skipped", outputs: map[string]string{}}
	}
	if j.If != "" {
		v, err := evalExpr(stripBraces(j.If), ctx)
		if err != nil {
			t.Fatalf("job %s: if %q: %v", name, j.If, err)
		}
		if !truthy(v) {
			t.Logf("job %s: skipped (if %s)", name, j.If)
			return &jobResult{result: "skipped", outputs: map[string]string{}}
		}
	}
	entries := []any{nil}
	if j.Strategy.Matrix != nil {
		expr, ok := j.Strategy.Matrix.(string)
		if !ok {
			t.Fatalf("job %s: a literal matrix %v: the player evaluates matrix expressions only", name, j.Strategy.Matrix)
		}
		v, err := evalExpr(stripBraces(expr), ctx)
		if err != nil {
			t.Fatalf("job %s: matrix %q: %v", name, expr, err)
		}
		m, _ := v.(map[string]any)
		include, ok := m["include"].([]any)
		if !ok || len(m) != 1 || len(include) == 0 {
			t.Fatalf("job %s: matrix %v: GitHub refuses a matrix without include entries", name, v)
		}
		if len(include) > 256 {
			t.Fatalf("job %s: %d matrix entries: GitHub's limit is 256", name, len(include))
		}
		entries = include
	}
	res := &jobResult{result: "success", outputs: map[string]string{}}
	for _, entry := range entries {
		ctx["matrix"] = entry
		ctx["steps"] = map[string]any{}
		title, err := interpolate(orDefault(j.Name, name), ctx)
		if err != nil {
			t.Fatalf("job %s: name: %v", name, err)
		}
		if j.Concurrency != nil {
			if _, err := interpolate(j.Concurrency.Group, ctx); err != nil {
				t.Fatalf("job %s: concurrency group %q: %v", name, j.Concurrency.Group, err)
			}
		}
		if !p.runSteps(name, title, j, ev, eventPath, ctx) {
			res.result = "failure"
		}
		// The outputs of a matrix job are those of the entries that set them (the last wins).
		for k, expr := range j.Outputs {
			v, err := interpolate(expr, ctx)
			if err != nil {
				t.Fatalf("job %s: output %s: %v", name, k, err)
			}
			if v != "" {
				res.outputs[k] = v
			}
		}
	}
	return res
}

// runSteps runs one job instance (one matrix entry) on a fresh runner and reports success.
func (p *player) runSteps(name, title string, j *wfJob, ev ghEvent, eventPath string, ctx map[string]any) bool {
	t := p.t
	t.Helper()
	runner := t.TempDir()
	workspace, home, temp := filepath.Join(runner, "work"), filepath.Join(runner, "home"), filepath.Join(runner, "temp")
	for _, d := range []string{workspace, home, temp} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	env := append(slices.Clone(p.shared), "HOME="+home, "TMPDIR="+temp, "RUNNER_TEMP="+temp, "RUNNER_OS=Linux",
		"CI=true", "GITHUB_ACTIONS=true", "GITHUB_EVENT_NAME="+ev.name, "GITHUB_REF="+ev.ref, "GITHUB_SHA="+ev.sha,
		"GITHUB_EVENT_PATH="+eventPath, "GITHUB_WORKSPACE="+workspace, "GITHUB_JOB="+name,
		"GITHUB_REPOSITORY=ferry-ci/shipping", "GITHUB_RUN_ID="+fmt.Sprint(ctx["github"].(map[string]any)["run_id"]))
	for k, v := range ev.env {
		env = append(env, k+"="+v)
	}
	if j.Environment != "" {
		for k, v := range p.jobEnv {
			env = append(env, k+"="+v)
		}
	}
	t.Logf("job %s: %s", name, title)
	for i, st := range j.Steps {
		if st.If != "" {
			t.Fatalf("job %s step %d: step conditions are not played", name, i)
		}
		with := map[string]string{}
		for k, v := range st.With {
			s, err := interpolate(v, ctx)
			if err != nil {
				t.Fatalf("job %s step %d: with.%s: %v", name, i, k, err)
			}
			with[k] = s
		}
		stepEnv := slices.Clone(env)
		for k, v := range st.Env {
			s, err := interpolate(v, ctx)
			if err != nil {
				t.Fatalf("job %s step %d: env.%s: %v", name, i, k, err)
			}
			stepEnv = append(stepEnv, k+"="+s)
		}
		action, _, _ := strings.Cut(st.Uses, "@")
		var outputs map[string]string
		ok := true
		switch {
		case action == "actions/checkout":
			p.checkout(workspace, ev, with)
		case action == "actions/setup-go":
			// The runner's Go is the one the test runs with; the file it names must exist.
			if f := with["go-version-file"]; f == "" || !exists(filepath.Join(workspace, f)) {
				t.Fatalf("job %s: setup-go's go-version-file %q is not in the checkout", name, f)
			}
		case action == "ferry-ci/ferry":
			outputs, ok = p.ferryAction(name, workspace, temp, stepEnv, with)
		default:
			t.Fatalf("job %s step %d: the player does not know %q", name, i, st.Uses)
		}
		if st.ID != "" {
			ctx["steps"].(map[string]any)[st.ID] = map[string]any{"outputs": toAny(outputs)}
		}
		if !ok {
			return false
		}
	}
	return true
}

// checkout does what actions/checkout does: a fetch of the event's commit at fetch-depth
// (default 1; 0 for everything) into an empty repository, then a checkout of it.
func (p *player) checkout(dir string, ev ghEvent, with map[string]string) {
	t := p.t
	t.Helper()
	for k := range with {
		if k != "persist-credentials" && k != "fetch-depth" {
			t.Fatalf("checkout with %s: the player does not know it", k)
		}
	}
	depth := orDefault(with["fetch-depth"], "1")
	gitIn(t, dir, "init", "-q")
	gitIn(t, dir, "remote", "add", "origin", "file://"+p.origin)
	fetch := []string{"-c", "protocol.version=2", "fetch", "-q", "--no-tags", "--prune", "--no-recurse-submodules"}
	if depth != "0" {
		fetch = append(fetch, "--depth="+depth)
	}
	local := "refs/remotes/origin/" + strings.TrimPrefix(ev.ref, "refs/heads/")
	if strings.HasPrefix(ev.ref, "refs/pull/") {
		local = "refs/remotes/pull/" + strings.TrimPrefix(ev.ref, "refs/pull/")
	}
	if depth == "0" {
		fetch = append(fetch, "origin", "+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*")
		if strings.HasPrefix(ev.ref, "refs/pull/") {
			fetch = append(fetch, "+"+ev.sha+":"+local)
		}
	} else {
		fetch = append(fetch, "origin", "+"+ev.sha+":"+local)
	}
	gitIn(t, dir, fetch...)
	if branch, ok := strings.CutPrefix(ev.ref, "refs/heads/"); ok {
		gitIn(t, dir, "checkout", "-q", "--force", "-B", branch, local)
	} else {
		gitIn(t, dir, "checkout", "-q", "--force", local)
	}
}

// ferryAction runs the Ferry action: its inputs from with (defaults from action.yml), then
// action.yml's own "ferry" step with bash, with ferry installed where the action installs it.
func (p *player) ferryAction(job, workspace, temp string, env []string, with map[string]string) (map[string]string, bool) {
	t := p.t
	t.Helper()
	inputs := map[string]any{}
	for k, in := range p.action.Inputs {
		inputs[k] = in.Default
		if v, ok := with[k]; ok {
			inputs[k] = v
		} else if in.Required {
			t.Fatalf("job %s: the Ferry action's required input %s is not set", job, k)
		}
	}
	for k := range with {
		if _, ok := p.action.Inputs[k]; !ok {
			t.Fatalf("job %s: the Ferry action has no input %q", job, k)
		}
	}
	dir := filepath.Join(temp, "ferry")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(exe, filepath.Join(dir, "bin", "ferry")); err != nil && !os.IsExist(err) {
		t.Fatal(err)
	}
	var step *struct {
		ID               string            `yaml:"id"`
		Shell            string            `yaml:"shell"`
		WorkingDirectory string            `yaml:"working-directory"`
		Env              map[string]string `yaml:"env"`
		Run              string            `yaml:"run"`
	}
	for i := range p.action.Runs.Steps {
		if p.action.Runs.Steps[i].ID == "ferry" {
			step = &p.action.Runs.Steps[i]
		}
	}
	if step == nil || step.Shell != "bash" {
		t.Fatal("action.yml has no bash step with id ferry")
	}
	actx := map[string]any{"inputs": inputs,
		"steps":  map[string]any{"key": map[string]any{"outputs": map[string]any{"dir": dir}}},
		"github": map[string]any{"action_path": p.ferrySrc}}
	stepEnv := slices.Clone(env)
	for k, v := range step.Env {
		s, err := interpolate(v, actx)
		if err != nil {
			t.Fatalf("action.yml step ferry: env.%s: %v", k, err)
		}
		stepEnv = append(stepEnv, k+"="+s)
	}
	wd, err := interpolate(step.WorkingDirectory, actx)
	if err != nil {
		t.Fatal(err)
	}
	outFile := filepath.Join(temp, fmt.Sprintf("output-%d", len(p.steps)))
	script := filepath.Join(temp, fmt.Sprintf("step-%d.sh", len(p.steps)))
	if err := os.WriteFile(script, []byte(step.Run), 0o755); err != nil {
		t.Fatal(err)
	}
	stepEnv = append(stepEnv, asFerry+"=1", "GITHUB_OUTPUT="+outFile, "GITHUB_ACTION_PATH="+p.ferrySrc,
		"GITHUB_STEP_SUMMARY="+filepath.Join(temp, fmt.Sprintf("summary-%d.md", len(p.steps))))
	cmd := exec.CommandContext(t.Context(), "bash", "--noprofile", "--norc", "-eo", "pipefail", script)
	cmd.Dir = filepath.Join(workspace, wd)
	cmd.Env = stepEnv
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	code := 0
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			t.Fatalf("job %s: ferry step: %v", job, err)
		}
		code = exit.ExitCode()
	}
	stepOut := parseGitHubOutput(t, outFile)
	fctx := map[string]any{"steps": map[string]any{"ferry": map[string]any{"outputs": toAny(stepOut)}}}
	outputs := map[string]string{}
	for k, o := range p.action.Outputs {
		v, err := interpolate(o.Value, fctx)
		if err != nil {
			t.Fatalf("action.yml output %s: %v", k, err)
		}
		outputs[k] = v
	}
	fs := &ferryStep{job: job, command: inputs["command"].(string), args: inputs["args"].(string),
		services: inputs["services"].(string), code: code, output: out.String(), outputs: outputs,
		workspace: cmd.Dir, env: stepEnv}
	p.steps = append(p.steps, fs)
	t.Logf("job %s: ferry %s %s [services: %s]: exit %d, outputs %v", job, fs.command,
		strings.Join(strings.Fields(fs.args), " "), fs.services, code, stepOut)
	if code != 0 {
		t.Logf("job %s: ferry output:\n%s", job, fs.output)
	}
	return outputs, code == 0
}

// parseGitHubOutput reads a GITHUB_OUTPUT file: name=value lines and name<<DELIMITER blocks.
func parseGitHubOutput(t *testing.T, path string) map[string]string {
	t.Helper()
	out := map[string]string{}
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return out
	}
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		if k, delim, ok := strings.Cut(line, "<<"); ok && !strings.Contains(k, "=") {
			var lines []string
			for sc.Scan() && sc.Text() != delim {
				lines = append(lines, sc.Text())
			}
			out[k] = strings.Join(lines, "\n")
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("GITHUB_OUTPUT line %q is neither name=value nor name<<DELIMITER", line)
		}
		out[k] = v
	}
	return out
}

// stepStatus reads a run as ferry status -o json shows it, on the runner of a ferry step
// (its workspace, HOME and the store its args chose).
func (p *player) stepStatus(s *ferryStep) *pipeline.Run {
	p.t.Helper()
	args := []string{"status", s.outputs["run-id"], "-o", "json"}
	if f := strings.Fields(s.args); slices.Contains(f, "--state") {
		i := slices.Index(f, "--state")
		args = append(args, f[i:i+2]...)
	}
	return ferryStatusIn(p.t, s.workspace, s.env, args...)
}

// ferryStatusIn runs ferry status (or another command printing a run as JSON) as a process.
func ferryStatusIn(t *testing.T, dir string, env []string, args ...string) *pipeline.Run {
	t.Helper()
	exe, _ := os.Executable()
	cmd := exec.CommandContext(t.Context(), exe, args...)
	cmd.Dir, cmd.Env = dir, append(slices.Clone(env), asFerry+"=1", "GITHUB_ACTIONS=", "GITHUB_OUTPUT=")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ferry %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	run := &pipeline.Run{}
	if err := json.Unmarshal(out, run); err != nil {
		t.Fatalf("ferry %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return run
}

// stripBraces turns an if condition into an expression: GitHub accepts both forms.
func stripBraces(s string) string {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "${{") && strings.HasSuffix(s, "}}") && strings.Count(s, "${{") == 1 {
		return strings.TrimSpace(s[3 : len(s)-2])
	}
	return s
}

// interpolate replaces each ${{ expression }} of s with its value as GitHub prints it.
func interpolate(s string, ctx map[string]any) (string, error) {
	var b strings.Builder
	for {
		i := strings.Index(s, "${{")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		end := strings.Index(s[i:], "}}")
		if end < 0 {
			return "", fmt.Errorf("%q: ${{ without }}", s)
		}
		v, err := evalExpr(s[i+3:i+end], ctx)
		if err != nil {
			return "", err
		}
		b.WriteString(s[:i])
		b.WriteString(exprString(v))
		s = s[i+end+2:]
	}
}

// evalExpr evaluates a GitHub Actions expression (without ${{ }}), parsed by actionlint, with
// GitHub's semantics for the operators and functions Ferry's workflows use. Anything else is
// an error, so that a generated workflow never relies on what the player does not check.
func evalExpr(src string, ctx map[string]any) (any, error) {
	node, perr := actionlint.NewExprParser().Parse(actionlint.NewExprLexer(src + "}}"))
	if perr != nil {
		return nil, fmt.Errorf("parse %q: %s", src, perr.Message)
	}
	v, err := evalNode(node, ctx)
	if err != nil {
		return nil, fmt.Errorf("%q: %w", strings.TrimSpace(src), err)
	}
	return v, nil
}

func evalNode(n actionlint.ExprNode, ctx map[string]any) (any, error) {
	switch n := n.(type) {
	case *actionlint.VariableNode:
		v, ok := lookup(ctx, n.Name)
		if !ok {
			return nil, fmt.Errorf("unknown context %s", n.Name)
		}
		return v, nil
	case *actionlint.NullNode:
		return nil, nil
	case *actionlint.BoolNode:
		return n.Value, nil
	case *actionlint.IntNode:
		return float64(n.Value), nil
	case *actionlint.FloatNode:
		return n.Value, nil
	case *actionlint.StringNode:
		return n.Value, nil
	case *actionlint.ObjectDerefNode:
		recv, err := evalNode(n.Receiver, ctx)
		if err != nil {
			return nil, err
		}
		m, _ := recv.(map[string]any)
		v, _ := lookup(m, n.Property)
		return v, nil
	case *actionlint.IndexAccessNode:
		recv, err := evalNode(n.Operand, ctx)
		if err != nil {
			return nil, err
		}
		idx, err := evalNode(n.Index, ctx)
		if err != nil {
			return nil, err
		}
		switch r := recv.(type) {
		case []any:
			f, ok := idx.(float64)
			if !ok || f < 0 || int(f) >= len(r) {
				return nil, nil
			}
			return r[int(f)], nil
		case map[string]any:
			v, _ := lookup(r, exprString(idx))
			return v, nil
		}
		return nil, nil
	case *actionlint.NotOpNode:
		v, err := evalNode(n.Operand, ctx)
		if err != nil {
			return nil, err
		}
		return !truthy(v), nil
	case *actionlint.LogicalOpNode:
		l, err := evalNode(n.Left, ctx)
		if err != nil {
			return nil, err
		}
		if (n.Kind == actionlint.LogicalOpNodeKindAnd) != truthy(l) {
			return l, nil
		}
		return evalNode(n.Right, ctx)
	case *actionlint.CompareOpNode:
		l, err := evalNode(n.Left, ctx)
		if err != nil {
			return nil, err
		}
		r, err := evalNode(n.Right, ctx)
		if err != nil {
			return nil, err
		}
		switch n.Kind {
		case actionlint.CompareOpNodeKindEq:
			return exprEqual(l, r), nil
		case actionlint.CompareOpNodeKindNotEq:
			return !exprEqual(l, r), nil
		}
		return nil, fmt.Errorf("operator %s is not played", n.Kind)
	case *actionlint.FuncCallNode:
		var args []any
		for _, a := range n.Args {
			v, err := evalNode(a, ctx)
			if err != nil {
				return nil, err
			}
			args = append(args, v)
		}
		switch strings.ToLower(n.Callee) {
		case "fromjson":
			if len(args) != 1 {
				return nil, fmt.Errorf("fromJSON takes one argument")
			}
			var v any
			if err := json.Unmarshal([]byte(exprString(args[0])), &v); err != nil {
				return nil, fmt.Errorf("fromJSON(%q): %w", exprString(args[0]), err)
			}
			return v, nil
		case "tojson":
			data, _ := json.Marshal(args[0])
			return string(data), nil
		case "success", "always":
			return true, nil
		}
		return nil, fmt.Errorf("function %s is not played", n.Callee)
	}
	return nil, fmt.Errorf("expression %T is not played", n)
}

// lookup is a case-insensitive property access, as GitHub's contexts are.
func lookup(m map[string]any, key string) (any, bool) {
	if v, ok := m[key]; ok {
		return v, true
	}
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	return nil, false
}

func truthy(v any) bool {
	switch v := v.(type) {
	case nil:
		return false
	case bool:
		return v
	case float64:
		return v != 0 && !math.IsNaN(v)
	case string:
		return v != ""
	}
	return true
}

// exprEqual is GitHub's ==: strings case-insensitively, other mixed types as numbers.
func exprEqual(l, r any) bool {
	ls, lok := l.(string)
	rs, rok := r.(string)
	if lok && rok {
		return strings.EqualFold(ls, rs)
	}
	if l == nil && r == nil {
		return true
	}
	return exprNumber(l) == exprNumber(r)
}

func exprNumber(v any) float64 {
	switch v := v.(type) {
	case nil:
		return 0
	case bool:
		if v {
			return 1
		}
		return 0
	case float64:
		return v
	case string:
		if strings.TrimSpace(v) == "" {
			return 0
		}
		if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
			return f
		}
	}
	return math.NaN()
}

// exprString is a value as ${{ }} prints it.
func exprString(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case bool:
		return strconv.FormatBool(v)
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	data, _ := json.Marshal(v)
	return string(data)
}

func toAny(m map[string]string) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// playRepo is the example as a bare remote served over file://, set up as a team would: on
// main, ferry.yaml keeps runs in the registry (state: oci://), names the test's registry, the
// pinned Trivy with the offline DB and namespaces of the test's own on the cluster, and the
// workflow `ferry ci generate github` made from it is committed; feature/tracking (a change
// to src/shipping/common) is on top of that, release/delivery/v1.0.2 is cut from main, and
// refs/pull/7/merge is GitHub's merge commit of a pull request of feature/tracking into main.
type playRepo struct {
	work, bare           string
	workflow             []byte
	main, feature, merge string
	qaNS, prodNS         string
}

const playRelease = "release/delivery/v1.0.2"

// prodApprovers sign prod's gate (the example asks for two approvals) with the demo keys.
var prodApprovers = []string{"alice", "bob"}

func newPlayRepo(t *testing.T, reg string) *playRepo {
	t.Helper()
	trivy := testenv.Trivy(t)
	db := testenv.FixtureDB(t, testenv.FixtureDBYAML(t), "")
	work := exampleRepo(t)
	gitIn(t, work, "checkout", "-q", "main")
	suffix := fmt.Sprintf("%06d", time.Now().UnixNano()%1_000_000)
	p := &playRepo{work: work, qaNS: "play-qa-" + suffix, prodNS: "play-prod-" + suffix}
	cfg := filepath.Join(work, "ferry.yaml")
	data := readFile(t, cfg)
	text := strings.NewReplacer(
		"registry: 127.0.0.1:5000/shipping", "registry: "+reg+"/shipping\nstate: oci://"+reg+"/ferry/runs",
		"trivy: {offline: true}", "trivy: {offline: true, path: "+trivy+", cacheDir: "+db+"}",
		"namespace: backend-qa,", "namespace: "+p.qaNS+",",
		"namespace: backend, registryNamespace: prod,", "namespace: "+p.prodNS+", registryNamespace: prod, createNamespace: true,",
	).Replace(string(data))
	if strings.Count(text, reg) != 2 || !strings.Contains(text, trivy) || !strings.Contains(text, p.prodNS) {
		t.Fatal("the example changed: update this test")
	}
	if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	gitIn(t, work, "commit", "-qam", "runs in the registry; the test's registry, Trivy and namespaces")
	if r := runFerry(t, work, nil, "", "ci", "generate", "github", "-o", ".github/workflows/ferry.yml"); r.code != 0 {
		t.Fatalf("ci generate github: exit %d\n%s", r.code, r.stderr)
	}
	p.workflow = readFile(t, filepath.Join(work, ".github/workflows/ferry.yml"))
	gitIn(t, work, "add", ".github")
	gitIn(t, work, "commit", "-qm", "ci: the generated workflow")
	gitIn(t, work, "branch", playRelease)
	gitIn(t, work, "checkout", "-q", "feature/tracking")
	gitIn(t, work, "rebase", "-q", "main")
	gitIn(t, work, "checkout", "-q", "-b", "pull/7", "main")
	gitIn(t, work, "merge", "-q", "--no-ff", "-m", "Merge feature/tracking into main", "feature/tracking")
	p.main = strings.TrimSpace(gitOut(t, work, "rev-parse", "main"))
	p.feature = strings.TrimSpace(gitOut(t, work, "rev-parse", "feature/tracking"))
	p.merge = strings.TrimSpace(gitOut(t, work, "rev-parse", "pull/7"))
	gitIn(t, work, "checkout", "-q", "main")
	p.bare = filepath.Join(t.TempDir(), "shipping.git")
	gitIn(t, "", "clone", "-q", "--bare", work, p.bare)
	gitIn(t, p.bare, "update-ref", "refs/pull/7/merge", p.merge)
	gitIn(t, p.bare, "branch", "-D", "pull/7")
	gitIn(t, p.bare, "config", "uploadpack.allowAnySHA1InWant", "true") // as GitHub serves any commit
	return p
}

func (p *playRepo) events() (feature, pr, release ghEvent) {
	feature = ghEvent{name: "push", ref: "refs/heads/feature/tracking", sha: p.feature,
		payload: map[string]any{"ref": "refs/heads/feature/tracking", "before": p.main, "after": p.feature}}
	pr = ghEvent{name: "pull_request", ref: "refs/pull/7/merge", sha: p.merge,
		payload: map[string]any{"number": 7, "pull_request": map[string]any{"number": 7,
			"base": map[string]any{"ref": "main", "sha": p.main},
			"head": map[string]any{"ref": "feature/tracking", "sha": p.feature}}},
		env: map[string]string{"GITHUB_BASE_REF": "main", "GITHUB_HEAD_REF": "feature/tracking"}}
	zero := strings.Repeat("0", 40)
	release = ghEvent{name: "push", ref: "refs/heads/" + playRelease, sha: p.main,
		payload: map[string]any{"ref": "refs/heads/" + playRelease, "before": zero, "after": p.main, "created": true}}
	return
}

// clone is a full clone of the remote at branch, for a laptop's ferry run or an approver.
func (p *playRepo) clone(t *testing.T, branch string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "clone")
	gitIn(t, "", "clone", "-q", "--branch", branch, "file://"+p.bare, dir)
	return dir
}

// ferryProc runs ferry as a separate process with exactly env (plus the re-exec switch).
func ferryProc(t *testing.T, dir string, env []string, args ...string) (int, string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), exe, args...)
	cmd.Dir, cmd.Env = dir, append(slices.Clone(env), asFerry+"=1")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode(), string(out)
	}
	if err != nil {
		t.Fatalf("ferry %v: %v", args, err)
	}
	return 0, string(out)
}

// stageResults is a run's journal as a set: service/stage=status, sorted.
func stageResults(runs ...*pipeline.Run) []string {
	var out []string
	for _, run := range runs {
		for _, svc := range run.Services {
			for _, s := range svc.Stages {
				out = append(out, fmt.Sprintf("%s/%s=%s", svc.Name, s.ID, s.Status))
			}
		}
	}
	slices.Sort(out)
	return out
}

// digestOf is the digest of repo@digest or repo:tag@digest.
func digestOf(ref string) string {
	_, d, _ := strings.Cut(ref, "@")
	return d
}

// TestPlayGeneratedWorkflow plays the workflow `ferry ci generate github` writes for the
// example, for a push to a feature branch, a pull request and a release branch: the plan job,
// each matrix entry on a runner of its own (a depth-1 checkout, its own HOME and Ferry cache;
// only the registry in common), then the qa and prod jobs on the cluster, with an approver
// signing on a machine of their own in between. Each play must leave what one ferry run of the
// same commit leaves (in a namespace of the registry of its own): the same stage results, the
// same image digests and chart contents, the same release record. Playing the push to the feature
// branch or the release again on fresh runners builds, tests, builds images and scans nothing.
// (A pull request's jobs keep their runs in the job, --state local, as the generated workflow
// says: pull requests from forks get no credentials for the registry's run store. So a pull
// request played again builds again, and is not played twice here.)
func TestPlayGeneratedWorkflow(t *testing.T) {
	reg := testenv.Registry(t)
	kubeconfig := testenv.KubeconfigWithContexts(t, testenv.Cluster(t), "qa", "prod")
	repo := newPlayRepo(t, reg)
	p := newPlayer(t, repo.bare, repo.workflow)
	p.jobEnv["KUBECONFIG"] = kubeconfig // what the qa and prod environments' secrets give their jobs
	feature, pr, release := repo.events()
	// Each reference run has a run store of its own: nothing of an earlier one is reused.
	refState := func(t *testing.T) string {
		return "oci://" + reg + "/reference/runs-" + strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-"))
	}

	// The approvers sign prod's gate, each on their own machine, before the prod job runs.
	p.between["deploy-prod"] = func(ev ghEvent, done map[string]*jobResult) {
		t := p.t
		if done["deploy-qa"].result != "success" {
			return
		}
		for _, who := range prodApprovers {
			dir := repo.clone(t, strings.TrimPrefix(ev.ref, "refs/heads/"))
			env := append(slices.Clone(p.shared), "HOME="+t.TempDir())
			code, out := ferryProc(t, dir, env, "approve", done["pipeline"].outputs["run-id"], "--env", "prod",
				"--key", demoKey(dir, who))
			if code != 0 {
				t.Fatalf("%s's approval: exit %d\n%s", who, code, out)
			}
		}
	}
	// observer reads the final state from a machine that ran nothing.
	observer := func(t *testing.T, branch string) (string, []string) {
		return repo.clone(t, branch), append(slices.Clone(p.shared), "HOME="+t.TempDir())
	}
	// play plays ev and returns the runs its run steps started, as ferry status shows them at
	// the end (on the runner for a pull request's local store, else from the registry).
	play := func(t *testing.T, ev ghEvent, want map[string]string) ([]*pipeline.Run, []*ferryStep) {
		t.Helper()
		p.t = t
		first := len(p.steps)
		jobs := p.play(ev)
		for name, res := range want {
			if jobs[name].result != res {
				t.Fatalf("job %s: %s, want %s", name, jobs[name].result, res)
			}
		}
		steps := p.steps[first:]
		dir, env := observer(t, "main")
		var runs []*pipeline.Run
		for _, s := range steps {
			if s.command != "run" {
				continue
			}
			if s.outputs["run-id"] == "" {
				t.Fatalf("job %s: ferry run set no run-id output", s.job)
			}
			if strings.Contains(s.args, "--state local") {
				runs = append(runs, p.stepStatus(s))
			} else {
				runs = append(runs, ferryStatusIn(t, dir, env, "status", s.outputs["run-id"], "-o", "json"))
			}
		}
		return runs, steps
	}
	// reference is one ferry run of the same commit on a laptop, in the reference namespace.
	// The laptop knows the repository's address as GitHub gives it to jobs: it is the image's
	// org.opencontainers.image.source label.
	reference := func(t *testing.T, dir string, args ...string) *pipeline.Run {
		t.Helper()
		laptop := append(slices.Clone(p.shared), "HOME="+t.TempDir(), "KUBECONFIG="+kubeconfig, "GITHUB_REPOSITORY=ferry-ci/shipping")
		refArgs := []string{"--state", refState(t), "--registry", reg + "/reference", "--no-progress"}
		code, out := ferryProc(t, dir, laptop, append(append([]string{"run"}, args...), refArgs...)...)
		id := ""
		if code == 0 || code == exitWaiting {
			_, list := ferryProc(t, dir, laptop, "runs", "-o", "json", refArgs[0], refArgs[1])
			var runs []struct{ ID string }
			if err := json.Unmarshal([]byte(list), &runs); err != nil || len(runs) == 0 {
				t.Fatalf("runs: %v %q", err, list)
			}
			id = runs[0].ID
		}
		if code == exitWaiting {
			for i, who := range prodApprovers {
				args := []string{"approve", id, "--env", "prod", "--key", demoKey(dir, who)}
				if i == len(prodApprovers)-1 {
					args = append(args, "--resume", "--no-progress")
				}
				if code, out = ferryProc(t, dir, laptop, args...); code != 0 {
					break
				}
			}
		}
		if code != 0 {
			t.Fatalf("reference run in %s: exit %d\n%s", dir, code, out)
		}
		return ferryStatusIn(t, dir, laptop, "status", id, "-o", "json", refArgs[0], refArgs[1])
	}
	// cachedAgain checks that a second play served every build, test, image and scan stage from
	// the first play's runs, and that the run's output says so.
	cachedAgain := func(t *testing.T, firstRuns, again []*pipeline.Run, steps []*ferryStep) {
		t.Helper()
		from := map[string]bool{}
		for _, r := range firstRuns {
			from[r.ID] = true
		}
		n := 0
		for _, run := range again {
			for _, svc := range run.Services {
				for _, id := range []pipeline.StageID{"build", "test", "image", "scan"} {
					s := svc.Stage(id)
					if s == nil {
						continue
					}
					n++
					if s.Status != pipeline.Skipped || !from[s.CachedFrom] {
						t.Errorf("second play: %s %s %s (%s), want served from the first play's run", svc.Name, id, s.Status, s.Reason)
					}
				}
			}
		}
		if n == 0 {
			t.Fatal("second play: no build, test, image or scan stage in its runs")
		}
		for _, s := range steps {
			if s.command == "run" && !strings.Contains(s.output, "same inputs as run") {
				t.Errorf("job %s: ferry run's output does not say the stages were cached:\n%s", s.job, s.output)
			}
		}
	}

	t.Run("feature push", func(t *testing.T) {
		ref := reference(t, repo.clone(t, "feature/tracking"))
		runs, _ := play(t, feature, map[string]string{"plan": "success", "pipeline": "success", "deploy-qa": "skipped", "deploy-prod": "skipped"})
		if len(runs) != 2 {
			t.Fatalf("%d matrix entries ran, want delivery and package", len(runs))
		}
		if got, want := stageResults(runs...), stageResults(ref); !slices.Equal(got, want) {
			t.Errorf("the play's stage results\n%v\nwant those of one ferry run\n%v", got, want)
		}
		again, steps := play(t, feature, nil)
		cachedAgain(t, runs, again, steps)
	})

	t.Run("pull request", func(t *testing.T) {
		// The commit GitHub builds for a pull request is the merge commit (Go stamps it into
		// the binaries); the event is the pull request of feature/tracking into main.
		dir := repo.clone(t, "main")
		gitIn(t, dir, "fetch", "-q", "origin", "refs/pull/7/merge")
		gitIn(t, dir, "checkout", "-q", "--detach", "FETCH_HEAD")
		ref := reference(t, dir, "--event", "pr", "--base", "main", "--ref", "feature/tracking", "--after", repo.feature)
		runs, _ := play(t, pr, map[string]string{"plan": "success", "pipeline": "success", "deploy-qa": "skipped", "deploy-prod": "skipped"})
		if got, want := stageResults(runs...), stageResults(ref); !slices.Equal(got, want) {
			t.Errorf("the play's stage results\n%v\nwant those of one ferry run\n%v", got, want)
		}
		for _, run := range runs {
			for _, svc := range run.Services {
				img, want := svc.Stage("image").Outputs.Image, ref.Service(svc.Name).Stage("image").Outputs.Image
				if img == nil || want == nil || img.Digest != want.Digest {
					t.Errorf("%s image %+v, want the digest of one ferry run's %+v", svc.Name, img, want)
				}
				if scan := svc.Stage("scan").Outputs.Scan; scan == nil || !scan.Passed {
					t.Errorf("%s scan %+v", svc.Name, scan)
				}
			}
		}
	})

	t.Run("release", func(t *testing.T) {
		all := map[string]string{"plan": "success", "pipeline": "success", "deploy-qa": "success", "deploy-prod": "success"}
		ref := reference(t, repo.clone(t, playRelease))
		runs, _ := play(t, release, all)
		if len(runs) != 1 {
			t.Fatalf("%d matrix entries ran, want delivery's", len(runs))
		}
		run := runs[0]
		if got, want := stageResults(run), stageResults(ref); !slices.Equal(got, want) {
			t.Errorf("the play's stage results\n%v\nwant those of one ferry run\n%v", got, want)
		}
		checkRelease(t, reg, refState(t), repo, kubeconfig, run, ref)
		// The qa job's resume restored what the pipeline job had done: those stages keep the
		// times they ran at, in order, not the time of the resume.
		d := run.Service("delivery")
		order := []pipeline.StageID{"build", "test", "image", "scan"}
		for i := 1; i < len(order); i++ {
			if prev, s := d.Stage(order[i-1]), d.Stage(order[i]); prev.Ended.After(s.Started) {
				t.Errorf("%s ended at %s, after %s started at %s", prev.ID, prev.Ended, s.ID, s.Started)
			}
		}

		again, steps := play(t, release, all)
		cachedAgain(t, runs, again, steps)
	})
}

// checkRelease compares what the played release left in the registry, the journal and the
// cluster with what the reference run left.
func checkRelease(t *testing.T, reg, refState string, repo *playRepo, kubeconfig string, run, ref *pipeline.Run) {
	t.Helper()
	d, r := run.Service("delivery"), ref.Service("delivery")
	pushed, refPushed := d.Stage("push").Outputs.Push, r.Stage("push").Outputs.Push
	chart, refChart := d.Stage("chart").Outputs.Chart, r.Stage("chart").Outputs.Chart
	promoted, refPromoted := d.Stage("promote:prod").Outputs.Promote, r.Stage("promote:prod").Outputs.Promote
	if pushed == nil || refPushed == nil || pushed.Digest != refPushed.Digest {
		t.Fatalf("pushed %+v, one ferry run pushed %+v", pushed, refPushed)
	}
	if chart == nil || refChart == nil || chart.ContentDigest != refChart.ContentDigest || chart.Version != refChart.Version {
		t.Errorf("chart %+v, one ferry run's %+v", chart, refChart)
	}
	if promoted == nil || refPromoted == nil || promoted.Digest != refPromoted.Digest {
		t.Errorf("promoted %+v, one ferry run promoted %+v", promoted, refPromoted)
	}
	for _, env := range []string{"qa", "prod"} {
		got, want := d.Stage(pipeline.StageID("deploy:"+env)).Outputs.Deploy, r.Stage(pipeline.StageID("deploy:"+env)).Outputs.Deploy
		if got == nil || want == nil || digestOf(got.Image) != digestOf(want.Image) || got.Namespace != want.Namespace {
			t.Errorf("deploy:%s %+v, one ferry run's %+v", env, got, want)
		}
	}
	// The registry: the release tags hold the same digests in both namespaces; the charts
	// have the same content (their manifests differ by the image reference they annotate).
	for _, repoPath := range []string{"delivery", "prod/delivery"} {
		got, err := remote.Head(mustRef(t, reg+"/shipping/"+repoPath+":1.0.2"))
		want, err2 := remote.Head(mustRef(t, reg+"/reference/"+repoPath+":1.0.2"))
		if err != nil || err2 != nil || got.Digest != want.Digest || got.Digest.String() != pushed.Digest {
			t.Errorf("%s:1.0.2 is %v (%v), one ferry run's %v (%v), pushed %s", repoPath, got, err, want, err2, pushed.Digest)
		}
	}
	for _, ns := range []string{"shipping", "reference"} {
		desc, err := remote.Get(mustRef(t, reg+"/"+ns+"/helm/delivery:1.0.2"))
		if err != nil || !strings.Contains(string(desc.Manifest), `"ferry.dev/content-digest":"`+refChart.ContentDigest+`"`) {
			t.Errorf("%s/helm/delivery:1.0.2: %v, want content digest %s", ns, err, refChart.ContentDigest)
		}
	}
	// The cluster runs the played release's images, pinned by digest.
	if got, want := kubectlImage(t, kubeconfig, repo.qaNS, "delivery"), reg+"/shipping/delivery:1.0.2@"+pushed.Digest; got != want {
		t.Errorf("qa runs %s, want %s", got, want)
	}
	if got, want := kubectlImage(t, kubeconfig, repo.prodNS, "delivery"), reg+"/shipping/prod/delivery:1.0.2@"+pushed.Digest; got != want {
		t.Errorf("prod runs %s, want %s", got, want)
	}
	// The release record, as ferry release list reads it from the registry and the run store.
	type record struct {
		Version, State, Env, Status string
		Refs                        []string
		Image, Chart                string
		Promoted                    []string
		ImageTag, ChartTag          *bool
	}
	list := func(args ...string) string {
		t.Helper()
		r := runFerry(t, repo.work, map[string]string{"FERRY_CACHE_DIR": t.TempDir()}, "",
			append([]string{"release", "list", "delivery", "-o", "json"}, args...)...)
		var recs []record
		if err := json.Unmarshal([]byte(r.stdout), &recs); r.code != 0 || err != nil || len(recs) == 0 {
			t.Fatalf("release list %v: exit %d %v\n%s%s", args, r.code, err, r.stdout, r.stderr)
		}
		// The namespaces differ: compare digests, and the chart's presence (its manifest
		// names the image's repository).
		var out []string
		for _, e := range recs {
			var promoted []string
			for _, p := range e.Promoted {
				promoted = append(promoted, digestOf(p))
			}
			out = append(out, fmt.Sprintf("%s %s env=%s status=%s refs=%v image=%s chart=%t promoted=%v imageTag=%v chartTag=%v",
				e.Version, e.State, e.Env, e.Status, e.Refs, digestOf(e.Image), e.Chart != "", promoted,
				e.ImageTag != nil && *e.ImageTag, e.ChartTag != nil && *e.ChartTag))
		}
		return strings.Join(out, "\n")
	}
	got, want := list(), list("--state", refState, "--registry", reg+"/reference")
	if got != want || !strings.Contains(got, "1.0.2 in production") {
		t.Errorf("release list\n%s\nwant one ferry run's\n%s", got, want)
	}
}
