package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestValidateReleaseShape makes validate report a release trigger whose branches can never
// be a release branch, at the filter's line and column, instead of a plan that fails later.
func TestValidateReleaseShape(t *testing.T) {
	repo := exampleRepo(t)
	cfgPath := filepath.Join(repo, "ferry.yaml")
	data, _ := os.ReadFile(cfgPath)
	text := strings.Replace(string(data), "release: {branches: {include: ['release/*']}", "release: {branches: {include: ['releases/*']}", 1)
	os.WriteFile(cfgPath, []byte(text), 0o644)
	r := runFerry(t, repo, nil, "", "validate")
	want := "ferry.yaml:55:23: triggers.release.branches: a release trigger, but no branch it includes is a release branch release/<service>/<semver> (releaseBranch) (include: releases/*)\n"
	if r.code != 1 || r.stdout != want {
		t.Errorf("validate: exit %d\n got %q\nwant %q", r.code, r.stdout, want)
	}
	// With the shape the filter means, the config is valid.
	os.WriteFile(cfgPath, []byte("releaseBranch: 'releases/{service}/{version}'\n"+text), 0o644)
	if r := runFerry(t, repo, nil, "", "validate"); r.code != 0 {
		t.Errorf("validate with releaseBranch: exit %d %s%s", r.code, r.stdout, r.stderr)
	}
	if r := runFerry(t, repo, nil, "", "plan", "--ref", "releases/delivery/v1.0.3", "--changed", "README.md"); r.code != 0 || !strings.Contains(r.stdout, "1.0.3") {
		t.Errorf("plan: exit %d %s%s", r.code, r.stdout, r.stderr)
	}
}

// TestPlanReleaseTag plans the push of the tag delivery/v1.2.3 with releaseTag set.
func TestPlanReleaseTag(t *testing.T) {
	repo := exampleRepo(t)
	cfgPath := filepath.Join(repo, "ferry.yaml")
	data, _ := os.ReadFile(cfgPath)
	text := strings.Replace(string(data), "release: {branches: {include: ['release/*']}", "release: {branches: {include: ['release/*']}, tags: {include: ['*/v*']}", 1)
	os.WriteFile(cfgPath, []byte("releaseTag: '{service}/v{version}'\n"+text), 0o644)
	r := runFerry(t, repo, nil, "", "plan", "--ref", "refs/tags/delivery/v1.2.3", "--changed", "README.md", "-o", "json")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{`"trigger": "release"`, `"name": "delivery"`, `"version": "1.2.3"`, `"release tag delivery/v1.2.3: version 1.2.3"`} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("plan lacks %s:\n%s", want, r.stdout)
		}
	}
}
