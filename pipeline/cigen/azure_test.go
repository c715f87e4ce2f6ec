package cigen

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/ferry-ci/ferry/triggers/azure"
)

// azureFile is the part of an azure-pipelines.yml the checks below read.
type azureFile struct {
	Stages []struct {
		Stage     string `yaml:"stage"`
		DependsOn any    `yaml:"dependsOn"`
		Condition string `yaml:"condition"`
		Jobs      []struct {
			Job        string `yaml:"job"`
			Deployment string `yaml:"deployment"`
			DependsOn  any    `yaml:"dependsOn"`
			Condition  string `yaml:"condition"`
			Strategy   struct {
				Matrix string `yaml:"matrix"`
			} `yaml:"strategy"`
			Steps []map[string]any `yaml:"steps"`
		} `yaml:"jobs"`
	} `yaml:"stages"`
}

var (
	stageOutput = regexp.MustCompile(`dependencies\.(\w+)\.outputs\['(\w+)\.(\w+)\.\w+'\]`)
	jobOutput   = regexp.MustCompile(`dependencies\.(\w+)\.outputs\['(\w+)\.\w+'\]`)
)

// checkAzure is what a lint of an Azure Pipelines file would say, as far as Ferry's files
// go: the trigger sections parse with Azure's rules, stage and job names are unique, every
// dependsOn names an earlier one, and every output variable an expression reads comes from a
// named step of a job the reader depends on (in its stage for a job, through dependsOn for a
// stage), since Azure reads a wrong one as an empty string without an error.
func checkAzure(t *testing.T, data []byte) {
	t.Helper()
	if _, err := azure.ParsePipeline("azure-pipelines.yml", data); err != nil {
		t.Fatal(err)
	}
	var f azureFile
	if err := yaml.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	stages := map[string]map[string][]string{} // stage → job → step names
	var stageOrder []string
	for _, s := range f.Stages {
		if _, dup := stages[s.Stage]; dup || s.Stage == "" {
			t.Errorf("stage %q: empty or duplicate", s.Stage)
		}
		for _, d := range names(s.DependsOn) {
			if !slices.Contains(stageOrder, d) {
				t.Errorf("stage %s depends on %s, which is not an earlier stage", s.Stage, d)
			}
		}
		jobs := map[string][]string{}
		for _, j := range s.Jobs {
			name := j.Job + j.Deployment
			if _, dup := jobs[name]; dup || name == "" {
				t.Errorf("stage %s: job %q empty or duplicate", s.Stage, name)
			}
			for _, d := range names(j.DependsOn) {
				if _, ok := jobs[d]; !ok {
					t.Errorf("job %s depends on %s, which is not an earlier job of stage %s", name, d, s.Stage)
				}
			}
			for _, expr := range []string{j.Condition, j.Strategy.Matrix} {
				for _, m := range jobOutput.FindAllStringSubmatch(expr, -1) {
					if !slices.Contains(names(j.DependsOn), m[1]) || !slices.Contains(jobs[m[1]], m[2]) {
						t.Errorf("job %s reads %s: no step %s in a job %s it depends on", name, m[0], m[2], m[1])
					}
				}
			}
			var steps []string
			for _, st := range j.Steps {
				if n, ok := st["name"].(string); ok {
					steps = append(steps, n)
				}
			}
			jobs[name] = steps
		}
		for _, m := range stageOutput.FindAllStringSubmatch(s.Condition, -1) {
			if !slices.Contains(names(s.DependsOn), m[1]) || !slices.Contains(stages[m[1]][m[2]], m[3]) {
				t.Errorf("stage %s reads %s: no step %s in job %s of a stage %s it depends on", s.Stage, m[0], m[3], m[2], m[1])
			}
		}
		stages[s.Stage] = jobs
		stageOrder = append(stageOrder, s.Stage)
	}
}

func names(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, x := range v {
			out = append(out, x.(string))
		}
		return out
	}
	return nil
}

func TestAzureFilesHold(t *testing.T) {
	t.Run("example", func(t *testing.T) {
		data, _, err := Azure(exampleConfig(t), exampleOptions)
		if err != nil {
			t.Fatal(err)
		}
		checkAzure(t, data)
	})
	for _, tc := range lintConfigs {
		t.Run(tc.name, func(t *testing.T) {
			data, _, err := Azure(parseConfig(t, tc.text), tc.o)
			if err != nil {
				t.Fatal(err)
			}
			checkAzure(t, data)
		})
	}
	t.Run("examples/ci", func(t *testing.T) {
		data, err := os.ReadFile(filepath.Join("..", "..", "examples", "ci", "azure", "azure-pipelines.yml"))
		if err != nil {
			t.Fatal(err)
		}
		checkAzure(t, data)
	})
}

// TestExamplesRunTheShardField: the hand-written examples pass a matrix entry's services,
// which works for one service and for a shard alike, not its service, which names a shard.
func TestExamplesRunTheShardField(t *testing.T) {
	cases := []struct{ file, want, not string }{
		{"github/monorepo.yml", "services: ${{ matrix.services }}", "--service ${{ matrix.service }}"},
		{"azure/azure-pipelines.yml", "FERRY_SERVICES: $(services)", "$(service)"},
	}
	for _, tc := range cases {
		data, err := os.ReadFile(filepath.Join("..", "..", "examples", "ci", tc.file))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(data), tc.want) || strings.Contains(string(data), tc.not) {
			t.Errorf("%s: want %q and no %q", tc.file, tc.want, tc.not)
		}
	}
}
