package scan

import (
	"bytes"
	"context"
	"debug/buildinfo"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/ferry-ci/ferry/internal/pinned"
)

// Trivy scans images with the Trivy CLI, run as a subprocess: Trivy is not a stable Go
// library and linking it would add hundreds of megabytes to Ferry. Ferry pins and tests one
// version, pinned.TrivyVersion.
//
// Every scan runs in a fresh empty working directory, so that a trivy.yaml or .trivyignore
// in the caller's directory cannot change the result, and with an environment without the
// caller's TRIVY_* variables, so that nothing filters findings behind the policy's back:
// pass registry credentials (TRIVY_USERNAME, TRIVY_PASSWORD) in Env. Neither Env nor its
// values are ever written to Log. Scans use Trivy's in-memory layer cache, so concurrent
// scans may share one CacheDir.
type Trivy struct {
	// Path is the trivy executable; "" looks up trivy on PATH.
	Path string
	// CacheDir holds the vulnerability DB (CacheDir/db); "" is Trivy's default,
	// $XDG_CACHE_HOME/trivy or ~/.cache/trivy.
	CacheDir string
	// Offline uses the DB already in CacheDir and scans with no network access besides
	// the image's registry: --skip-db-update --skip-java-db-update --offline-scan. With
	// DBRepository set, the DB is still fetched from that mirror (and nothing else is).
	Offline bool
	// DBRepository is a registry mirror of the vulnerability DB, e.g.
	// registry.example.com/trivy-db:2 (--db-repository). Trivy downloads it into CacheDir
	// when missing or stale; scans that share a CacheDir should not start their first
	// download at the same time.
	DBRepository string
	// Timeout bounds one scan (Trivy's --timeout and a hard kill); 0 keeps Trivy's own
	// default of 5 minutes.
	Timeout time.Duration
	// Insecure skips TLS verification of registries (--insecure).
	Insecure bool
	// Env holds extra KEY=value variables for Trivy, e.g. registry credentials.
	Env []string
	// Log receives the command line and Trivy's stderr; nil discards them.
	Log io.Writer
}

var _ Scanner = (*Trivy)(nil)

// ScannerError means the scanner could not produce a report: it is missing, has no
// vulnerability DB, crashed, timed out or wrote output Ferry cannot read. It says nothing
// about the image. Cancellation and timeouts wrap the context's error, so errors.Is(err,
// context.DeadlineExceeded) holds for a timeout.
type ScannerError struct {
	Target   string // what was being scanned; "" when asking for the version
	Reason   string // what went wrong and, where known, how to fix it
	ExitCode int    // the scanner's exit status; -1 when it did not exit by itself or did not start
	Stderr   string // the end of the scanner's stderr
	Err      error  // the underlying cause, if any
}

