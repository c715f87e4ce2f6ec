package cigen

import (
	"flag"
	"path/filepath"
	"testing"

	"github.com/ferry-ci/ferry/internal/golden"
	"github.com/ferry-ci/ferry/pipeline/config"
)

var update = flag.Bool("update", false, "rewrite the generated files in testdata")

// exampleConfig is the bundled example's ferry.yaml.
func exampleConfig(t testing.TB) *config.Config {
	t.Helper()
	cfg, err := config.Load(filepath.Join("..", "..", "examples", "shipping", "ferry.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// exampleOptions place the example where it is in this repository.
var exampleOptions = Options{ConfigPath: "examples/shipping/ferry.yaml", GoVersionFile: "examples/shipping/go.mod"}

func TestGitHubGolden(t *testing.T) {
	data, _, err := GitHub(exampleConfig(t), exampleOptions)
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, filepath.Join("testdata", "shipping-github.yml"), data, *update)
}

func TestAzureGolden(t *testing.T) {
	data, _, err := Azure(exampleConfig(t), exampleOptions)
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, filepath.Join("testdata", "shipping-azure-pipelines.yml"), data, *update)
}
