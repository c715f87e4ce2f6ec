package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// inputsDigest identifies everything a stage's result depends on. It reports whether the
// stage may use the cache (cacheable, sources clean), and fails when an input cannot be known
// (a cache.tools command that fails): running the stage with an unknown toolchain and keying
// its result as if it were known would poison the cache.
func (e *Engine) inputsDigest(ctx context.Context, job *Job, impl Stage, log io.Writer) (string, bool, error) {
	if job.Service == nil {
		return "", false, nil
	}
	h := sha256.New()
	write := func(parts ...any) {
		for _, p := range parts {
			data, _ := json.Marshal(p)
			h.Write(data)
			h.Write([]byte{0})
		}
	}
	write("ferry-inputs-v1", job.Stage, job.Service, e.Config.StageOptionsFor(job.Stage.Kind()), job.Pipeline.Version)
	if job.Env != nil {
		write(job.Env)
	}
	// Written only when configured, so that keys of configs without them stay as they were.
	if env := envDigest(e.Config, job.Service, job.Environ); len(env) > 0 {
		write("env", env)
	}
	if keysTools(job.Stage.Kind()) && len(e.Config.Cache.Tools) > 0 {
		tools, err := e.toolVersions(ctx)
		if err != nil {
			return "", false, err
		}
		write("tools", tools)
	}
	cacheable := false
	if e.Sources != nil {
		src, err := e.Sources.Digest(ctx, job.Service.Name)
		switch {
		case err == nil:
			write(src)
			_, cacheable = impl.(Cacheable)
		case errors.Is(err, ErrDirty):
			if _, ok := impl.(Cacheable); ok {
				fmt.Fprintf(log, "not using the cache: %v\n", err)
			}
		default:
			fmt.Fprintf(log, "not using the cache: sources digest: %v\n", err)
		}
	}
	if c, ok := impl.(Cacheable); ok && cacheable {
		extra, err := c.Inputs(ctx, job)
		if err != nil {
			fmt.Fprintf(log, "not using the cache: %v\n", err)
			cacheable = false
		}
		h.Write(extra)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), cacheable, nil
}

// cacheHit returns an earlier result with the same inputs whose outputs can still be used.
func (e *Engine) cacheHit(ctx context.Context, job *Job, impl Stage, digest string) (*CacheEntry, bool) {
	entry, err := e.Store.LookupCache(ctx, job.Stage.Kind(), digest)
	if err != nil {
		return nil, false
	}
	if v, ok := impl.(Verifier); ok {
		if err := v.Verify(ctx, job, entry.Outputs); err != nil {
			fmt.Fprintf(job.Log, "cached result of run %s cannot be used (%v): running\n", entry.Run, err)
			return nil, false
		}
	}
	return entry, true
}

// saveCache records a succeeded stage's result (its journaled, masked outputs and how long it
// took) for later runs with the same inputs; a failure to do so costs only a later rebuild.
func (e *Engine) saveCache(ctx context.Context, run *Run, svc *ServiceRun, s *StageState, digest string) {
	err := e.Store.SaveCache(ctx, CacheEntry{Stage: s.ID.Kind(), Digest: digest, Run: run.ID,
		Service: svc.Name, Outputs: s.Outputs, Created: e.now(), Duration: s.Duration()})
	if err != nil {
		e.logger().Warn("save cache", "err", err)
	}
}

// cachedDuration is how long the stage of a cache entry took in its run: from the entry, or,
// for entries written before entries kept it, from that run's journal (0 when it is gone).
func (e *Engine) cachedDuration(ctx context.Context, entry *CacheEntry) time.Duration {
	if entry.Duration > 0 {
		return entry.Duration
	}
	run, err := e.Store.Load(ctx, entry.Run)
	if err != nil {
		return 0
	}
	if svc := run.Service(entry.Service); svc != nil {
		if s := svc.Stage(StageID(entry.Stage)); s != nil && s.CachedFrom == "" {
			return s.Duration()
		}
	}
	return 0
}
