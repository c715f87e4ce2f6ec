package pipeline

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ferry-ci/ferry/pipeline/config"
)

// toolTimeout bounds one cache.tools command: a version query that hangs must not hang the run.
const toolTimeout = time.Minute

// envDigest is what the environment variables named in globalEnv and the service's cacheEnv
// add to a cache key: per name, the sha256 of the value the service's commands see (or
// "unset"). Only hashes are kept: the key is journaled, and the values can be secrets.
func envDigest(cfg *config.Config, svc *config.Service, environ []string) []string {
	names := append(slices.Clone(cfg.GlobalEnv), svc.CacheEnv...)
	slices.Sort(names)
	names = slices.Compact(names)
	out := make([]string, len(names))
	for i, name := range names {
		value, ok := lookupEnv(environ, name)
		if !ok {
			out[i] = name + " unset"
			continue
		}
		sum := sha256.Sum256([]byte(value))
		out[i] = name + "=sha256:" + hex.EncodeToString(sum[:])
	}
	return out
}

// lookupEnv finds a variable the way exec passes the environment on: the last entry wins.
func lookupEnv(environ []string, name string) (string, bool) {
	for i := len(environ) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(environ[i], "="); ok && k == name {
			return v, true
		}
	}
	return "", false
}

// keysTools reports whether the cache.tools outputs key a stage kind: the stages that run the
// service's own commands with those tools.
func keysTools(kind string) bool { return kind == config.StageBuild || kind == config.StageTest }

// toolOutputs is the output of each cache.tools command, run once per engine (per process):
// toolchains do not change during a run, and a thousand services must not run go version a
// thousand times.
type toolOutputs struct {
	mu   sync.Mutex
	done bool
	out  []string
	err  error
}

// toolVersions returns "command\x00output" for each cache.tools command, or an error naming
// the command that failed. A cancelled attempt is not remembered.
func (e *Engine) toolVersions(ctx context.Context) ([]string, error) {
	t := &e.tools
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done {
		return t.out, t.err
	}
	var out []string
	var err error
	for _, c := range e.Config.Cache.Tools {
		var o string
		if o, err = runTool(ctx, c, e.Config.Root, ScrubCredentials(e.Environ, nil)); err != nil {
			out = nil
			break
		}
		out = append(out, c.String()+"\x00"+o)
	}
	if ctx.Err() == nil {
		t.done, t.out, t.err = true, out, err
	}
	return out, err
}

// runTool runs one cache.tools command at the config root, as a list directly or as a line
// with sh -c, and returns its output (stdout and stderr: java -version writes to stderr).
func runTool(ctx context.Context, c *config.Command, dir string, environ []string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, toolTimeout)
	defer cancel()
	args := c.Args
	if len(args) == 0 {
		args = []string{"sh", "-c", c.Line}
	}
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Dir, cmd.Env = dir, environ
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	cmd.WaitDelay = time.Second
	if err := cmd.Run(); err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			err = fmt.Errorf("no answer after %s", toolTimeout)
		}
		msg := fmt.Sprintf("cache.tools command %q failed: %v", c.String(), err)
		if first, _, _ := strings.Cut(strings.TrimSpace(buf.String()), "\n"); first != "" {
			msg += ": " + first
		}
		return "", errors.New(msg)
	}
	return buf.String(), nil
}

// Input is one named part of a cache key, so that a miss can say what changed: a source file
// (its path, "mode blob-hash"), a config field (services.delivery.build), a variable of
// globalEnv or cacheEnv (its value's hash), a cache.tools command (its output's hash), or one of
// the stage's own inputs (tool, build outputs, build context, vulnerability DB).
type Input struct {
	Name   string `json:"name"`
	Digest string `json:"digest"`
}

// SourceLister is implemented by Sources that can list, file by file, what a service's
// sources digest is made of. It is asked only on a miss and when a result is saved: a hit
// needs the digest alone.
type SourceLister interface {
	SourceInputs(ctx context.Context, service string) ([]Input, error)
}

// cacheKey is a stage's inputs digest and the named parts it was made of. The sources are
// listed file by file only when needed (listInputs).
type cacheKey struct {
	digest    string
	cacheable bool
	inputs    []Input
	// listed is inputs with the sources, once listInputs ran.
	listed []Input
}

