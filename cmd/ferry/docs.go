package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/renameio/v2"
	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
	"github.com/spf13/pflag"

	"github.com/ferry-ci/ferry/pipeline/config"
)

func (a *app) docsCommand() *cobra.Command {
	dir := "docs"
	cmd := &cobra.Command{
		Use:   "docs [--dir DIR]",
		Short: "Write the CLI and ferry.yaml references (CLI.md, CONFIG.md)",
		Long: `docs writes DIR/CLI.md, every command with its flags (cobra's Markdown generator over
this binary's commands), and DIR/CONFIG.md, every ferry.yaml key with its type, default and
description (from the config model). Ferry's own repository keeps both in docs/ (make docs);
tests fail when they are stale.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cli, err := cliReference(cmd.Root())
			if err != nil {
				return err
			}
			cfg, err := config.ReferenceMarkdown()
			if err != nil {
				return err
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return usageError("--dir: %v", err)
			}
			for name, data := range map[string][]byte{"CLI.md": cli, "CONFIG.md": cfg} {
				path := filepath.Join(dir, name)
				if err := renameio.WriteFile(path, data, 0o644); err != nil {
					return fmt.Errorf("write %s: %w", path, err)
				}
				fmt.Fprintln(a.Out, "wrote", path)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", dir, "folder the references are written to")
	return cmd
}

// docsDefault is the flag annotation that says, for the references, what a default depends
// on (the number of CPUs) instead of the value it has on the machine writing them.
const docsDefault = "ferry/docs-default"

// cliReference is docs/CLI.md: cobra's Markdown page of every available command, depth
// first, in one file whose links point at the headings.
func cliReference(root *cobra.Command) ([]byte, error) {
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	root.DisableAutoGenTag = true
	var b bytes.Buffer
	b.WriteString("# Ferry CLI reference\n\n<!-- Generated from the commands by `make docs` (ferry docs); do not edit. -->\n\n")
	var toc, pages bytes.Buffer
	anchor := func(name string) string {
		// cobra links to ferry_runs_prune.md; the heading "ferry runs prune" is #ferry-runs-prune.
		return "#" + strings.ReplaceAll(strings.TrimSuffix(name, ".md"), "_", "-")
	}
	var walk func(c *cobra.Command, depth int) error
	walk = func(c *cobra.Command, depth int) error {
		if !c.IsAvailableCommand() && c != root {
			return nil
		}
		fmt.Fprintf(&toc, "%s- [%s](%s)\n", strings.Repeat("  ", depth), c.CommandPath(), anchor(strings.ReplaceAll(c.CommandPath(), " ", "_")))
		for _, fs := range []*pflag.FlagSet{c.LocalFlags(), c.InheritedFlags()} {
			fs.VisitAll(func(f *pflag.Flag) {
				if d := f.Annotations[docsDefault]; len(d) > 0 {
					f.DefValue = d[0]
				}
			})
		}
		var page bytes.Buffer
		if err := doc.GenMarkdownCustom(c, &page, anchor); err != nil {
			return fmt.Errorf("cli reference: %s: %w", c.CommandPath(), err)
		}
		pages.Write(page.Bytes())
		pages.WriteString("\n")
		for _, sub := range c.Commands() {
			if err := walk(sub, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(root, 0); err != nil {
		return nil, err
	}
	b.Write(toc.Bytes())
	b.WriteString("\n")
	b.Write(bytes.TrimRight(pages.Bytes(), "\n"))
	b.WriteString("\n")
	return b.Bytes(), nil
}
