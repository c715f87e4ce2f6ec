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

// FileOutputs is implemented by stages whose results are files (a build's bin/, an image
// layout, a scan report). With a store that keeps output files (CacheRestorer, oci://) a
// cache entry carries them, and a hit on a machine without them restores them.
type FileOutputs interface {
	// OutputFiles names the files that hold the result out for job, where job keeps them (the
	// service folder, the stage folder), and returns out with its paths pointing there. For
	// the job that made out the paths are the ones out names already.
	OutputFiles(job *Job, out Outputs) ([]OutputRoot, Outputs, error)
}

// OutputRoot is one part of a stage's result: files under a folder.
type OutputRoot struct {
	// Name identifies the root in a cache entry, the same on every machine ("bin/", "layout").
	Name string
	// Dir is the folder on this machine the files are relative to.
	Dir string
	// Files are the slash-separated paths under Dir that make the result when it is saved;
	// a restore writes what the entry holds.
	Files []string
}

// CacheFile is an output root as a store keeps it: one blob.
type CacheFile struct {
	Name      string `json:"name"`
	Digest    string `json:"digest"`
	MediaType string `json:"mediaType"`
	// Size is the blob's size; Bytes and Count are the files' total size and number.
	Size  int64 `json:"size"`
	Bytes int64 `json:"bytes"`
	Count int   `json:"count"`
}

// CacheRestorer is implemented by stores that keep a cache entry's output files (SaveCache
// stores CacheEntry.Roots): RestoreCache writes the files of e into the roots of the same
// names, each blob verified by its digest.
type CacheRestorer interface {
	RestoreCache(ctx context.Context, e *CacheEntry, roots []OutputRoot) (RestoreStats, error)
}

// RestoreStats says what a restore moved.
type RestoreStats struct {
	// Downloaded is the compressed bytes read from the store; Bytes and Files what was written.
	Downloaded, Bytes int64
	Files             int
	Took              time.Duration
}

func (s RestoreStats) String() string {
	return fmt.Sprintf("%d files, %s, %s downloaded in %s", s.Files, byteSize(s.Bytes), byteSize(s.Downloaded), s.Took.Round(time.Millisecond))
}

