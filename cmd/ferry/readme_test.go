package main

import (
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"mvdan.cc/sh/v3/syntax"

	"github.com/ferry-ci/ferry/pipeline/mask"
)

// Every command the README shows is exercised here. Each `ferry ...` command of README.md's
// sh code blocks must parse with the real command tree (unknown subcommands, flags, missing
// arguments fail), and then either
//   - run here (readmeRuns): hermetic commands, run in a copy of examples/shipping in a temporary
//     git repository (the one exampleRepo makes, on feature/tracking), checked by exit code; or
//   - be mapped (readmeCoveredBy) to the tests that run it for real, because it needs a
//     registry, a cluster, a run id or a remote: those tests must exist.
//
// A README command in neither table fails the test. Every `make` target the README names, in
// code blocks or inline, must be a target of the Makefile.

// readmeRuns are the README commands run here, with their exit code.
var readmeRuns = map[string]int{
	"ferry validate": 0,
	"ferry plan --changed src/shipping/common/common.go --explain": 0,
	"ferry plan --ref release/delivery/v1.0.2":                     0,
	"ferry run --service delivery --stage test":                    0,
	"ferry run --dry-run":                                          0,
	"ferry runs":                                                   0,
	"ferry ci generate github":                                     0,
	"ferry plan":                                                   0,
	"ferry plan --event pr --base main -o json":                    0,
	"ferry plan --changed go.mod --explain":                        0,
	"ferry plan --ref feature/x --changed-from -":                  0, // stdin: git diff --name-only main...
	"ferry runs prune --older-than 30d --dry-run":                  0,
	"ferry triggers eval --azure azure-pipelines.yml --event push --ref refs/heads/main --changed src/app.go": 0,
	"ferry triggers eval --github .github/workflows/ci.yml --event pr --ref main --changed-from changed.txt":  0,
	"ferry ci generate github -o .github/workflows/ferry.yml":                                                 0,
	"ferry ci generate azure -o azure-pipelines.yml --check":                                                  0,
	"ferry docs --dir docs":       0,
	"ferry release list delivery": 0, // the example's registry is not running: reported, tags left out
	"ferry run":                   0,
}

// readmeCoveredBy maps README commands (by prefix) that need a registry, a cluster, an
// existing run or a git remote to the tests, in cmd/ferry, that run them against real ones.
var readmeCoveredBy = []struct {
	prefix string
	tests  []string
}{
	{"ferry run --ref release/delivery/v1.0.2 --until deploy:qa", []string{"TestExampleReleaseThroughQA"}},
	{"ferry status RUN", []string{"TestExamplePullRequestPipeline", "TestApprovalPolicy"}},
	{"ferry logs RUN", []string{"TestExampleReleaseThroughQA", "TestCrashAtEveryStageBoundary"}},
	{"ferry resume RUN", []string{"TestCrashAtEveryStageBoundary", "TestReleaseHoldBeforeEnvironment"}},
	{"ferry cancel RUN", []string{"TestCancelWhileAStageRuns"}},
	{"ferry approve RUN", []string{"TestSignedApprovals", "TestReleaseApprovalAcrossMachines"}},
	{"ferry history delivery", []string{"TestExampleReleaseThroughQA"}},
	{"ferry rollback delivery", []string{"TestExampleReleaseThroughQA"}},
	{"ferry verify ", []string{"TestVerifyCommand", "TestReleaseApprovalAcrossMachines"}},
	{"ferry release cut delivery --bump auto", []string{"TestReleaseCutBumpAuto", "TestReleaseCutPushOverHTTPAsAProcess"}},
	{"ferry release cut delivery --bump minor --pre rc", []string{"TestReleaseCutPushAndPreReleases"}},
	{"ferry release cut delivery --version", []string{"TestReleaseCutJSONGolden", "TestReleaseCutRefusals"}},
}

// readmeCommand is one ferry command of the README, with the command piped into it.
type readmeCommand struct {
	text  string
	args  []string
	stdin string // a shell command whose output is the standard input
}

