package ocistore

import (
	"encoding/json"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/ferry-ci/ferry/internal/testenv"
	"github.com/ferry-ci/ferry/pipeline"
)

// registries are the registries the store is tested against: distribution, the real thing, and
// go-containerregistry's in-memory registry, which runs everywhere but is more lenient.
var registries = []struct {
	name string
	ref  func(t *testing.T) string
}{
	{"distribution", registryRef},
	{"in-memory", memoryRef},
}

// memoryRef starts go-containerregistry's in-memory registry.
func memoryRef(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	return "oci://" + strings.TrimPrefix(srv.URL, "http://") + "/ferry/runs"
}

// registryRef starts a real registry (distribution) and returns a state reference in it.
func registryRef(t *testing.T) string {
	t.Helper()
	return "oci://" + testenv.Registry(t) + "/ferry/runs"
}

// newStore opens a store with its own working copy: one per simulated machine.
func newStore(t *testing.T, ref string) *Store {
	t.Helper()
	s, err := New(t.Context(), ref, Options{CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var created = time.Date(2026, 11, 25, 18, 5, 12, 0, time.UTC)

// newRun is a run of one service with two stages.
func newRun(id string) *pipeline.Run {
	plan := &pipeline.Plan{Reason: "test", Services: []pipeline.ServicePlan{
		{Name: "api", Pipeline: "feature", Stages: []pipeline.StageID{"build", "test"}},
	}}
	return pipeline.NewRun(id, created, plan, "sha256:config", pipeline.RunOptions{})
}

func stageRec(status pipeline.Status, id pipeline.StageID, log string) pipeline.Record {
	return pipeline.Record{Time: created, Stage: &pipeline.StageRecord{Service: "api", State: pipeline.StageState{
		ID: id, Status: status, Started: created, Log: log,
	}}}
}

func approval(by string) pipeline.Record {
	return pipeline.Record{Time: created, Approval: &pipeline.Approval{Env: "prod", By: by, At: created}}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func approvers(r *pipeline.Run) []string {
	var out []string
	for _, a := range r.Approvals {
		out = append(out, a.By)
	}
	return out
}
