package github

import (
	"flag"
	goldenfile "github.com/ferry-ci/ferry/internal/golden"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/err/*.out from the current output")

// Each testdata/err/NAME.yml is a broken workflow; NAME.out beside it holds the exact errors.
func TestParseWorkflowErrors(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "err", "*.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no testdata/err/*.yml")
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".yml")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			_, perr := ParseWorkflow(file, data)
			if perr == nil {
				t.Fatalf("ParseWorkflow(%s) succeeded, want errors", file)
			}
			got := filepath.ToSlash(perr.Error()) + "\n"
			goldenfile.Check(t, strings.TrimSuffix(file, ".yml")+".out", []byte(got), *update)
		})
	}
}

func TestParseWorkflowForms(t *testing.T) {
	cases := []struct {
		name   string
		yaml   string
		events []string
	}{
		{"string", "on: push\n", []string{"push"}},
		{"list", "on: [push, pull_request, workflow_dispatch]\n", []string{"push", "pull_request", "workflow_dispatch"}},
		{"mapping_with_nulls", "on:\n  push:\n  pull_request_target:\n", []string{"push", "pull_request_target"}},
		{"mapping_other_events_ignored", "on:\n  schedule:\n    - cron: '0 0 * * *'\n  workflow_dispatch: {}\n  push: {}\n", []string{"schedule", "workflow_dispatch", "push"}},
		{"quoted_on", "'on': push\n", []string{"push"}},
		{"anchors", "x: &b [main]\non:\n  push:\n    branches: *b\n", []string{"push"}},
		{"repeated_other_keys_ignored", "jobs: {}\non: push\njobs: {}\n", []string{"push"}},
		{"rest_of_file_ignored", "name: ci\non: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps: [{run: 'true'}]\n", []string{"push"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := mustParse(t, tc.yaml)
			if !slices.Equal(w.Events(), tc.events) {
				t.Errorf("Events() = %q, want %q", w.Events(), tc.events)
			}
			if w.File() != "wf.yml" {
				t.Errorf("File() = %q", w.File())
			}
		})
	}
}

func TestParseWorkflowFilters(t *testing.T) {
	w := mustParse(t, `on:
  push:
    branches: main
    tags: ['v*']
    paths: ['src/**', '!src/docs/**']
  pull_request:
    branches-ignore: [wip/**]
    paths-ignore: ['**.md']
    types: [opened, labeled]
`)
	push, ok := w.Filters("push")
	if !ok {
		t.Fatal("no push filters")
	}
	if push.Branches == nil || len(push.Branches.Patterns()) != 1 || push.Branches.Patterns()[0].String() != "main" {
		t.Error("a single string must be read as a list of one")
	}
	if push.Tags == nil || push.Paths == nil || push.BranchesIgnore != nil {
		t.Errorf("push filters = %+v", push)
	}
	prf, ok := w.Filters("pull_request")
	if !ok || prf.BranchesIgnore == nil || prf.PathsIgnore == nil || !slices.Equal(prf.Types, []string{"opened", "labeled"}) {
		t.Errorf("pull_request filters = %+v", prf)
	}
	if _, ok := w.Filters("pull_request_target"); ok {
		t.Error("pull_request_target is not in on:")
	}
}

func TestParseWorkflowWarnings(t *testing.T) {
	w := mustParse(t, `on:
  push:
    branches:
      - refs/heads/main
    paths:
      - /docs/**
  pull_request:
    branches: []
`)
	var got []string
	for _, d := range w.Warnings() {
		got = append(got, d.String())
	}
	want := []string{
		`wf.yml:4:9: on.push.branches[0]: ref pattern "refs/heads/main": patterns are matched against the branch or tag name without refs/heads/ or refs/tags/, so this pattern only matches a name that itself starts with refs/`,
		`wf.yml:6:9: on.push.paths[0]: path pattern "/docs/**": changed paths never start with '/', so this pattern never matches; remove the leading '/'`,
		`wf.yml:8:15: on.pull_request.branches: empty list never matches`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("warnings:\n got  %q\n want %q", got, want)
	}
}

// yaml.v3 reads the plain key on as the string "on", not a boolean as YAML 1.1 would.
func TestOnKeyIsAString(t *testing.T) {
	for _, src := range []string{"on: push\n", "\"on\": push\n", "on:\n  push: {}\n"} {
		w := mustParse(t, src)
		if _, ok := w.Filters("push"); !ok {
			t.Errorf("%q: push not found", src)
		}
	}
	if _, err := ParseWorkflow("wf.yml", []byte("true: push\n")); err == nil {
		t.Error("a true: key must not be read as on:")
	}
}