func TestReadmeCommands(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(testdata, "../../../README.md"))
	if err != nil {
		t.Fatal(err)
	}
	cmds, makes := readmeShellCommands(t, readme)
	if len(cmds) < 20 {
		t.Fatalf("found only %d ferry commands in README.md", len(cmds))
	}
	tests := testFunctions(t, ".")
	for text := range readmeRuns {
		if !slices.ContainsFunc(cmds, func(c readmeCommand) bool { return c.text == text }) {
			t.Errorf("readmeRuns lists %q, which README.md no longer shows", text)
		}
	}
	for _, c := range cmds {
		t.Run(c.text, func(t *testing.T) {
			if err := parseCommandLine(c.args[1:]); err != nil {
				t.Fatalf("%s: %v", c.text, err)
			}
			if code, ok := readmeRuns[c.text]; ok {
				runReadmeCommand(t, c, code)
				return
			}
			for _, cov := range readmeCoveredBy {
				if strings.HasPrefix(c.text, cov.prefix) {
					for _, name := range cov.tests {
						if !tests[name] {
							t.Errorf("%s is mapped to %s, which does not exist in cmd/ferry", c.text, name)
						}
					}
					return
				}
			}
			t.Errorf("README command %q is exercised by no test: add it to readmeRuns or readmeCoveredBy", c.text)
		})
	}
	t.Run("make targets", func(t *testing.T) {
		targets := makefileTargets(t)
		inline := regexp.MustCompile("`make ([^`]+)`").FindAllStringSubmatch(string(readme), -1)
		for _, m := range inline {
			makes = append(makes, strings.Fields(m[1]))
		}
		if len(makes) < 5 {
			t.Fatalf("found only %d make commands in README.md", len(makes))
		}
		for _, args := range makes {
			for _, a := range args {
				if strings.Contains(a, "=") || strings.HasPrefix(a, "-") {
					continue
				}
				if !targets[a] {
					t.Errorf("README runs make %s: the Makefile has no target %q", strings.Join(args, " "), a)
				}
			}
		}
	})
}

// readmeShellCommands returns the ferry commands and the make arguments of README's sh blocks.
func readmeShellCommands(t *testing.T, readme []byte) ([]readmeCommand, [][]string) {
	t.Helper()
	var cmds []readmeCommand
	var makes [][]string
	blocks := regexp.MustCompile("(?ms)^```sh\n(.*?)^```").FindAllSubmatch(readme, -1)
	printer := syntax.NewPrinter()
	print := func(n syntax.Node) string {
		var b bytes.Buffer
		if err := printer.Print(&b, n); err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(b.String())
	}
	for _, block := range blocks {
		file, err := syntax.NewParser().Parse(bytes.NewReader(block[1]), "README.md")
		if err != nil {
			t.Fatalf("README.md sh block: %v\n%s", err, block[1])
		}
		syntax.Walk(file, func(n syntax.Node) bool {
			var call *syntax.CallExpr
			stdin := ""
			switch x := n.(type) {
			case *syntax.BinaryCmd:
				if c, ok := x.Y.Cmd.(*syntax.CallExpr); ok && x.Op == syntax.Pipe && len(c.Args) > 0 && c.Args[0].Lit() == "ferry" {
					call, stdin = c, print(x.X)
				} else {
					return true
				}
			case *syntax.CallExpr:
				call = x
			default:
				return true
			}
			var args []string
			for _, w := range call.Args {
				if w.Lit() == "" {
					t.Fatalf("README command %q: %q is not a plain word", print(call), print(w))
				}
				args = append(args, w.Lit())
			}
			switch {
			case len(args) == 0:
			case args[0] == "ferry":
				cmds = append(cmds, readmeCommand{text: strings.Join(args, " "), args: args, stdin: stdin})
			case args[0] == "make":
				makes = append(makes, args[1:])
			}
			return false
		})
	}
	return cmds, makes
}

