package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/spf13/cobra"

	"github.com/ferry-ci/ferry/pipeline/config"
	"github.com/ferry-ci/ferry/pipeline/releases"
	"github.com/ferry-ci/ferry/pipeline/workspace"
	"github.com/ferry-ci/ferry/stages/chart"
	"github.com/ferry-ci/ferry/stages/push"
	"github.com/ferry-ci/ferry/triggers/changes"
)

func (a *app) releaseCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "release",
		Short: "Cut a service's release branch and list its releases",
	}
	cmd.AddCommand(a.releaseCutCommand(), a.releaseListCommand())
	return cmd
}

// registryFlags say how release commands ask the registry about tags.
type registryFlags struct {
	registry           string
	noCheck, plainHTTP bool
}

func (f *registryFlags) bind(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.registry, "registry", "", "registry instead of the config's (host[:port]/path)")
	cmd.Flags().BoolVar(&f.noCheck, "no-registry-check", false, "do not ask the registry about the version's image and chart tags")
	cmd.Flags().BoolVar(&f.plainHTTP, "plain-http", false, "talk plain HTTP to the registry (loopback registries always are)")
}

// registry is the registry client of the config's registry, nil with --no-registry-check.
func (a *app) registry(cfg *config.Config, f registryFlags) *releases.Registry {
	if f.registry != "" {
		cfg.Registry = f.registry
	}
	if f.noCheck || cfg.Registry == "" {
		return nil
	}
	r := &releases.Registry{Options: []remote.Option{remote.WithAuthFromKeychain(push.Keychain(a.env, credentialHosts(cfg)...)), remote.WithUserAgent("ferry")}}
	if f.plainHTTP {
		r.NameOptions = append(r.NameOptions, name.Insecure)
	}
	return r
}

