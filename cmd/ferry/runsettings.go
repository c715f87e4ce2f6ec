package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/renameio/v2"

	"github.com/ferry-ci/ferry/pipeline"
	"github.com/ferry-ci/ferry/pipeline/config"
)

// A run started with --state somewhere other than the config's store leaves a pointer in the
// config's local store (.ferry/elsewhere/<run>), so that resume, status, logs, cancel and
// approve find it without --state again.

// pointerDir is where a config's local store keeps pointers to runs kept elsewhere.
func pointerDir(cfg *config.Config) string { return filepath.Join(cfg.Root, ".ferry", "elsewhere") }

// pointerReporter writes the pointer as soon as the run exists, before anything runs: a run
// killed half way must be found again.
type pointerReporter struct {
	cfg   *config.Config
	state string
	err   error
}

func (p *pointerReporter) Report(ev pipeline.Event) {
	if ev.Kind != pipeline.RunStarted || p.state == "" || p.err != nil {
		return
	}
	if err := os.MkdirAll(pointerDir(p.cfg), 0o755); err != nil {
		p.err = err
		return
	}
	// Before the stages build: .ferry must not make the work tree dirty.
	if p.err = pipeline.IgnoreInGit(filepath.Dir(pointerDir(p.cfg))); p.err != nil {
		return
	}
	p.err = renameio.WriteFile(filepath.Join(pointerDir(p.cfg), ev.Run), []byte(p.state+"\n"), 0o644)
}

// runState returns the --state a run lives in: the flag when given, else the pointer the run
// left, else "" (the config's own store).
func runState(cfg *config.Config, flag, id string) string {
	if flag != "" || id == "" || strings.ContainsAny(id, `/\`) {
		return flag
	}
	data, err := os.ReadFile(filepath.Join(pointerDir(cfg), id))
	if err != nil {
		return flag
	}
	return strings.TrimSpace(string(data))
}

// locateRun opens the store that holds run id and loads it.
func (a *app) locateRun(ctx context.Context, cfg *config.Config, stateFlag, id string) (pipeline.Store, *pipeline.Run, error) {
	store, err := a.openStore(ctx, cfg, runState(cfg, stateFlag, id))
	if err != nil {
		return nil, nil, err
	}
	run, err := store.Load(ctx, id)
	if err != nil {
		return nil, nil, notFound(err)
	}
	return store, run, nil
}

// applyRunSettings makes a command that continues a run use the settings the run was started
// with (--registry, --plain-http, --scan-report, --state). A flag given again must agree: a run
// never continues against another registry than the one it pushed to.
func applyRunSettings(run *pipeline.Run, rf *renderFlags, state *string) error {
	o := run.Options
	var errs []error
	same := func(flag, given, journaled string) string {
		if given != "" && journaled != "" && given != journaled {
			errs = append(errs, fmt.Errorf("--%s %s: run %s was started with --%s %s", flag, given, run.ID, flag, journaled))
		}
		if given == "" {
			return journaled
		}
		return given
	}
	rf.registry = same("registry", rf.registry, o.Registry)
	rf.stages.scanDir = same("scan-report", rf.stages.scanDir, o.ScanReport)
	*state = same("state", *state, o.State)
	rf.stages.plainHTTP = rf.stages.plainHTTP || o.PlainHTTP
	if err := errors.Join(errs...); err != nil {
		return withCode(exitUsage, err)
	}
	return nil
}

// runSettings records the run-shaping flags in the run's options.
func runSettings(opts *pipeline.RunOptions, rf renderFlags, state string) {
	opts.Registry, opts.PlainHTTP, opts.ScanReport, opts.State = rf.registry, rf.stages.plainHTTP, rf.stages.scanDir, state
}

// setupResume prepares an engine to continue run id with the settings it was started with.
func (a *app) setupResume(ctx context.Context, ws workspaceFlags, rf renderFlags, state, id string) (*engineSetup, error) {
	cfg, err := a.loadConfig(ws)
	if err != nil {
		return nil, err
	}
	state = runState(cfg, state, id)
	_, run, err := a.locateRun(ctx, cfg, state, id)
	if err != nil {
		return nil, err
	}
	if err := applyRunSettings(run, &rf, &state); err != nil {
		return nil, err
	}
	return a.setupEngine(ctx, ws, rf, state, false)
}

// lazyStore opens the run store when a plan first asks for it: only a push without a before
// commit needs it.
func (a *app) lazyStore(cfg *config.Config, state string) func(context.Context) (pipeline.Store, error) {
	var store pipeline.Store
	return func(ctx context.Context) (pipeline.Store, error) {
		if store != nil {
			return store, nil
		}
		s, err := a.openStore(ctx, cfg, state)
		store = s
		return s, err
	}
}
