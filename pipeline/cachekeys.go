package pipeline

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
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