func (a *app) releaseCutCommand() *cobra.Command {
	var (
		ws        workspaceFlags
		reg       registryFlags
		o         workspace.CutOptions
		bump, git string
		output    string
	)
	cmd := &cobra.Command{
		Use:   "cut SERVICE [--bump patch|minor|major|auto | --version vX.Y.Z] [--pre rc] [--from REF] [--push]",
		Short: "Create the next release branch of a service (and push it)",
		Long: `cut finds the service's latest release among its release branches and tags (the shapes of
releaseBranch and releaseTag in ferry.yaml; with --push the remote's too), computes the next
semantic version and creates the release branch (release/<service>/v<version> by default) at
the trunk's HEAD, or at --from. It prints the commits since the previous release that touched
the service or one of its dependencies, as ferry plan decides what a change affects.

  --bump patch|minor|major  moves the latest final release (0.0.0 when there is none)
  --bump auto               reads the Conventional Commit types of the commits since the latest
                            final release that touched the service: a breaking change (! or a
                            BREAKING CHANGE: footer) is major, feat minor, fix and perf patch;
                            other types alone are patch, or no release with --require-changes
  --version v1.4.0          an explicit version
  --pre rc                  a pre-release of that version: v1.3.0-rc.1, then -rc.2, ...; the
                            final release after them is the same core version (v1.3.0)

Refused, with nothing created: a version that exists as a branch or tag, or whose image
(REGISTRY/<service>:<version>) or chart (REGISTRY/helm/<chart>:<version>) is in the registry;
a version not higher than the latest release; an unknown service; without --from, a checkout
that is not on the trunk, detached or has uncommitted changes. An unreachable registry is an
error (--no-registry-check skips the registry).

--push pushes the branch with go-git to the checkout's remote (origin) using FERRY_GIT_TOKEN, or
the credentials the checkout has: http.extraheader (as actions/checkout persists them) or a git
credential helper. The history has no depth limit: a shallow clone is deepened as needed.

Exit codes: 0 cut, 1 refused or failed, 2 usage error.`,
		Example: `  ferry release cut delivery --bump auto --push
  ferry release cut delivery --bump minor --pre rc
  ferry release cut delivery --version v2.0.0 --from 1a2b3c4 -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := oneOfFlag("output", output, []string{"text", "json"}); err != nil {
				return err
			}
			if err := oneOfFlag("git", git, []string{"auto", "git", "go-git"}); err != nil {
				return err
			}
			if cmd.Flags().Changed("bump") && o.Version != "" {
				return usageError("--bump and --version cannot be combined")
			}
			b, err := releases.ParseBump(bump)
			if err != nil {
				return usageError("--bump: %v", err)
			}
			cfg, err := a.loadConfig(ws)
			if err != nil {
				return err
			}
			if cfg.Service(args[0]) == nil {
				return usageError("unknown service %q (services in %s: %s)", args[0], cfg.File, strings.Join(cfg.ServiceNames(), ", "))
			}
			o.Service, o.Bump, o.Backend, o.Token = args[0], b, changes.Backend(git), a.env("FERRY_GIT_TOKEN")
			o.Registry = a.registry(cfg, reg)
			if dir := cfg.Service(args[0]).Chart; dir != "" && o.Registry != nil {
				if o.ChartName, err = chart.ChartName(filepath.Join(cfg.Root, dir)); err != nil {
					return withCode(exitUsage, fmt.Errorf("chart of %s: %w", args[0], err))
				}
			}
			cut, err := workspace.CutRelease(cmd.Context(), cfg, o)
			if err != nil {
				if errors.Is(err, workspace.ErrRefused) {
					return withCode(exitFailed, err)
				}
				return withCode(exitFailed, fmt.Errorf("release cut %s: %w", args[0], err))
			}
			if output == "json" {
				return a.writeJSON(cut)
			}
			return a.writeCut(cut)
		},
	}
	ws.bind(cmd.Flags())
	reg.bind(cmd)
	f := cmd.Flags()
	f.StringVar(&bump, "bump", "patch", "patch, minor, major or auto (from Conventional Commits)")
	f.StringVar(&o.Version, "version", "", "the version to cut (v1.2.3), instead of --bump")
	f.StringVar(&o.Pre, "pre", "", "cut a pre-release with this identifier: v1.3.0-rc.1, -rc.2, ...")
	f.StringVar(&o.From, "from", "", "commit or ref to cut from (default: the trunk's HEAD, which must be checked out and clean)")
	f.BoolVar(&o.Push, "push", false, "push the branch to the checkout's remote")
	f.BoolVar(&o.RequireChanges, "require-changes", false, "cut nothing (exit 1) when no commit since the latest release touched the service (with --bump auto: no feat, fix, perf or breaking change)")
	f.StringVar(&git, "git", "auto", "how to read git: auto (git CLI when installed, else go-git), git or go-git")
	f.StringVarP(&output, "output", "o", "text", "text or json")
	return cmd
}

func (a *app) writeJSON(v any) error {
	enc := json.NewEncoder(a.Out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func (a *app) writeCut(c *workspace.Cut) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s v%s", c.Service, c.Version)
	if c.Bump != "" {
		fmt.Fprintf(&b, " (%s)", c.Bump)
	}
	if c.Previous != nil {
		fmt.Fprintf(&b, ", after v%s (%s)", c.Previous.Version, c.Previous.Ref)
	} else {
		b.WriteString(", the first release")
	}
	fmt.Fprintf(&b, "\nbranch %s created at %s", c.Branch, c.Commit[:12])
	if c.Pushed {
		fmt.Fprintf(&b, ", pushed to %s (credentials: %s)", c.Remote, c.Auth)
	}
	b.WriteString("\n")
	if len(c.Checked) > 0 {
		fmt.Fprintf(&b, "registry: %s not taken\n", strings.Join(c.Checked, ", "))
	}
	since := "in its history"
	if c.Previous != nil {
		since = "since v" + c.Previous.Version
	}
	fmt.Fprintf(&b, "%d commit(s) %s touched %s or its dependencies\n", len(c.Commits), since, c.Service)
	for _, cm := range c.Commits {
		fmt.Fprintf(&b, "  %s %s\n", cm.SHA[:12], cm.Subject)
	}
	_, err := fmt.Fprint(a.Out, b.String())
	return err
}

func (a *app) releaseListCommand() *cobra.Command {
	var (
		sf  storeFlags
		reg registryFlags
		git string
	)
	cmd := &cobra.Command{
		Use:   "list SERVICE",
		Short: "List a service's releases with their state, digests and runs",
		Long: `list shows each release version of the service, newest first: those its release branches and
tags name, those the run store ran and those whose image or chart tag is in the registry. The
state is the newest run's: branch cut (no image pushed yet), built, in <env> (deployed to an
environment before the last), waiting for approval, in production (deployed to the last
environment) or rejected; with its image and chart digests and the ids of its runs.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := oneOfFlag("git", git, []string{"auto", "git", "go-git"}); err != nil {
				return err
			}
			cfg, store, err := a.openStoreFor(cmd, sf)
			if err != nil {
				return err
			}
			if cfg.Service(args[0]) == nil {
				return usageError("unknown service %q (services in %s: %s)", args[0], cfg.File, strings.Join(cfg.ServiceNames(), ", "))
			}
			existing, err := workspace.FindReleases(cmd.Context(), cfg, args[0], changes.Backend(git))
			if err != nil {
				return withCode(exitFailed, err)
			}
			runs, err := store.List(cmd.Context())
			if err != nil {
				return withCode(exitFailed, fmt.Errorf("list runs: %w", err))
			}
			tags, err := a.releaseTags(cmd, cfg, args[0], reg)
			if err != nil {
				fmt.Fprintf(a.Err, "ferry: %v; the registry's tags are left out (--no-registry-check skips the registry)\n", err)
			}
			var envs []string
			for _, e := range cfg.Environments {
				envs = append(envs, e.Name)
			}
			entries := releases.List(args[0], existing, runs, envs, tags)
			if sf.output == "json" {
				return a.writeJSON(entries)
			}
			return a.writeReleases(entries)
		},
	}
	sf.bind(cmd)
	reg.bind(cmd)
	cmd.Flags().StringVar(&git, "git", "auto", "how to read git: auto (git CLI when installed, else go-git), git or go-git")
	return cmd
}

