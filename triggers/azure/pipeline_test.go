package azure

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

// Each testdata/err/NAME.yml is a broken pipeline; NAME.out beside it holds the exact errors.
func TestParsePipelineErrors(t *testing.T) {
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
			_, perr := ParsePipeline(file, data)
			if perr == nil {
				t.Fatalf("ParsePipeline(%s) succeeded, want errors", file)
			}
			got := filepath.ToSlash(perr.Error()) + "\n"
			goldenfile.Check(t, strings.TrimSuffix(file, ".yml")+".out", []byte(got), *update)
		})
	}
}

func mustParse(t testing.TB, src string) *Pipeline {
	t.Helper()
	p, err := ParsePipeline("azure-pipelines.yml", []byte(src))
	if err != nil {
		t.Fatalf("ParsePipeline:\n%s\nerror: %v", src, err)
	}
	return p
}

func TestParsePipelineForms(t *testing.T) {
	t.Run("absent", func(t *testing.T) {
		p := mustParse(t, "steps:\n  - script: echo hi\n")
		if p.Trigger != nil || p.PR != nil {
			t.Errorf("Trigger=%+v PR=%+v, want both nil", p.Trigger, p.PR)
		}
	})
	t.Run("empty_file", func(t *testing.T) {
		p := mustParse(t, "")
		if p.Trigger != nil || p.PR != nil || p.File != "azure-pipelines.yml" {
			t.Errorf("got %+v", p)
		}
	})
	t.Run("none", func(t *testing.T) {
		p := mustParse(t, "trigger: none\npr: none\n")
		if !p.Trigger.None || !p.PR.None {
			t.Errorf("Trigger=%+v PR=%+v", p.Trigger, p.PR)
		}
	})
	t.Run("list", func(t *testing.T) {
		p := mustParse(t, "trigger:\n- main\n- releases/*\npr: [main]\n")
		if !slices.Equal(p.Trigger.Branches.Includes(), []string{"main", "releases/*"}) || p.Trigger.BranchesImplied {
			t.Errorf("trigger branches = %q", p.Trigger.Branches.Includes())
		}
		if !slices.Equal(p.PR.Branches.Includes(), []string{"main"}) || !p.PR.AutoCancel || !p.PR.Drafts {
			t.Errorf("pr = %+v", p.PR)
		}
	})
	t.Run("mapping", func(t *testing.T) {
		p := mustParse(t, `trigger:
  batch: true
  branches:
    include: [main]
    exclude: [wip/*]
  tags:
    include: ['v*']
  paths:
    include: [src]
    exclude: [src/docs]
pr:
  autoCancel: false
  drafts: false
  branches:
    exclude: [legacy]
  paths:
    exclude: [docs]
`)
		tr := p.Trigger
		if !tr.Batch || tr.Branches == nil || tr.Tags == nil || tr.Paths == nil || tr.BranchesImplied {
			t.Errorf("trigger = %+v", tr)
		}
		if !slices.Equal(tr.Branches.Excludes(), []string{"wip/*"}) || len(tr.Paths.Includes()) != 1 || len(tr.Paths.Excludes()) != 1 {
			t.Errorf("trigger lists = %+v", tr)
		}
		pr := p.PR
		if pr.AutoCancel || pr.Drafts || pr.Branches.Includes() != nil || pr.Paths == nil {
			t.Errorf("pr = %+v", pr)
		}
	})
	t.Run("tags_only_includes_no_branch", func(t *testing.T) {
		p := mustParse(t, "trigger:\n  tags:\n    include: ['v*']\n")
		if p.Trigger.Branches != nil || p.Trigger.BranchesImplied {
			t.Errorf("Branches = %+v, want nil", p.Trigger.Branches)
		}
	})
	t.Run("batch_only_includes_all_branches", func(t *testing.T) {
		p := mustParse(t, "trigger:\n  batch: true\n")
		if p.Trigger.Branches == nil || !p.Trigger.BranchesImplied {
			t.Errorf("Branches = %+v, want implied '*'", p.Trigger.Branches)
		}
	})
	t.Run("single_string_list", func(t *testing.T) {
		p := mustParse(t, "trigger:\n  branches:\n    include: main\n")
		if !slices.Equal(p.Trigger.Branches.Includes(), []string{"main"}) {
			t.Errorf("Includes = %q", p.Trigger.Branches.Includes())
		}
	})
	t.Run("anchors", func(t *testing.T) {
		p := mustParse(t, "variables:\n  b: &b [main]\ntrigger:\n  branches:\n    include: *b\n")
		if !slices.Equal(p.Trigger.Branches.Includes(), []string{"main"}) {
			t.Errorf("Includes = %q", p.Trigger.Branches.Includes())
		}
	})
	t.Run("repeated_other_keys_ignored", func(t *testing.T) {
		mustParse(t, "steps: []\ntrigger: none\nsteps: []\n")
	})
	t.Run("rest_of_file_ignored", func(t *testing.T) {
		mustParse(t, "resources:\n  repositories:\n    - repository: x\n      trigger: {weird: 1}\nextends:\n  template: t.yml\nstages: []\n")
	})
}

func TestParsePipelineWarnings(t *testing.T) {
	p := mustParse(t, `trigger:
  paths:
    include:
      - src/*.go
pr:
  branches:
    include:
      - '!main'
    exclude: []
`)
	var got []string
	for _, d := range p.Warnings() {
		got = append(got, d.String())
	}
	want := []string{
		`azure-pipelines.yml:4:9: trigger.paths.include[0]: "src/*.go": wildcards in path filters need Azure DevOps Server 2022 or later (or Services); Ferry reads '*' and '?' within one folder name and '**' across folders`,
		`azure-pipelines.yml:2:3: trigger.paths without trigger.branches: Ferry includes every branch, but older Azure DevOps Server versions never trigger such a pipeline; list the branches explicitly`,
		`azure-pipelines.yml:8:9: pr.branches.include[0]: "!main": Azure has no '!' negation, so this only matches a name starting with '!'; list it under exclude instead`,
		`azure-pipelines.yml:9:14: pr.branches.exclude: empty list`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("warnings:\n got  %q\n want %q", got, want)
	}
}