func byteSize(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// CacheHistory is implemented by stores that remember, per stage kind and service, the cache
// entry saved last (SaveCache moves the pointer), so that a miss can be compared with it.
type CacheHistory interface {
	// LatestCache returns that entry, or ErrCacheMiss.
	LatestCache(ctx context.Context, stage, service string) (*CacheEntry, error)
}

// inputsDigest identifies everything a stage's result depends on. It reports whether the
// stage may use the cache (cacheable, sources clean), and fails when an input cannot be known
// (a cache.tools command that fails): running the stage with an unknown toolchain and keying
// its result as if it were known would poison the cache.
func (e *Engine) inputsDigest(ctx context.Context, job *Job, impl Stage, log io.Writer) (*cacheKey, error) {
	k := &cacheKey{}
	if job.Service == nil {
		return k, nil
	}
	h := sha256.New()
	write := func(parts ...any) {
		for _, p := range parts {
			data, _ := json.Marshal(p)
			h.Write(data)
			h.Write([]byte{0})
		}
	}
	opts := e.Config.StageOptionsFor(job.Stage.Kind())
	write("ferry-inputs-v1", job.Stage, job.Service, opts, job.Pipeline.Version)
	k.config(job, opts)
	if job.Env != nil {
		write(job.Env)
		k.addJSON("environments."+job.Env.Name, job.Env)
	}
	// Written only when configured, so that keys of configs without them stay as they were.
	if env := envDigest(e.Config, job.Service, job.Environ); len(env) > 0 {
		write("env", env)
		k.env(e.Config, env)
	}
	if keysTools(job.Stage.Kind()) && len(e.Config.Cache.Tools) > 0 {
		tools, err := e.toolVersions(ctx)
		if err != nil {
			return nil, err
		}
		write("tools", tools)
		k.tools(tools)
	}
	if e.Sources != nil {
		src, err := e.Sources.Digest(ctx, job.Service.Name)
		switch {
		case err == nil:
			write(src)
			_, k.cacheable = impl.(Cacheable)
		case errors.Is(err, ErrDirty):
			if _, ok := impl.(Cacheable); ok {
				fmt.Fprintf(log, "not using the cache: %v\n", err)
			}
		default:
			fmt.Fprintf(log, "not using the cache: sources digest: %v\n", err)
		}
	}
	if c, ok := impl.(Cacheable); ok && k.cacheable {
		extra, err := c.Inputs(ctx, job)
		if err != nil {
			fmt.Fprintf(log, "not using the cache: %v\n", err)
			k.cacheable = false
		}
		h.Write(extra)
		k.stageInputs(extra)
	}
	k.digest = "sha256:" + hex.EncodeToString(h.Sum(nil))
	return k, nil
}

// cacheHit returns an earlier result with the same inputs whose outputs can be used here, with
// those outputs: as the entry has them when they verify, else restored from the store into
// this job's folders. restored says what a restore moved ("" when none was needed). On a miss
// it writes why to the log.
func (e *Engine) cacheHit(ctx context.Context, job *Job, impl Stage, k *cacheKey) (entry *CacheEntry, out Outputs, restored string, ok bool) {
	entry, err := e.Store.LookupCache(ctx, job.Stage.Kind(), k.digest)
	if err != nil {
		if errors.Is(err, ErrCacheMiss) {
			fmt.Fprintf(job.Log, "not in the cache: %s\n", e.explainMiss(ctx, job, k))
		}
		return nil, Outputs{}, "", false
	}
	v, verifies := impl.(Verifier)
	if !verifies {
		return entry, entry.Outputs, "", true
	}
	verr := v.Verify(ctx, job, entry.Outputs)
	if verr == nil {
		return entry, entry.Outputs, "", true
	}
	out, stats, err := e.restore(ctx, job, impl, entry)
	if err == nil {
		err = v.Verify(ctx, job, out)
	}
	if err != nil {
		if errors.Is(err, errNoFiles) {
			err = verr
		}
		fmt.Fprintf(job.Log, "cached result of run %s cannot be used (%v): running\n", entry.Run, err)
		return nil, Outputs{}, "", false
	}
	return entry, out, stats.String(), true
}

// errNoFiles is restore's answer when the store or the entry holds no files.
var errNoFiles = errors.New("no output files in the cache")

// restore writes the entry's output files into the job's folders and returns the outputs
// pointing there.
func (e *Engine) restore(ctx context.Context, job *Job, impl Stage, entry *CacheEntry) (Outputs, RestoreStats, error) {
	r, ok := e.Store.(CacheRestorer)
	f, declares := impl.(FileOutputs)
	if !ok || !declares || len(entry.Files) == 0 {
		return Outputs{}, RestoreStats{}, errNoFiles
	}
	roots, out, err := f.OutputFiles(job, entry.Outputs)
	if err != nil {
		return Outputs{}, RestoreStats{}, err
	}
	stats, err := r.RestoreCache(ctx, entry, roots)
	if err != nil {
		return Outputs{}, RestoreStats{}, fmt.Errorf("restore outputs: %w", err)
	}
	return out, stats, nil
}

// explainMiss says why a stage's inputs are not in the cache: what changed since the latest
// entry of the same stage and service, when the store remembers one.
func (e *Engine) explainMiss(ctx context.Context, job *Job, k *cacheKey) string {
	h, ok := e.Store.(CacheHistory)
	if !ok {
		return "no result with these inputs"
	}
	prev, err := h.LatestCache(ctx, job.Stage.Kind(), job.Service.Name)
	switch {
	case errors.Is(err, ErrCacheMiss):
		return fmt.Sprintf("no earlier %s of %s in the cache", job.Stage.Kind(), job.Service.Name)
	case err != nil:
		return fmt.Sprintf("no result with these inputs (latest entry: %v)", err)
	}
	inputs, err := e.listInputs(ctx, job, k)
	if err != nil {
		return fmt.Sprintf("no result with these inputs (%v)", err)
	}
	return fmt.Sprintf("inputs changed since run %s: %s", prev.Run, DescribeChanges(DiffInputs(prev.Inputs, inputs)))
}

// saveCache records a succeeded stage's result (its journaled, masked outputs, how long it
// took, the inputs that made its key and, for a store that keeps them, its output files) for
// later runs with the same inputs; a failure to do so costs only a later rebuild.
func (e *Engine) saveCache(ctx context.Context, job *Job, impl Stage, run *Run, svc *ServiceRun, s *StageState, k *cacheKey) {
	entry := CacheEntry{Stage: s.ID.Kind(), Digest: k.digest, Run: run.ID,
		Service: svc.Name, Outputs: s.Outputs, Created: e.now(), Duration: s.Duration()}
	var err error
	if entry.Inputs, err = e.listInputs(ctx, job, k); err != nil {
		e.logger().Warn("save cache: list inputs", "err", err)
	}
	if f, ok := impl.(FileOutputs); ok {
		if _, keeps := e.Store.(CacheRestorer); keeps {
			if entry.Roots, _, err = f.OutputFiles(job, s.Outputs); err != nil {
				e.logger().Warn("save cache: output files", "err", err)
				return
			}
		}
	}
	if err := e.Store.SaveCache(ctx, entry); err != nil {
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