// releaseTags lists the service's image and chart tags; nil with --no-registry-check.
func (a *app) releaseTags(cmd *cobra.Command, cfg *config.Config, service string, f registryFlags) (*releases.Tags, error) {
	r := a.registry(cfg, f)
	if r == nil {
		return nil, nil
	}
	svc := cfg.Service(service)
	var tags releases.Tags
	var err error
	if svc.Image != nil {
		if tags.Image, err = r.Tags(cmd.Context(), strings.TrimSuffix(cfg.Registry, "/")+"/"+service); err != nil {
			return nil, err
		}
	}
	if svc.Chart != "" {
		chartName, err := chart.ChartName(filepath.Join(cfg.Root, svc.Chart))
		if err != nil {
			return nil, fmt.Errorf("chart of %s: %w", service, err)
		}
		if tags.Chart, err = r.Tags(cmd.Context(), chart.Repository(cfg.Registry, chartName)); err != nil {
			return nil, err
		}
	}
	return &tags, nil
}

func (a *app) writeReleases(entries []releases.Entry) error {
	tw := tabwriter.NewWriter(a.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tSTATE\tREFS\tRUNS\tIMAGE\tCHART")
	dash := func(s string) string {
		if s == "" {
			return "-"
		}
		return s
	}
	for _, e := range entries {
		state := e.State
		if e.Env != "" && !strings.HasSuffix(state, e.Env) {
			state += " (" + e.Env + ")"
		}
		refs := make([]string, len(e.Refs))
		for i, r := range e.Refs {
			refs[i] = strings.TrimPrefix(strings.TrimPrefix(r, "refs/heads/"), "refs/")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.Version, state, dash(strings.Join(refs, ",")), dash(strings.Join(e.Runs, ",")), dash(e.Image), dash(e.Chart))
	}
	return tw.Flush()
}
