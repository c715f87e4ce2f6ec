package cigen

import (
	"flag"
	"path/filepath"
	"strings"
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

// TestConfigElsewhere: a config in a folder, under another name, is found by every command:
// the jobs run in its folder and pass --config after the command (it is the command's flag).
func TestConfigElsewhere(t *testing.T) {
	tc := lintConfigs[1]
	cfg := parseConfig(t, tc.text)
	gh, _, err := GitHub(cfg, tc.o)
	if err != nil {
		t.Fatal(err)
	}
	az, _, err := Azure(cfg, tc.o)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		file string
		data []byte
		want []string
	}{
		{"github", gh, []string{"working-directory: deploy", "--config ferry.ci.yaml", "ferry ci generate github --config deploy/ferry.ci.yaml --ferry-ref 0123456789abcdef0123456789abcdef01234567 -o <this file>"}},
		{"azure", az, []string{"workingDirectory: deploy", "- bash: ferry plan --config ferry.ci.yaml\n", `ferry run --config ferry.ci.yaml "${args[@]}"`,
			"ferry runs --config ferry.ci.yaml -o json", `ferry resume --config ferry.ci.yaml "$run" --stop-before-env staging`,
			"value: 0123456789abcdef0123456789abcdef01234567\n"}},
	}
	for _, c := range checks {
		for _, w := range c.want {
			if !strings.Contains(string(c.data), w) {
				t.Errorf("%s: no %q in\n%s", c.file, w, c.data)
			}
		}
	}
}
