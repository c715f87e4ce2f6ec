// Package compat answers "would this Azure Pipelines file or GitHub Actions workflow run for
// this event?" with the vendor's own trigger rules. It is the library behind
// `ferry triggers eval`, used to check that a pipeline migrated to Ferry triggers exactly when
// the original did.
package compat

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/ferry-ci/ferry/triggers/azure"
	"github.com/ferry-ci/ferry/triggers/github"
)

// Request is one evaluation.
type Request struct {
	// Dialect is "azure" or "github".
	Dialect string
	// File names the file in messages; Data is its content.
	File string
	Data []byte
	// Event is push, pr, pull_request or pull_request_target. pr means Azure's pr trigger or
	// GitHub's pull_request; pull_request_target exists only for GitHub.
	Event string
	// Ref is the pushed ref for a push and the target branch for a pull request; a bare name
	// is a branch.
	Ref string
	// Paths is the complete set of changed files (empty: nothing changed, which fails any
	// path filter). They are normalised like ReadPaths does.
	Paths []string
	// DisableImpliedCITrigger is Azure's "Disable implied YAML CI trigger" setting.
	DisableImpliedCITrigger bool
}

// Result is what the CLI prints. Warnings are for the CLI to show on stderr and stay out of
// the JSON.
type Result struct {
	Triggered bool     `json:"triggered"`
	Reason    string   `json:"reason"`
	Warnings  []string `json:"-"`
}

// Evaluate parses the file and evaluates the event. Errors are only for an invalid request
// or an invalid file; "not triggered" is a result, not an error.
func Evaluate(req Request) (Result, error) {
	if req.Ref == "" {
		return Result{}, errors.New("a ref is required (the pushed ref, or the target branch of a pull request)")
	}
	paths := make([]string, 0, len(req.Paths))
	for _, p := range req.Paths {
		if p = normalizePath(p); p != "" {
			paths = append(paths, p)
		}
	}
	switch req.Dialect {
	case "azure":
		return evalAzure(req, paths)
	case "github":
		return evalGitHub(req, paths)
	}
	return Result{}, fmt.Errorf("unknown dialect %q (want azure or github)", req.Dialect)
}

func evalAzure(req Request, paths []string) (Result, error) {
	var pr bool
	switch strings.ToLower(req.Event) {
	case "push":
	case "pr", "pull_request":
		pr = true
	case "pull_request_target":
		return Result{}, &RequestError{errors.New(`event "pull_request_target" does not exist in Azure Pipelines (want push or pr)`)}
	default:
		return Result{}, &RequestError{fmt.Errorf("unknown event %q (want push or pr)", req.Event)}
	}
	p, err := azure.ParsePipeline(req.File, req.Data)
	if err != nil {
		return Result{}, fmt.Errorf("invalid Azure Pipelines file: %w", err)
	}
	r := p.Evaluate(azure.Event{PullRequest: pr, Ref: req.Ref, Paths: paths, PathsKnown: true},
		azure.EvalOptions{DisableImpliedCITrigger: req.DisableImpliedCITrigger})
	res := Result{Triggered: r.Triggered, Reason: r.Reason}
	for _, w := range p.Warnings() {
		res.Warnings = append(res.Warnings, w.String())
	}
	return res, nil
}

func evalGitHub(req Request, paths []string) (Result, error) {
	var name string
	switch strings.ToLower(req.Event) {
	case "push":
		name = "push"
	case "pr", "pull_request":
		name = "pull_request"
	case "pull_request_target":
		name = "pull_request_target"
	default:
		return Result{}, &RequestError{fmt.Errorf("unknown event %q (want push, pr, pull_request or pull_request_target)", req.Event)}
	}
	w, err := github.ParseWorkflow(req.File, req.Data)
	if err != nil {
		return Result{}, fmt.Errorf("invalid GitHub Actions workflow: %w", err)
	}
	r := w.Evaluate(github.Event{Name: name, Ref: req.Ref, Paths: paths})
	res := Result{Triggered: r.Triggered, Reason: r.Reason}
	for _, d := range w.Warnings() {
		res.Warnings = append(res.Warnings, d.String())
	}
	return res, nil
}

// ReadPaths reads changed paths as `git diff --name-only` prints them: one per line, or
// NUL-separated as with -z. Lines are trimmed and blank ones skipped; C-style quoted lines
// (git's core.quotePath output) are unquoted; a leading "./" or "/" is removed so paths are
// repository-relative; duplicates are dropped, keeping the first. Backslashes are kept as
// they are: git always separates folders with '/', and '\' is a legal file name character.
func ReadPaths(r io.Reader) ([]string, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("reading changed paths: %w", err)
	}
	sep, quoted := []byte("\n"), true
	if bytes.IndexByte(data, 0) >= 0 {
		// -z output is never quoted; a '"' there is part of the name.
		sep, quoted = []byte{0}, false
	}
	seen := map[string]bool{}
	var paths []string
	for i, line := range bytes.Split(data, sep) {
		p := strings.TrimSpace(string(line))
		if quoted && len(p) >= 2 && p[0] == '"' && p[len(p)-1] == '"' {
			u, err := strconv.Unquote(p)
			if err != nil {
				return nil, fmt.Errorf("changed paths line %d: bad quoted path %s: %w", i+1, p, err)
			}
			p = u
		}
		if p = normalizePath(p); p == "" || seen[p] {
			continue
		}
		seen[p] = true
		paths = append(paths, p)
	}
	return paths, nil
}

func normalizePath(p string) string {
	p = strings.TrimSpace(p)
	for {
		switch {
		case strings.HasPrefix(p, "./"):
			p = p[2:]
		case strings.HasPrefix(p, "/"):
			p = p[1:]
		default:
			return p
		}
	}
}

// RequestError is a bad request (an unknown event), as opposed to a bad file.
type RequestError struct{ Err error }

func (e *RequestError) Error() string { return e.Err.Error() }
func (e *RequestError) Unwrap() error { return e.Err }
