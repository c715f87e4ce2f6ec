package scan

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/ferry-ci/ferry/internal/pinned"
	"github.com/ferry-ci/ferry/pipeline"
	"github.com/ferry-ci/ferry/pipeline/config"
)

// Stage is the scan stage: it scans the image the image stage built and applies the
// service's policy from ferry.yaml.
type Stage struct {
	// ReportDir, when set, receives <service>.trivy.json and <service>.sarif of every scan.
	ReportDir string
	// ToolsDir is where `make tools` puts the pinned trivy (pinned.TrivyPath); used when the
	// config names no path and trivy is not on PATH.
	ToolsDir string
	// Now is the clock that ignore expiries are checked against.
	Now func() time.Time
}

var (
	_ pipeline.Stage       = (*Stage)(nil)
	_ pipeline.Skipper     = (*Stage)(nil)
	_ pipeline.Cacheable   = (*Stage)(nil)
	_ pipeline.DryRunner   = (*Stage)(nil)
	_ pipeline.Verifier    = (*Stage)(nil)
	_ pipeline.FileOutputs = (*Stage)(nil)
)

// Name is scan.
func (s *Stage) Name() string { return config.StageScan }

func (s *Stage) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Skip skips services without an image.
func (s *Stage) Skip(job *pipeline.Job) (string, bool) {
	if job.Service == nil || job.Service.Image == nil {
		return "no image section", true
	}
	return "", false
}

// DryRun says what would be scanned with which policy.
func (s *Stage) DryRun(job *pipeline.Job) string {
	p := job.Config.ScanPolicyFor(job.Service)
	return fmt.Sprintf("scan the built image with trivy, fail on %s and above (%d ignore entries)", orDefault(p.FailOn, string(DefaultFailOn)), len(p.Ignore))
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// trivy builds the scanner from the policy's trivy settings.
func (s *Stage) trivy(job *pipeline.Job) *Trivy {
	opt := job.Config.ScanPolicyFor(job.Service).Trivy
	t := &Trivy{Path: opt.Path, CacheDir: opt.CacheDir, Offline: opt.Offline, DBRepository: opt.DBRepository,
		Timeout: opt.Timeout, Log: job.Log}
	if t.Path == "" {
		if _, err := exec.LookPath("trivy"); err != nil && s.ToolsDir != "" {
			path := pinned.TrivyPath(s.ToolsDir)
			if _, err := os.Stat(path); err == nil {
				t.Path = path
			}
		}
	}
	return t
}

// policy turns the config's policy into the gate's.
func policy(p config.ScanPolicy) (Policy, error) {
	out := Policy{IgnoreUnfixed: p.IgnoreUnfixed}
	if p.FailOn != "" {
		sev, err := ParseSeverity(p.FailOn)
		if err != nil {
			return Policy{}, err
		}
		out.FailOn = sev
	}
	for _, ig := range p.Ignore {
		out.Ignore = append(out.Ignore, Ignore{ID: ig.ID, Reason: ig.Reason, Expires: ig.Expires})
	}
	return out, nil
}

// Run scans the image layout of the image stage and applies the policy. The report is kept
// with the run (and copied to ReportDir when set) whether the gate passes or not.
func (s *Stage) Run(ctx context.Context, job *pipeline.Job) error {
	img, ok := job.Pipeline.Output(config.StageImage)
	if !ok || img.Image == nil {
		return pipeline.Permanent(errors.New("no image to scan: the image stage did not produce one"))
	}
	pol, err := policy(job.Config.ScanPolicyFor(job.Service))
	if err != nil {
		return pipeline.Permanent(err)
	}
	t := s.trivy(job)
	report, verdict, gateErr := Gate(ctx, t, Target{LayoutDir: img.Image.Layout}, pol, s.now())
	if report != nil {
		if err := s.keep(job, report, verdict); err != nil {
			return err
		}
		if err := WriteSummary(job.Log, report, verdict, "text"); err != nil {
			return err
		}
		out := &pipeline.ScanOutput{Passed: verdict.Passed, Counts: map[string]int{},
			Report: filepath.Join(job.Dir, "trivy.json"), Scanner: "trivy " + report.ScannerVersion}
		for sev, n := range verdict.Counts {
			out.Counts[string(sev)] = n
		}
		for _, f := range verdict.Failing {
			out.Failing = append(out.Failing, fmt.Sprintf("%s %s %s %s", f.Severity, f.ID, f.Package, f.InstalledVersion))
		}
		job.Outputs.Scan = out
	}
	var pe *PolicyError
	if errors.As(gateErr, &pe) {
		return pipeline.Permanent(gateErr)
	}
	var se *ScannerError
	if gateErr != nil && !errors.As(gateErr, &se) {
		return pipeline.Permanent(gateErr) // an invalid policy
	}
	return gateErr
}

// keep writes the report as Trivy JSON and SARIF into the stage folder and ReportDir.
func (s *Stage) keep(job *pipeline.Job, r *Report, v Verdict) error {
	dirs := []string{job.Dir}
	if s.ReportDir != "" {
		dirs = append(dirs, s.ReportDir)
	}
	for i, dir := range dirs {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("save scan report: %w", err)
		}
		jsonName, sarifName := "trivy.json", "scan.sarif"
		if i > 0 {
			jsonName, sarifName = job.Pipeline.Name+".trivy.json", job.Pipeline.Name+".sarif"
		}
		if err := os.WriteFile(filepath.Join(dir, jsonName), r.Raw, 0o644); err != nil {
			return fmt.Errorf("save scan report: %w", err)
		}
		f, err := os.Create(filepath.Join(dir, sarifName))
		if err != nil {
			return fmt.Errorf("save SARIF: %w", err)
		}
		werr := WriteSARIF(f, r, v)
		if err := errors.Join(werr, f.Close()); err != nil {
			return fmt.Errorf("save SARIF: %w", err)
		}
	}
	return nil
}