// parseCommandLine checks a command line against the real command tree, as Execute would
// before running it: the command exists, its flags parse, its arguments and required flags
// are there.
func parseCommandLine(args []string) error {
	a := &app{Streams: Streams{In: strings.NewReader(""), Out: &bytes.Buffer{}, Err: &bytes.Buffer{}},
		masker: mask.New(), env: func(string) string { return "" }, getwd: os.Getwd}
	root := a.rootCommand()
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	cmd, rest, err := root.Find(args)
	if err != nil {
		return err
	}
	cmd.InitDefaultHelpFlag()
	if err := cmd.ParseFlags(rest); err != nil {
		return err
	}
	if help, _ := cmd.Flags().GetBool("help"); help {
		return nil
	}
	if !cmd.Runnable() {
		return &usage{cmd}
	}
	if err := cmd.ValidateArgs(cmd.Flags().Args()); err != nil {
		return err
	}
	if err := cmd.ValidateRequiredFlags(); err != nil {
		return err
	}
	return cmd.ValidateFlagGroups()
}

type usage struct{ cmd *cobra.Command }

func (u *usage) Error() string { return u.cmd.CommandPath() + " runs nothing by itself" }

// runReadmeCommand runs a hermetic README command in a fresh copy of the example.
func runReadmeCommand(t *testing.T, c readmeCommand, want int) {
	repo := exampleRepo(t)
	ferry := func(args ...string) {
		t.Helper()
		if r := runFerry(t, repo, nil, "", args...); r.code != 0 {
			t.Fatalf("ferry %v: exit %d\n%s%s", args, r.code, r.stdout, r.stderr)
		}
	}
	// The files the README's commands read: the CI files generate writes, a changed-paths list
	// and a GitHub workflow with an on: section.
	ferry("ci", "generate", "azure", "-o", "azure-pipelines.yml")
	os.MkdirAll(filepath.Join(repo, ".github", "workflows"), 0o755)
	os.WriteFile(filepath.Join(repo, ".github", "workflows", "ci.yml"), []byte("on:\n  pull_request:\n    branches: [main]\n"), 0o644)
	os.WriteFile(filepath.Join(repo, "changed.txt"), []byte("src/app.go\n"), 0o644)
	stdin := ""
	if c.stdin != "" {
		sh := exec.Command("sh", "-c", c.stdin)
		sh.Dir = repo
		out, err := sh.Output()
		if err != nil {
			t.Fatalf("%s: %v", c.stdin, err)
		}
		stdin = string(out)
	}
	r := runFerry(t, repo, nil, stdin, c.args[1:]...)
	if r.code != want {
		t.Errorf("%s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", c.text, r.code, want, r.stdout, r.stderr)
	}
}

// testFunctions returns the names of the Test functions of the package in dir.
func testFunctions(t *testing.T, dir string) map[string]bool {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*_test.go"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	fset := token.NewFileSet()
	for _, f := range files {
		file, err := parser.ParseFile(fset, f, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range file.Decls {
			if fn, ok := d.(*ast.FuncDecl); ok && fn.Recv == nil && strings.HasPrefix(fn.Name.Name, "Test") {
				out[fn.Name.Name] = true
			}
		}
	}
	return out
}

// makefileTargets returns the targets the Makefile defines.
func makefileTargets(t *testing.T) map[string]bool {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(testdata, "../../../Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^([A-Za-z0-9_.-]+(?: [A-Za-z0-9_.-]+)*):(?:[^=]|$)`).FindAllStringSubmatch(string(data), -1) {
		for _, name := range strings.Fields(m[1]) {
			if !slices.Contains([]string{".PHONY"}, name) {
				out[name] = true
			}
		}
	}
	return out
}

// TestParseCommandLine checks that the README check refuses what ferry would refuse.
func TestParseCommandLine(t *testing.T) {
	cases := []struct {
		args []string
		ok   bool
	}{
		{[]string{"plan", "--ref", "main", "-o", "json"}, true},
		{[]string{"--help"}, true},
		{[]string{"runs", "prune", "--older-than", "30d"}, true},
		{[]string{"plan", "--nope"}, false},
		{[]string{"plna"}, false},
		{[]string{"runs", "prnue"}, false},
		{[]string{"status"}, false},
		{[]string{"ci"}, false},
	}
	for _, tc := range cases {
		if err := parseCommandLine(tc.args); (err == nil) != tc.ok {
			t.Errorf("ferry %s: got %v, want ok=%v", strings.Join(tc.args, " "), err, tc.ok)
		}
	}
}
