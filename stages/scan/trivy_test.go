package scan

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-ci/ferry/internal/pinned"
	"github.com/ferry-ci/ferry/internal/testenv"
)

// These tests run the pinned Trivy CLI against images built here, with a fixture DB built
// offline by tools/mkdb: no network is used.

// testNow is the evaluation time of the policy tests.
func testNow() time.Time { return time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC) }

const recordedReport = "testdata/trivy-report.json"

func TestTrivyGate(t *testing.T) {
	trivyBin := testenv.Trivy(t)
	cacheDir := fixtureDB(t, "")
	registry := testenv.Registry(t)

	vulnerable := appImage(t, vulnApp(t, "v0.3.6"))
	dirs := t.TempDir()
	layouts := map[string]string{
		"vulnerable": writeLayout(t, filepath.Join(dirs, "vulnerable"), vulnerable),
		"clean":      writeLayout(t, filepath.Join(dirs, "clean"), appImage(t, vulnApp(t, "v0.3.7"))),
		"unfixed":    writeLayout(t, filepath.Join(dirs, "unfixed"), appImage(t, vulnApp(t, "v0.3.7", "unfixed"))),
		"both":       writeLayout(t, filepath.Join(dirs, "both"), appImage(t, vulnApp(t, "v0.3.6", "unfixed"))),
		// Trivy reads "dir:tag" and "dir@digest" from --input; such paths must still work.
		"odd path": writeLayout(t, filepath.Join(dirs, "odd:dir@x"), vulnerable),
	}
	remoteRef := pushImage(t, registry, "ferry/vulnapp", vulnerable)

	future := Ignore{ID: "CVE-2021-38561", Reason: "not reachable: we never parse Accept-Language", Expires: testNow().AddDate(0, 6, 0)}
	expired := Ignore{ID: "CVE-2021-38561", Reason: "not reachable: we never parse Accept-Language", Expires: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	cveMsg := "policy failed: 1 finding at or above HIGH: CVE-2021-38561 in golang.org/x/text 0.3.6 (fixed in 0.3.7)"

	tests := []struct {
		name        string
		target      Target
		policy      Policy
		wantFailing []string // finding IDs
		wantIgnored []string
		wantErr     []string // substrings of the *PolicyError; nil means the gate passes
	}{
		{name: "vulnerable image fails", target: Target{LayoutDir: layouts["vulnerable"]},
			wantFailing: []string{"CVE-2021-38561"}, wantErr: []string{cveMsg}},
		{name: "clean image passes", target: Target{LayoutDir: layouts["clean"]}},
		{name: "ignored with future expiry passes", target: Target{LayoutDir: layouts["vulnerable"]},
			policy: Policy{Ignore: []Ignore{future}}, wantIgnored: []string{"CVE-2021-38561"}},
		{name: "expired ignore fails", target: Target{LayoutDir: layouts["vulnerable"]},
			policy:      Policy{Ignore: []Ignore{expired}},
			wantFailing: []string{"CVE-2021-38561"},
			wantErr:     []string{cveMsg, "ignore entry CVE-2021-38561 expired on 2026-01-01"}},
		{name: "threshold CRITICAL lets HIGH pass", target: Target{LayoutDir: layouts["vulnerable"]},
			policy: Policy{FailOn: SeverityCritical}},
		{name: "unfixed finding fails by default", target: Target{LayoutDir: layouts["unfixed"]},
			wantFailing: []string{"FERRY-TEST-0001"},
			wantErr:     []string{"FERRY-TEST-0001 in github.com/google/go-cmp 0.7.0 (no fix available)"}},
		{name: "unfixed finding passes with IgnoreUnfixed", target: Target{LayoutDir: layouts["unfixed"]},
			policy: Policy{IgnoreUnfixed: true}, wantIgnored: []string{"FERRY-TEST-0001"}},
		{name: "IgnoreUnfixed does not hide fixable findings", target: Target{LayoutDir: layouts["both"]},
			policy:      Policy{IgnoreUnfixed: true},
			wantFailing: []string{"CVE-2021-38561"}, wantIgnored: []string{"FERRY-TEST-0001"}, wantErr: []string{cveMsg}},
		{name: "layout path with colon and at sign", target: Target{LayoutDir: layouts["odd path"]},
			wantFailing: []string{"CVE-2021-38561"}, wantErr: []string{cveMsg}},
		{name: "registry reference", target: Target{ImageRef: remoteRef},
			wantFailing: []string{"CVE-2021-38561"}, wantErr: []string{cveMsg}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var log strings.Builder
			tr := &Trivy{Path: trivyBin, CacheDir: cacheDir, Offline: true, Timeout: 2 * time.Minute, Log: &log}
			start := time.Now()
			r, v, err := Gate(t.Context(), tr, tt.target, tt.policy, testNow())
			t.Logf("scan took %s; gate error: %v", time.Since(start).Round(time.Millisecond), err)
			var se *ScannerError
			if errors.As(err, &se) {
				t.Fatalf("scanner error: %v\nlog:\n%s", err, log.String())
			}
			if r == nil {
				t.Fatalf("no report; err = %v", err)
			}
			if r.Scanner != "trivy" || r.ScannerVersion == "" || r.Target != tt.target.String() || len(r.Raw) == 0 {
				t.Errorf("report header = %q %q %q, %d raw bytes", r.Scanner, r.ScannerVersion, r.Target, len(r.Raw))
			}
			if got := findingIDs(v.Failing); !slices.Equal(got, tt.wantFailing) {
				t.Errorf("failing = %v, want %v", got, tt.wantFailing)
			}
			var ignored []string
			for _, ig := range v.Ignored {
				ignored = append(ignored, ig.Finding.ID)
			}
			if !slices.Equal(ignored, tt.wantIgnored) {
				t.Errorf("ignored = %v, want %v", ignored, tt.wantIgnored)
			}
			if tt.wantErr == nil {
				if err != nil || !v.Passed {
					t.Fatalf("gate failed: %v", err)
				}
				return
			}
			var pe *PolicyError
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want a *PolicyError", err)
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
			if tt.name == "IgnoreUnfixed does not hide fixable findings" && *update {
				if err := os.WriteFile(recordedReport, r.Raw, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func findingIDs(fs []Finding) []string {
	var ids []string
	for _, f := range fs {
		ids = append(ids, f.ID)
	}
	return ids
}

// TestTrivyDBRepository serves the fixture DB from a registry, as a mirror of
// ghcr.io/aquasecurity/trivy-db would, and scans with an empty cache dir.
func TestTrivyDBRepository(t *testing.T) {
	trivyBin := testenv.Trivy(t)
	registry := testenv.Registry(t)
	dbRef := registry + "/mirror/trivy-db:2"
	fixtureDB(t, dbRef)
	layoutDir := writeLayout(t, t.TempDir(), appImage(t, vulnApp(t, "v0.3.6")))

	cacheDir := t.TempDir()
	tr := &Trivy{Path: trivyBin, CacheDir: cacheDir, DBRepository: dbRef, Offline: true, Timeout: 2 * time.Minute}
	start := time.Now()
	r, err := tr.Scan(t.Context(), Target{LayoutDir: layoutDir})
	t.Logf("download and scan took %s", time.Since(start).Round(time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if got := findingIDs(r.Findings); !slices.Equal(got, []string{"CVE-2021-38561"}) {
		t.Errorf("findings = %v", got)
	}
	if _, err := os.Stat(filepath.Join(cacheDir, "db", "trivy.db")); err != nil {
		t.Errorf("DB not downloaded into the cache dir: %v", err)
	}
}

func TestTrivyVersion(t *testing.T) {
	trivyBin := testenv.Trivy(t)
	v, err := (&Trivy{Path: trivyBin}).Version(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.TrimPrefix(pinned.TrivyVersion(), "v"); v != want {
		t.Errorf("Version() = %q, want %q", v, want)
	}
}

// TestTrivyScannerErrors checks that every way the scanner can fail is a *ScannerError,
// never a *PolicyError, with a message that says what happened.
func TestTrivyScannerErrors(t *testing.T) {
	layoutDir := writeLayout(t, t.TempDir(), appImage(t, []byte("not a program")))
	pidFile := filepath.Join(t.TempDir(), "child.pid")

	type check func(t *testing.T, err error, se *ScannerError)
	contains := func(subs ...string) check {
		return func(t *testing.T, err error, _ *ScannerError) {
			t.Helper()
			for _, s := range subs {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
		}
	}
	tests := []struct {
		name   string
		trivy  func(t *testing.T) *Trivy
		target *Target // nil: a valid layout
		checks []check
	}{
		{
			name:   "offline without DB in the cache dir",
			trivy:  func(t *testing.T) *Trivy { return &Trivy{Path: testenv.Trivy(t), CacheDir: t.TempDir(), Offline: true} },
			checks: []check{contains("no vulnerability DB in", "offline mode", "--db-repository", "--download-db-only")},
		},
		{
			name: "offline without DB in trivy's default cache dir",
			trivy: func(t *testing.T) *Trivy {
				return &Trivy{Path: testenv.Trivy(t), Offline: true, Env: []string{"XDG_CACHE_HOME=" + t.TempDir()}}
			},
			checks: []check{contains("no vulnerability DB in trivy's default cache dir", "--db-repository"),
				func(t *testing.T, _ error, se *ScannerError) {
					if se.ExitCode != 1 {
						t.Errorf("exit code = %d, want trivy's 1", se.ExitCode)
					}
				}},
		},
		{
			name: "crash",
			trivy: func(t *testing.T) *Trivy {
				return &Trivy{Path: fakeTrivy(t, "echo 'panic: runtime error: boom' >&2\nexit 2\n")}
			},
			checks: []check{contains("trivy exited with status 2", "panic: runtime error: boom")},
		},
		{
			name:   "killed by a signal",
			trivy:  func(t *testing.T) *Trivy { return &Trivy{Path: fakeTrivy(t, "kill -SEGV $$\n")} },
			checks: []check{contains("trivy was killed by signal segmentation fault")},
		},
		{
			name: "timeout kills the process group",
			trivy: func(t *testing.T) *Trivy {
				return &Trivy{Path: fakeTrivy(t, "sleep 300 &\necho $! > "+pidFile+"\nwait\n"), Timeout: 300 * time.Millisecond}
			},
			checks: []check{contains("trivy timed out after 300ms"),
				func(t *testing.T, err error, _ *ScannerError) {
					if !errors.Is(err, context.DeadlineExceeded) {
						t.Errorf("errors.Is(%v, context.DeadlineExceeded) = false", err)
					}
					b, rerr := os.ReadFile(pidFile)
					if rerr != nil {
						t.Fatal(rerr)
					}
					pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
					if alive(pid) {
						t.Errorf("trivy's child %d outlived the timeout", pid)
					}
				}},
		},
		{
			name: "unreadable report",
			trivy: func(t *testing.T) *Trivy {
				return &Trivy{Path: fakeTrivy(t, `while [ $# -gt 0 ]; do [ "$1" = --output ] && printf 'not json' > "$2"; shift; done`+"\n")}
			},
			checks: []check{contains("unreadable trivy report", "decoding trivy JSON")},
		},
		{
			name:   "missing executable",
			trivy:  func(t *testing.T) *Trivy { return &Trivy{Path: filepath.Join(t.TempDir(), "trivy")} },
			checks: []check{contains("starting ")},
		},
		{
			name:   "not an OCI layout",
			trivy:  func(t *testing.T) *Trivy { return &Trivy{Path: fakeTrivy(t, "exit 0\n")} },
			target: &Target{LayoutDir: "testdata"},
			checks: []check{contains("testdata is not an OCI image layout")},
		},
		{
			name:   "empty target",
			trivy:  func(t *testing.T) *Trivy { return &Trivy{Path: fakeTrivy(t, "exit 0\n")} },
			target: &Target{},
			checks: []check{contains("empty scan target")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := Target{LayoutDir: layoutDir}
			if tt.target != nil {
				target = *tt.target
			}
			_, _, err := Gate(t.Context(), tt.trivy(t), target, Policy{}, testNow())
			t.Logf("error: %v", err)
			var se *ScannerError
			if !errors.As(err, &se) {
				t.Fatalf("err = %v (%T), want a *ScannerError", err, err)
			}
			var pe *PolicyError
			if errors.As(err, &pe) {
				t.Fatalf("err = %v is also a *PolicyError", err)
			}
			if !strings.HasPrefix(err.Error(), "scanner could not run") {
				t.Errorf("error %q does not start with %q", err, "scanner could not run")
			}
			for _, c := range tt.checks {
				c(t, err, se)
			}
		})
	}
}

// TestTrivyCancel cancels a scan once the scanner has started and expects a *ScannerError
// that wraps context.Canceled.
func TestTrivyCancel(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "started")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatalf("mkfifo: %v", err)
	}
	layoutDir := writeLayout(t, t.TempDir(), appImage(t, []byte("x")))
	tr := &Trivy{Path: fakeTrivy(t, "echo started > \"$FAKE_FIFO\"\nexec sleep 300\n"), Env: []string{"FAKE_FIFO=" + fifo}}

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() {
		defer cancel()
		f, err := os.Open(fifo) // blocks until the fake trivy opens it for writing
		if err != nil {
			return
		}
		defer f.Close()
		buf := make([]byte, 16)
		_, _ = f.Read(buf)
	}()
	_, err := tr.Scan(ctx, Target{LayoutDir: layoutDir})
	var se *ScannerError
	if !errors.As(err, &se) || !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want a *ScannerError wrapping context.Canceled", err)
	}
	if !strings.Contains(err.Error(), "scan cancelled") {
		t.Errorf("error %q does not say the scan was cancelled", err)
	}
}

// alive reports whether pid is a live (not zombie) process.
func alive(pid int) bool {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	// pid (comm) state ...
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// TestTrivyArgs checks the command line, environment and working directory Trivy gets, with
// a fake trivy that records them.
func TestTrivyArgs(t *testing.T) {
	rec := t.TempDir()
	fake := fakeTrivy(t, `out=""; prev=""
for a in "$@"; do [ "$prev" = --output ] && out="$a"; prev="$a"; done
printf '%s\n' "$@" > "$FAKE_REC/args"
env | grep '^TRIVY_' | sort > "$FAKE_REC/env"
ls -A > "$FAKE_REC/cwd"
[ -n "$out" ] && printf '{"SchemaVersion":2,"Trivy":{"Version":"0.74.0"}}' > "$out"
exit 0
`)
	// Ambient TRIVY_* variables must not reach trivy: they could filter findings.
	t.Setenv("TRIVY_SEVERITY", "CRITICAL")
	t.Setenv("TRIVY_EXIT_CODE", "1")

	cacheDir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(cacheDir, "db"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cacheDir, "db", "metadata.json"), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	layoutDir := writeLayout(t, t.TempDir(), appImage(t, []byte("x")))
	common := []string{"image", "--format", "json", "--output", "<OUT>", "--scanners", "vuln", "--quiet",
		"--skip-version-check", "--disable-telemetry", "--cache-backend", "memory"}

	tests := []struct {
		name     string
		trivy    Trivy
		target   Target
		wantArgs []string
	}{
		{
			name:     "offline layout",
			trivy:    Trivy{CacheDir: cacheDir, Offline: true},
			target:   Target{LayoutDir: layoutDir},
			wantArgs: []string{"--cache-dir", cacheDir, "--skip-db-update", "--skip-java-db-update", "--offline-scan", "--input", layoutDir},
		},
		{
			name:   "online registry ref with DB mirror",
			trivy:  Trivy{CacheDir: cacheDir, DBRepository: "mirror.example.com/trivy-db:2", Insecure: true, Timeout: 90 * time.Second},
			target: Target{ImageRef: "registry.example.com/app@sha256:abc"},
			wantArgs: []string{"--cache-dir", cacheDir, "--timeout", "1m30s", "--insecure", "--db-repository", "mirror.example.com/trivy-db:2",
				"--image-src", "remote", "registry.example.com/app@sha256:abc"},
		},
		{
			name:   "offline with DB mirror",
			trivy:  Trivy{DBRepository: "mirror.example.com/trivy-db:2", Offline: true},
			target: Target{LayoutDir: layoutDir},
			wantArgs: []string{"--db-repository", "mirror.example.com/trivy-db:2", "--skip-java-db-update", "--offline-scan",
				"--input", layoutDir},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var log strings.Builder
			tr := tt.trivy
			tr.Path, tr.Log = fake, &log
			tr.Env = []string{"FAKE_REC=" + rec, "TRIVY_PASSWORD=s3cret"}
			r, err := tr.Scan(t.Context(), tt.target)
			if err != nil {
				t.Fatal(err)
			}
			if r.ScannerVersion != "0.74.0" || r.Target != tt.target.String() {
				t.Errorf("report %q %q", r.ScannerVersion, r.Target)
			}
			read := func(name string) string {
				b, err := os.ReadFile(filepath.Join(rec, name))
				if err != nil {
					t.Fatal(err)
				}
				return string(b)
			}
			args := strings.Split(strings.TrimSuffix(read("args"), "\n"), "\n")
			for i := range args {
				if i > 0 && args[i-1] == "--output" {
					args[i] = "<OUT>"
				}
			}
			if diff := cmpStrings(append(slices.Clone(common), tt.wantArgs...), args); diff != "" {
				t.Errorf("args:\n%s", diff)
			}
			if got := read("env"); got != "TRIVY_PASSWORD=s3cret\n" {
				t.Errorf("trivy saw TRIVY_* env %q, want only the one from Env", got)
			}
			if got := read("cwd"); got != "" {
				t.Errorf("trivy's working directory is not empty: %q", got)
			}
			if strings.Contains(log.String(), "s3cret") {
				t.Errorf("log shows a secret: %s", log.String())
			}
			if !strings.Contains(log.String(), "--format json") {
				t.Errorf("log does not show the command: %q", log.String())
			}
		})
	}
}

func cmpStrings(want, got []string) string {
	if slices.Equal(want, got) {
		return ""
	}
	return "got:  " + strings.Join(got, " ") + "\nwant: " + strings.Join(want, " ")
}