// Inputs: the image digest, the policy with which ignore entries are still valid now, the
// scanner version and the vulnerability DB's metadata — a new DB means new findings.
func (s *Stage) Inputs(ctx context.Context, job *pipeline.Job) ([]byte, error) {
	img, ok := job.Pipeline.Output(config.StageImage)
	if !ok || img.Image == nil {
		return nil, errors.New("no image")
	}
	t := s.trivy(job)
	version, err := t.Version(ctx)
	if err != nil {
		return nil, err
	}
	meta, err := os.ReadFile(filepath.Join(dbCacheDir(t.CacheDir), "db", "metadata.json"))
	if err != nil {
		return nil, fmt.Errorf("vulnerability DB metadata: %w", err)
	}
	p := job.Config.ScanPolicyFor(job.Service)
	active := map[string]bool{}
	for _, ig := range p.Ignore {
		active[ig.ID] = s.now().Before(ig.Expires)
	}
	// The keys name the inputs when a miss says what changed.
	return json.Marshal(map[string]any{"image": img.Image.Digest, "scan policy": p, "active ignores": active,
		"trivy version": version, "vulnerability DB": json.RawMessage(meta)})
}

// reportFiles are the files keep writes into the stage folder.
var reportFiles = []string{"trivy.json", "scan.sarif"}

// OutputFiles is the report (Trivy JSON and SARIF) in this job's stage folder.
func (s *Stage) OutputFiles(job *pipeline.Job, out pipeline.Outputs) ([]pipeline.OutputRoot, pipeline.Outputs, error) {
	if out.Scan == nil || out.Scan.Report == "" {
		return nil, out, nil
	}
	sc := *out.Scan
	sc.Report = filepath.Join(job.Dir, reportFiles[0])
	out.Scan = &sc
	return []pipeline.OutputRoot{{Name: "report", Dir: job.Dir, Files: reportFiles}}, out, nil
}

// Verify checks that the report is there: a reused verdict comes with the report it is from.
func (s *Stage) Verify(ctx context.Context, job *pipeline.Job, out pipeline.Outputs) error {
	if out.Scan == nil || out.Scan.Report == "" {
		return nil
	}
	if _, err := os.Stat(out.Scan.Report); err != nil {
		return fmt.Errorf("report %s is gone", out.Scan.Report)
	}
	return nil
}

// dbCacheDir is where Trivy keeps its DB: the configured folder or Trivy's default.
func dbCacheDir(dir string) string {
	if dir != "" {
		return dir
	}
	if xdg := os.Getenv("XDG_CACHE_HOME"); xdg != "" {
		return filepath.Join(xdg, "trivy")
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "trivy")
}
