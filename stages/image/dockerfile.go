package image

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

// dockerfile is a parsed Dockerfile with its build arguments applied to the global scope.
type dockerfile struct {
	name     string // as errors show it: relative to the context when inside it
	stages   []instructions.Stage
	metaArgs []instructions.ArgCommand
	lex      *shell.Lex

	buildArgs map[string]string
	global    *env // ARGs before the first FROM, plus the predefined platform ARGs
}

// lineError is an error at a line of a Dockerfile: "Dockerfile:7: message".
type lineError struct {
	file string
	line int
	err  error
}

func (e *lineError) Error() string {
	if e.line == 0 {
		return fmt.Sprintf("%s: %v", e.file, e.err)
	}
	return fmt.Sprintf("%s:%d: %v", e.file, e.line, e.err)
}

func (e *lineError) Unwrap() error { return e.err }

// at wraps err with the file and the first line of the instruction at loc.
func (df *dockerfile) at(loc []parser.Range, err error) error {
	line := 0
	if len(loc) > 0 {
		line = loc[0].Start.Line
	}
	return &lineError{file: df.name, line: line, err: err}
}

// parseDockerfile parses with BuildKit's parser and instructions package and resolves the
// global ARGs with the build args.
func parseDockerfile(name string, src []byte, buildArgs map[string]string, platform v1.Platform) (*dockerfile, error) {
	res, err := parser.Parse(bytes.NewReader(src))
	if err != nil {
		return nil, parseErr(name, err)
	}
	stages, metaArgs, err := instructions.Parse(res.AST, nil)
	if err != nil {
		return nil, parseErr(name, err)
	}
	if len(stages) == 0 {
		return nil, &lineError{file: name, err: errors.New("no FROM instruction")}
	}
	df := &dockerfile{
		name:      name,
		stages:    stages,
		metaArgs:  metaArgs,
		lex:       shell.NewLex(res.EscapeToken),
		buildArgs: buildArgs,
		global:    predefinedArgs(platform),
	}
	for _, a := range metaArgs {
		if err := df.declareArgs(df.global, &a, df.global); err != nil {
			return nil, df.at(a.Location(), err)
		}
	}
	return df, nil
}

// parseErr turns a BuildKit parse error into "file:line: message".
func parseErr(name string, err error) error {
	var le *parser.LocationError
	if errors.As(err, &le) && len(le.Locations) > 0 && len(le.Locations[0]) > 0 {
		return &lineError{file: name, line: le.Locations[0][0].Start.Line, err: errors.New(le.Unwrap().Error())}
	}
	return &lineError{file: name, err: err}
}

// predefinedArgs are BuildKit's automatic platform ARGs, in the global scope.
func predefinedArgs(p v1.Platform) *env {
	e := &env{}
	e.set("TARGETPLATFORM", platformString(p))
	e.set("TARGETOS", p.OS)
	e.set("TARGETARCH", p.Architecture)
	e.set("TARGETVARIANT", p.Variant)
	build := v1.Platform{OS: runtime.GOOS, Architecture: runtime.GOARCH}
	e.set("BUILDPLATFORM", platformString(build))
	e.set("BUILDOS", build.OS)
	e.set("BUILDARCH", build.Architecture)
	e.set("BUILDVARIANT", "")
	return e
}

