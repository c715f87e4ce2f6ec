package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/ferry-ci/ferry/triggers/compat"
)

func (a *app) triggersCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "triggers",
		Short: "Work with the trigger rules of Azure Pipelines and GitHub Actions",
	}
	cmd.AddCommand(a.triggersEvalCommand())
	return cmd
}

func (a *app) triggersEvalCommand() *cobra.Command {
	var (
		azureFile, githubFile string
		event, ref            string
		changed               []string
		changedFrom           string
		output                string
		disableImplied        bool
	)
	cmd := &cobra.Command{
		Use:   "eval (--azure FILE | --github FILE) --event EVENT --ref REF",
		Short: "Say whether an existing Azure Pipelines or GitHub Actions file would run for an event",
		Long: `eval reads the trigger:/pr: sections of an azure-pipelines.yml, or the on: section of a
GitHub Actions workflow, and evaluates them for one event with the vendor's own rules. Use it
to check that a pipeline migrated to Ferry triggers exactly when the original did.

--ref is the pushed ref for push events and the target (base) branch for pr,
pull_request and pull_request_target events, as both vendors evaluate it. pr means Azure's pr
trigger or GitHub's pull_request. It prints {"triggered": true|false, "reason": "..."} and
exits 0 either way; it exits non-zero only when the file or a filter is invalid.`,
		Example: `  ferry triggers eval --azure azure-pipelines.yml --event push --ref refs/heads/main --changed src/app.go
  git diff --name-only HEAD~1 | ferry triggers eval --github .github/workflows/ci.yml --event pr --ref main --changed-from -`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := oneOfFlag("output", output, []string{"json", "text"}); err != nil {
				return err
			}
			req := compat.Request{Event: event, Ref: ref, DisableImpliedCITrigger: disableImplied}
			switch {
			case azureFile != "" && githubFile != "":
				return usageError("pass one of --azure and --github, not both")
			case azureFile != "":
				req.Dialect, req.File = "azure", azureFile
			case githubFile != "":
				req.Dialect, req.File = "github", githubFile
			default:
				return usageError("pass --azure FILE or --github FILE")
			}
			if event == "" || ref == "" {
				return usageError("--event and --ref are required")
			}
			data, err := os.ReadFile(req.File)
			if err != nil {
				return usageError("%v", err)
			}
			req.Data = data
			switch {
			case len(changed) > 0 && changedFrom != "":
				return usageError("--changed and --changed-from cannot be combined")
			case changedFrom != "":
				if req.Paths, err = a.readPathList(changedFrom); err != nil {
					return usageError("--changed-from %s: %v", changedFrom, err)
				}
			default:
				req.Paths = changed
			}
			res, err := compat.Evaluate(req)
			if reqErr := (*compat.RequestError)(nil); errors.As(err, &reqErr) {
				return usageError("--event: %v", reqErr)
			}
			if err != nil {
				return withCode(exitFailed, err)
			}
			for _, w := range res.Warnings {
				fmt.Fprintf(a.Err, "warning: %s\n", w)
			}
			if output == "text" {
				_, err = fmt.Fprintf(a.Out, "triggered: %v\nreason: %s\n", res.Triggered, res.Reason)
				return err
			}
			enc := json.NewEncoder(a.Out)
			enc.SetEscapeHTML(false)
			return enc.Encode(res)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&azureFile, "azure", "", "an Azure Pipelines YAML file")
	fs.StringVar(&githubFile, "github", "", "a GitHub Actions workflow file")
	fs.StringVar(&event, "event", "", "push, pr, pull_request or pull_request_target")
	fs.StringVar(&ref, "ref", "", "pushed ref (push) or target branch (pull requests)")
	fs.StringArrayVar(&changed, "changed", nil, "a changed path (repeatable)")
	fs.StringVar(&changedFrom, "changed-from", "", "file with one changed path per line (or NUL-separated), - for stdin")
	fs.StringVarP(&output, "output", "o", "json", "json or text")
	fs.BoolVar(&disableImplied, "disable-implied-ci-trigger", false, "Azure's \"Disable implied YAML CI trigger\" setting")
	return cmd
}