func (e *ScannerError) Error() string {
	var b strings.Builder
	b.WriteString("scanner could not run")
	if e.Target != "" {
		fmt.Fprintf(&b, " on %s", e.Target)
	}
	b.WriteString(": ")
	b.WriteString(e.Reason)
	var exitErr *exec.ExitError
	if e.Err != nil && !errors.As(e.Err, &exitErr) { // the reason already gives the exit status
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	if s := lastLines(e.Stderr, 3); s != "" {
		fmt.Fprintf(&b, "\n%s", s)
	}
	return b.String()
}

func (e *ScannerError) Unwrap() error { return e.Err }

// Scan runs `trivy image` on the target and parses its JSON report. Every error is a
// *ScannerError.
func (t *Trivy) Scan(ctx context.Context, target Target) (*Report, error) {
	fail := func(reason string, err error) (*Report, error) {
		return nil, &ScannerError{Target: target.String(), Reason: reason, ExitCode: -1, Err: err}
	}
	if err := target.validate(); err != nil {
		return fail("invalid target", err)
	}
	work, err := os.MkdirTemp("", "ferry-trivy-")
	if err != nil {
		return fail("creating a working directory", err)
	}
	defer os.RemoveAll(work)

	output := filepath.Join(work, "report.json")
	args := []string{"image",
		"--format", "json", "--output", output,
		"--scanners", "vuln",
		"--quiet", "--skip-version-check", "--disable-telemetry",
		"--cache-backend", "memory",
	}
	args = append(args, t.cacheDirArgs()...)
	if t.Timeout > 0 {
		args = append(args, "--timeout", t.Timeout.String())
	}
	if t.Insecure {
		args = append(args, "--insecure")
	}
	if t.DBRepository != "" {
		args = append(args, "--db-repository", t.DBRepository)
	}
	if t.Offline {
		if t.DBRepository == "" {
			args = append(args, "--skip-db-update")
		}
		args = append(args, "--skip-java-db-update", "--offline-scan")
	}
	if target.LayoutDir != "" {
		input, err := layoutInput(work, target.LayoutDir)
		if err != nil {
			return fail("reading the OCI layout", err)
		}
		args = append(args, "--input", input)
	} else {
		args = append(args, "--image-src", "remote", target.ImageRef)
	}

	if t.Offline && t.DBRepository == "" && t.CacheDir != "" {
		if _, err := os.Stat(filepath.Join(t.CacheDir, "db", "metadata.json")); err != nil {
			return fail(t.missingDBHint(), nil)
		}
	}

	res, serr := t.run(ctx, work, args)
	if serr != nil {
		serr.Target = target.String()
		return nil, serr
	}
	raw, rerr := os.ReadFile(output)
	if rerr != nil {
		return nil, &ScannerError{Target: target.String(), Reason: "trivy wrote no report", ExitCode: 0, Stderr: res.stderr, Err: rerr}
	}
	r, perr := parseTrivyReport(raw)
	if perr != nil {
		return nil, &ScannerError{Target: target.String(), Reason: "unreadable trivy report", ExitCode: 0, Stderr: res.stderr, Err: perr}
	}
	r.Target = target.String()
	r.ScannerVersion = t.normalizeVersion(r.ScannerVersion)
	return r, nil
}

// Version runs `trivy version` and returns the version, e.g. "0.74.0".
func (t *Trivy) Version(ctx context.Context) (string, error) {
	work, err := os.MkdirTemp("", "ferry-trivy-")
	if err != nil {
		return "", &ScannerError{Reason: "creating a working directory", ExitCode: -1, Err: err}
	}
	defer os.RemoveAll(work)
	res, serr := t.run(ctx, work, []string{"version", "--format", "json"})
	if serr != nil {
		return "", serr
	}
	var v struct{ Version string }
	if err := json.Unmarshal(res.stdout, &v); err != nil || v.Version == "" {
		if err == nil {
			err = errors.New("no Version field")
		}
		return "", &ScannerError{Reason: "unreadable output of trivy version", ExitCode: 0, Stderr: res.stderr, Err: err}
	}
	return t.normalizeVersion(v.Version), nil
}

func (t *Trivy) cacheDirArgs() []string {
	if t.CacheDir == "" {
		return nil
	}
	dir, err := filepath.Abs(t.CacheDir) // trivy runs in another working directory
	if err != nil {
		dir = t.CacheDir
	}
	return []string{"--cache-dir", dir}
}

func (t *Trivy) missingDBHint() string {
	const mirror = "set a DB mirror in your registry (DBRepository, trivy --db-repository)"
	if t.CacheDir == "" {
		return "no vulnerability DB in trivy's default cache dir and offline mode does not download one: " +
			mirror + ", or set CacheDir to a dir holding a DB (fill it with trivy image --download-db-only --cache-dir DIR)"
	}
	return fmt.Sprintf("no vulnerability DB in cache dir %s and offline mode does not download one: "+
		"%s, or fill the cache dir first (trivy image --download-db-only --cache-dir %s)", t.CacheDir, mirror, t.CacheDir)
}

// layoutInput checks that dir is an OCI image layout and returns the --input argument for
// it. Trivy reads "path:tag" and "path@digest" from --input, so a path containing ':' or '@'
// is passed through a symlink in the working directory.
func layoutInput(work, dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("resolving %s: %w", dir, err)
	}
	if _, err := os.Stat(filepath.Join(abs, "index.json")); err != nil {
		return "", fmt.Errorf("%s is not an OCI image layout: %w", dir, err)
	}
	if !strings.ContainsAny(abs, ":@") {
		return abs, nil
	}
	link := filepath.Join(work, "image")
	if err := os.Symlink(abs, link); err != nil {
		return "", fmt.Errorf("linking %s: %w", dir, err)
	}
	return link, nil
}

// bin is the trivy executable to run.
func (t *Trivy) bin() (string, *ScannerError) {
	if t.Path != "" {
		return t.Path, nil
	}
	p, err := exec.LookPath("trivy")
	if err != nil {
		return "", &ScannerError{Reason: "trivy not found on PATH: install Trivy " + pinned.TrivyVersion() + " or set its path", ExitCode: -1, Err: err}
	}
	return p, nil
}

// normalizeVersion returns the version trivy reported, e.g. "0.74.0". A trivy built with
// plain `go install` reports "dev"; then the module version recorded in the executable's
// build info is used instead.
func (t *Trivy) normalizeVersion(reported string) string {
	reported = strings.TrimPrefix(reported, "v")
	if reported != "" && reported != "dev" {
		return reported
	}
	bin, serr := t.bin()
	if serr != nil {
		return reported
	}
	info, err := buildinfo.ReadFile(bin)
	if err != nil || info.Main.Path != "github.com/aquasecurity/trivy" || !strings.HasPrefix(info.Main.Version, "v") {
		return reported
	}
	return strings.TrimPrefix(info.Main.Version, "v")
}

