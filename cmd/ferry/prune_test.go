package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ferry-ci/ferry/internal/testenv"
	"github.com/ferry-ci/ferry/pipeline"
	"github.com/ferry-ci/ferry/pipeline/ocistore"
)

func TestParseAge(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		err  string
	}{
		{"30d", 30 * 24 * time.Hour, ""},
		{"72h", 72 * time.Hour, ""},
		{"90m", 90 * time.Minute, ""},
		{"1h30m", 90 * time.Minute, ""},
		{"", 0, "--older-than is required"},
		{"30", 0, `--older-than "30": expected a positive age such as 30d or 72h`},
		{"30x", 0, `--older-than "30x"`},
		{"d", 0, `--older-than "d"`},
		{"-5d", 0, `--older-than "-5d"`},
		{"0d", 0, `--older-than "0d"`},
		{"-1h", 0, `--older-than "-1h"`},
		{"1.5d", 0, `--older-than "1.5d"`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseAge(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("parseAge(%q) = %v, %v; want error %q", tt.in, got, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("parseAge(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

// pruneRuns are three runs: 40 days, 10 days and 1 hour old.
func pruneRuns(t *testing.T, store pipeline.Store) []string {
	t.Helper()
	now := time.Now()
	var ids []string
	for _, age := range []time.Duration{40 * 24 * time.Hour, 10 * 24 * time.Hour, time.Hour} {
		created := now.Add(-age)
		id := pipeline.NewRunID(created)
		plan := &pipeline.Plan{Reason: "test", Services: []pipeline.ServicePlan{
			{Name: "delivery", Pipeline: "feature", Stages: []pipeline.StageID{"build"}}}}
		run := pipeline.NewRun(id, created, plan, "sha256:config", pipeline.RunOptions{})
		if err := store.Create(t.Context(), run); err != nil {
			t.Fatal(err)
		}
		if err := store.Append(t.Context(), id, pipeline.Record{Time: created, Stage: &pipeline.StageRecord{
			Service: "delivery", State: pipeline.StageState{ID: "build", Status: pipeline.Succeeded}}}); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

func listedRuns(t *testing.T, repo string, env map[string]string, state ...string) []string {
	t.Helper()
	r := runFerry(t, repo, env, "", append([]string{"runs", "-o", "json"}, state...)...)
	if r.code != 0 {
		t.Fatalf("ferry runs: exit %d: %s", r.code, r.stderr)
	}
	var runs []struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &runs); err != nil {
		t.Fatalf("ferry runs -o json: %v\n%s", err, r.stdout)
	}
	var ids []string
	for _, run := range runs {
		ids = append(ids, run.ID)
	}
	slices.Sort(ids)
	return ids
}

func TestRunsPrune(t *testing.T) {
	stores := []struct {
		name string
		open func(t *testing.T, repo string) (pipeline.Store, []string)
	}{
		{"local", func(t *testing.T, repo string) (pipeline.Store, []string) {
			s, err := pipeline.NewLocalStore(filepath.Join(repo, ".ferry"))
			if err != nil {
				t.Fatal(err)
			}
			return s, nil
		}},
		{"oci", func(t *testing.T, repo string) (pipeline.Store, []string) {
			ref := "oci://" + testenv.Registry(t) + "/ferry/runs"
			s, err := ocistore.New(t.Context(), ref, ocistore.Options{CacheDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			return s, []string{"--state", ref}
		}},
	}
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			repo := exampleRepo(t)
			env := map[string]string{"FERRY_CACHE_DIR": t.TempDir()}
			store, state := st.open(t, repo)
			ids := pruneRuns(t, store)
			prune := func(args ...string) result {
				return runFerry(t, repo, env, "", append(append([]string{"runs", "prune"}, args...), state...)...)
			}

			for _, bad := range []struct{ args []string }{{nil}, {[]string{"--older-than", "thirty"}}, {[]string{"--older-than", "-30d"}}} {
				r := prune(bad.args...)
				if r.code != exitUsage || !strings.Contains(r.stderr, "--older-than") {
					t.Errorf("prune %q: exit %d, %q; want exit 2 naming --older-than", bad.args, r.code, r.stderr)
				}
			}

			r := prune("--older-than", "30d", "--dry-run")
			if r.code != 0 || !strings.Contains(r.stdout, "would delete "+ids[0]) || strings.Contains(r.stdout, ids[1]) ||
				!strings.Contains(r.stdout, "would delete 1 of 3 runs older than 30d") {
				t.Fatalf("dry run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
			if got := listedRuns(t, repo, env, state...); !slices.Equal(got, ids) {
				t.Fatalf("after the dry run: runs %q, want %q", got, ids)
			}

			r = prune("--older-than", "30d")
			if r.code != 0 || !strings.Contains(r.stdout, "deleted "+ids[0]) {
				t.Fatalf("prune 30d: exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
			if got := listedRuns(t, repo, env, state...); !slices.Equal(got, ids[1:]) {
				t.Errorf("after prune 30d: runs %q, want %q", got, ids[1:])
			}
			if _, err := store.Load(context.WithoutCancel(t.Context()), ids[0]); err == nil {
				t.Errorf("pruned run %s still loads", ids[0])
			}

			r = prune("--older-than", "72h", "-o", "json")
			var out []struct {
				ID string `json:"id"`
			}
			if r.code != 0 || json.Unmarshal([]byte(r.stdout), &out) != nil || len(out) != 1 || out[0].ID != ids[1] {
				t.Fatalf("prune 72h -o json: exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
			if got := listedRuns(t, repo, env, state...); !slices.Equal(got, ids[2:]) {
				t.Errorf("after prune 72h: runs %q, want %q", got, ids[2:])
			}
		})
	}
}