func platformString(p v1.Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// declareArgs applies an ARG instruction to scope: a build arg wins, then the default
// (expanded with expand), then, inside a stage, the global value of the same name.
func (df *dockerfile) declareArgs(scope *env, a *instructions.ArgCommand, expand *env) error {
	for _, kv := range a.Args {
		if v, ok := df.buildArgs[kv.Key]; ok {
			scope.set(kv.Key, v)
			continue
		}
		if kv.Value != nil {
			v, _, err := df.lex.ProcessWord(*kv.Value, expand)
			if err != nil {
				return fmt.Errorf("ARG %s: %w", kv.Key, err)
			}
			scope.set(kv.Key, v)
			continue
		}
		if scope != df.global {
			if v, ok := df.global.Get(kv.Key); ok {
				scope.set(kv.Key, v)
			}
		}
	}
	return nil
}

// expand expands variables in word with e.
func (df *dockerfile) expand(word string, e *env) (string, error) {
	s, _, err := df.lex.ProcessWord(word, e)
	return s, err
}

// stageIndex finds a stage by name (case-insensitive) or number among the first n stages.
func (df *dockerfile) stageIndex(ref string, n int) (int, bool) {
	if i, err := strconv.Atoi(ref); err == nil {
		return i, i >= 0 && i < n
	}
	for i := range n {
		if df.stages[i].Name != "" && strings.EqualFold(df.stages[i].Name, ref) {
			return i, true
		}
	}
	return -1, false
}

// target returns the index of the stage to build.
func (df *dockerfile) target(name string) (int, error) {
	if name == "" {
		return len(df.stages) - 1, nil
	}
	for i, s := range df.stages {
		if strings.EqualFold(s.Name, name) {
			return i, nil
		}
	}
	var names []string
	for _, s := range df.stages {
		if s.Name != "" {
			names = append(names, s.Name)
		}
	}
	return 0, &lineError{file: df.name, err: fmt.Errorf("target stage %q not found (stages: %s)", name, strings.Join(names, ", "))}
}

// baseName expands a stage's FROM argument with the global args.
func (df *dockerfile) baseName(i int) (string, error) {
	st := df.stages[i]
	name, err := df.expand(st.BaseName, df.global)
	if err != nil {
		return "", df.at(st.Location, fmt.Errorf("FROM %s: %w", st.BaseName, err))
	}
	if name == "" {
		return "", df.at(st.Location, fmt.Errorf("FROM %s: base name is empty", st.BaseName))
	}
	return name, nil
}

// copyFrom expands the --from of a COPY with the global args.
func (df *dockerfile) copyFrom(from string) (string, error) {
	if from == "" {
		return "", nil
	}
	return df.expand(from, df.global)
}

// reachable returns the stages the target needs (itself included), in order.
func (df *dockerfile) reachable(target int) ([]int, error) {
	need := map[int]bool{}
	var visit func(i int) error
	visit = func(i int) error {
		if need[i] {
			return nil
		}
		need[i] = true
		base, err := df.baseName(i)
		if err != nil {
			return err
		}
		if j, ok := df.stageIndex(base, i); ok {
			if err := visit(j); err != nil {
				return err
			}
		}
		for _, cmd := range df.stages[i].Commands {
			c, ok := cmd.(*instructions.CopyCommand)
			if !ok {
				continue
			}
			from, err := df.copyFrom(c.From)
			if err != nil {
				return df.at(c.Location(), fmt.Errorf("COPY --from=%s: %w", c.From, err))
			}
			if j, ok := df.stageIndex(from, i); ok && from != "" {
				if err := visit(j); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := visit(target); err != nil {
		return nil, err
	}
	var out []int
	for i := range df.stages {
		if need[i] {
			out = append(out, i)
		}
	}
	return out, nil
}

// unsupported returns the first instruction of the given stages that the native builder
// cannot run, and why.
func (df *dockerfile) unsupported(stages []int) (instructions.Command, error) {
	const hint = "not supported by the native builder (use builder auto or an external builder: buildah, docker, podman)"
	for _, i := range stages {
		for _, cmd := range df.stages[i].Commands {
			switch c := cmd.(type) {
			case *instructions.RunCommand, *instructions.VolumeCommand, *instructions.OnbuildCommand, *instructions.ShellCommand:
				return cmd, fmt.Errorf("%s is %s", strings.ToUpper(cmd.Name()), hint)
			case *instructions.AddCommand:
				for _, src := range c.SourcePaths {
					if isURL(src) {
						return cmd, fmt.Errorf("ADD %s: remote URLs are %s", src, hint)
					}
				}
				if len(c.ExcludePatterns) > 0 {
					return cmd, fmt.Errorf("ADD --exclude is %s", hint)
				}
			case *instructions.CopyCommand:
				if c.Parents {
					return cmd, fmt.Errorf("COPY --parents is %s", hint)
				}
				if len(c.ExcludePatterns) > 0 {
					return cmd, fmt.Errorf("COPY --exclude is %s", hint)
				}
			}
		}
	}
	return nil, nil
}

func isURL(s string) bool {
	for _, p := range []string{"http://", "https://", "git@", "git://"} {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// env is an ordered variable scope that BuildKit's shell lexer can read.
type env struct {
	keys []string
	vals map[string]string
}

var _ shell.EnvGetter = (*env)(nil)

func (e *env) Get(k string) (string, bool) {
	v, ok := e.vals[k]
	return v, ok
}

func (e *env) Keys() []string { return e.keys }

func (e *env) set(k, v string) {
	if e.vals == nil {
		e.vals = map[string]string{}
	}
	if _, ok := e.vals[k]; !ok {
		e.keys = append(e.keys, k)
	}
	e.vals[k] = v
}

// with returns a copy of e overlaid with KEY=value pairs (an image config's Env).
func (e *env) with(kvs []string) *env {
	out := &env{keys: slices.Clone(e.keys), vals: map[string]string{}}
	for k, v := range e.vals {
		out.vals[k] = v
	}
	for _, kv := range kvs {
		k, v, _ := strings.Cut(kv, "=")
		out.set(k, v)
	}
	return out
}