type runResult struct {
	stdout []byte
	stderr string
}

// maxStderr bounds how much of Trivy's stderr is kept for error messages.
const maxStderr = 16 << 10

// run executes trivy with args in dir. On cancellation or timeout the whole process group is
// killed. A non-zero exit, a failure to start and a timeout are *ScannerErrors.
func (t *Trivy) run(ctx context.Context, dir string, args []string) (runResult, *ScannerError) {
	bin, serr := t.bin()
	if serr != nil {
		return runResult{}, serr
	}
	timedOut := errors.New("scan timeout")
	if t.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, t.Timeout, timedOut)
		defer cancel()
	}

	logw := t.Log
	if logw == nil {
		logw = io.Discard
	}
	fmt.Fprintf(logw, "$ %s %s\n", bin, strings.Join(args, " "))

	var stdout bytes.Buffer
	stderr := &tailBuffer{max: maxStderr}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	cmd.Env = trivyEnv(os.Environ(), t.Env)
	cmd.Stdout = &stdout
	cmd.Stderr = io.MultiWriter(stderr, logw)
	cmd.WaitDelay = 5 * time.Second
	killProcessGroupOnCancel(cmd)

	err := cmd.Run()
	res := runResult{stdout: stdout.Bytes(), stderr: stderr.String()}
	if ctx.Err() != nil {
		reason := "scan cancelled"
		switch {
		case context.Cause(ctx) == timedOut:
			reason = fmt.Sprintf("trivy timed out after %s", t.Timeout)
		case errors.Is(ctx.Err(), context.DeadlineExceeded):
			reason = "scan timed out"
		}
		return res, &ScannerError{Reason: reason, ExitCode: -1, Stderr: res.stderr, Err: ctx.Err()}
	}
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		return res, nil
	case errors.As(err, &exitErr):
		return res, &ScannerError{Reason: t.classify(exitErr, res.stderr), ExitCode: exitErr.ExitCode(), Stderr: res.stderr, Err: err}
	case cmd.ProcessState == nil:
		return res, &ScannerError{Reason: fmt.Sprintf("starting %s", bin), ExitCode: -1, Stderr: res.stderr, Err: err}
	case errors.Is(err, exec.ErrWaitDelay) && cmd.ProcessState.Success():
		// trivy succeeded but something it started kept its output open.
		fmt.Fprintf(logw, "warning: %v\n", err)
		return res, nil
	}
	return res, &ScannerError{Reason: fmt.Sprintf("running %s", bin), ExitCode: cmd.ProcessState.ExitCode(), Stderr: res.stderr, Err: err}
}

// classify explains a failed trivy run from its exit status and stderr.
func (t *Trivy) classify(exitErr *exec.ExitError, stderr string) string {
	if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return fmt.Sprintf("trivy was killed by signal %s", ws.Signal())
	}
	switch {
	case strings.Contains(stderr, "--skip-db-update cannot be specified on the first run"):
		return t.missingDBHint()
	case strings.Contains(stderr, "--skip-db-update cannot be specified with the old DB schema"):
		return "the vulnerability DB in the cache dir has an old schema: update it or its mirror"
	case strings.Contains(stderr, "context deadline exceeded"):
		return "trivy timed out"
	case strings.Contains(stderr, "DB error") || strings.Contains(stderr, "failed to download vulnerability DB"):
		if t.DBRepository != "" {
			return fmt.Sprintf("trivy could not get the vulnerability DB from %s", t.DBRepository)
		}
		return "trivy could not get the vulnerability DB (set DBRepository to a mirror, or Offline with a filled cache dir)"
	}
	return fmt.Sprintf("trivy exited with status %d", exitErr.ExitCode())
}

// trivyEnv is the process environment without TRIVY_* variables, plus extra.
func trivyEnv(environ, extra []string) []string {
	env := make([]string, 0, len(environ)+len(extra))
	for _, kv := range environ {
		if !strings.HasPrefix(strings.ToUpper(kv), "TRIVY_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	max int
	buf []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - b.max; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string { return string(b.buf) }

// lastLines returns the last n non-empty lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	var kept []string
	for i := len(lines) - 1; i >= 0 && len(kept) < n; i-- {
		if l := strings.TrimSpace(lines[i]); l != "" {
			kept = append(kept, l)
		}
	}
	for i, j := 0, len(kept)-1; i < j; i, j = i+1, j-1 {
		kept[i], kept[j] = kept[j], kept[i]
	}
	return strings.Join(kept, "\n")
}