func digestOf(data []byte) string {
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// addJSON adds v under name; a JSON object adds one input per member (name.member), so that
// a change to services.delivery.build does not read as "the service's config".
func (k *cacheKey) addJSON(name string, v any) {
	data, _ := json.Marshal(v)
	var members map[string]json.RawMessage
	if json.Unmarshal(data, &members) != nil || len(members) == 0 {
		k.inputs = append(k.inputs, Input{Name: name, Digest: digestOf(data)})
		return
	}
	for _, m := range slices.Sorted(maps.Keys(members)) {
		k.inputs = append(k.inputs, Input{Name: name + "." + m, Digest: digestOf(members[m])})
	}
}

// config adds the service's config, the stage kind's options and the version.
func (k *cacheKey) config(job *Job, opts config.StageOptions) {
	k.addJSON("services."+job.Service.Name, job.Service)
	if opts != (config.StageOptions{}) {
		k.addJSON("stages."+job.Stage.Kind(), opts)
	}
	if job.Pipeline.Version != "" {
		k.inputs = append(k.inputs, Input{Name: "version", Digest: job.Pipeline.Version})
	}
}

// env adds the variables of envDigest, named after the list that names them.
func (k *cacheKey) env(cfg *config.Config, env []string) {
	for _, kv := range env {
		name, value, ok := strings.Cut(kv, "=")
		if !ok {
			name, value, _ = strings.Cut(kv, " ")
		}
		list := "cacheEnv"
		if slices.Contains(cfg.GlobalEnv, name) {
			list = "globalEnv"
		}
		k.inputs = append(k.inputs, Input{Name: list + " " + name, Digest: value})
	}
}

// tools adds the cache.tools outputs ("command\x00output").
func (k *cacheKey) tools(tools []string) {
	for _, t := range tools {
		cmd, out, _ := strings.Cut(t, "\x00")
		k.inputs = append(k.inputs, Input{Name: fmt.Sprintf("cache.tools %q", cmd), Digest: digestOf([]byte(out))})
	}
}

// stageInputs adds a Cacheable's own inputs: the members of its JSON object by name.
func (k *cacheKey) stageInputs(extra []byte) {
	var members map[string]json.RawMessage
	if json.Unmarshal(extra, &members) != nil {
		k.inputs = append(k.inputs, Input{Name: "stage inputs", Digest: digestOf(extra)})
		return
	}
	for _, m := range slices.Sorted(maps.Keys(members)) {
		k.inputs = append(k.inputs, Input{Name: m, Digest: digestOf(members[m])})
	}
}

// listInputs is every named input of the key, the service's sources file by file included.
func (e *Engine) listInputs(ctx context.Context, job *Job, k *cacheKey) ([]Input, error) {
	if k.listed != nil {
		return k.listed, nil
	}
	out := slices.Clone(k.inputs)
	if l, ok := e.Sources.(SourceLister); ok {
		src, err := l.SourceInputs(ctx, job.Service.Name)
		if err != nil {
			return nil, fmt.Errorf("list sources of %s: %w", job.Service.Name, err)
		}
		out = append(src, out...)
	}
	k.listed = out
	return out, nil
}

// InputChange is one difference between the inputs of two cache keys.
type InputChange struct {
	Name string
	// How is "changed", "added" or "removed".
	How string
}

// DiffInputs lists the inputs that differ between an earlier key's and a new one's: in the
// new order, then the removed ones in the old order. A name listed twice keeps its last digest.
func DiffInputs(old, cur []Input) []InputChange {
	before, after := lastDigests(old), lastDigests(cur)
	var out []InputChange
	seen := map[string]bool{}
	for _, in := range cur {
		if seen[in.Name] {
			continue
		}
		seen[in.Name] = true
		if d, ok := before[in.Name]; !ok {
			out = append(out, InputChange{in.Name, "added"})
		} else if d != after[in.Name] {
			out = append(out, InputChange{in.Name, "changed"})
		}
	}
	for _, in := range old {
		if _, ok := after[in.Name]; !ok && !seen[in.Name] {
			seen[in.Name] = true
			out = append(out, InputChange{in.Name, "removed"})
		}
	}
	return out
}

func lastDigests(list []Input) map[string]string {
	m := make(map[string]string, len(list))
	for _, in := range list {
		m[in.Name] = in.Digest
	}
	return m
}

// maxDescribed bounds how many changes DescribeChanges names: a new branch can change every file.
const maxDescribed = 10

// DescribeChanges is the changes as a log line: changed inputs by name, added and removed ones
// marked so, the rest counted.
func DescribeChanges(changes []InputChange) string {
	if len(changes) == 0 {
		// Every named input is equal: what differs is not named (the stage kind, an entry made
		// before entries listed their inputs).
		return "no named input differs (the earlier entry may predate input lists)"
	}
	var parts []string
	for i, c := range changes {
		if i == maxDescribed {
			parts = append(parts, fmt.Sprintf("and %d more", len(changes)-maxDescribed))
			break
		}
		if c.How == "changed" {
			parts = append(parts, c.Name)
		} else {
			parts = append(parts, c.Name+" ("+c.How+")")
		}
	}
	return strings.Join(parts, ", ")
}
