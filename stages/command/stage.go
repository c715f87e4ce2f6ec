package command

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/ferry-ci/ferry/pipeline"
	"github.com/ferry-ci/ferry/pipeline/config"
)

// Stage runs one of a service's commands: build or test.
type Stage struct {
	name string
	pick func(*config.Service) *config.Command
	// Grace is how long a cancelled command gets between SIGTERM and SIGKILL.
	Grace time.Duration
}

var (
	_ pipeline.Stage       = (*Stage)(nil)
	_ pipeline.Skipper     = (*Stage)(nil)
	_ pipeline.Cacheable   = (*Stage)(nil)
	_ pipeline.Verifier    = (*Stage)(nil)
	_ pipeline.DryRunner   = (*Stage)(nil)
	_ pipeline.FileOutputs = (*Stage)(nil)
)

// Build is the build stage: the service's build command.
func Build() *Stage {
	return &Stage{name: config.StageBuild, pick: func(s *config.Service) *config.Command { return s.Build }, Grace: 10 * time.Second}
}

// Test is the test stage: the service's test command. Tests are never retried.
func Test() *Stage {
	return &Stage{name: config.StageTest, pick: func(s *config.Service) *config.Command { return s.Test }, Grace: 10 * time.Second}
}

// Name is build or test.
func (s *Stage) Name() string { return s.name }

// Skip skips services without the command.
func (s *Stage) Skip(job *pipeline.Job) (string, bool) {
	if job.Service == nil || s.pick(job.Service) == nil {
		return fmt.Sprintf("no %s command", s.name), true
	}
	return "", false
}

// DryRun says what would run where.
func (s *Stage) DryRun(job *pipeline.Job) string {
	p, err := Prepare(s.pick(job.Service))
	if err != nil {
		return err.Error()
	}
	how := "directly"
	if p.Shell {
		how = "with sh -c"
	}
	return fmt.Sprintf("run %s in %s (%s)", p, job.Service.Path, how)
}

// Run runs the command in the service folder and records the files it created or changed
// there, so that a cached result is reused only while they are still in place.
func (s *Stage) Run(ctx context.Context, job *pipeline.Job) error {
	p, err := Prepare(s.pick(job.Service))
	if err != nil {
		return pipeline.Permanent(err)
	}
	before, err := snapshot(job.ServiceDir)
	if err != nil {
		return err
	}
	fmt.Fprintf(job.Log, "$ %s\n", p)
	if err := Run(ctx, p, job.ServiceDir, job.Environ, job.Log, s.Grace); err != nil {
		return err
	}
	files, err := s.outputs(job, before)
	if err != nil {
		return err
	}
	if len(files) > 0 {
		job.Outputs.Build = &pipeline.BuildOutput{Files: files}
		if s.declared(job) != nil {
			fmt.Fprintf(job.Log, "%s outputs %s: %d files\n", s.name, strings.Join(s.declared(job), ", "), len(files))
		} else {
			fmt.Fprintf(job.Log, "%s created or changed %d files\n", s.name, len(files))
		}
	}
	return nil
}

// declared is the service's outputs for the build stage (nil: not declared). Tests declare none.
func (s *Stage) declared(job *pipeline.Job) []string {
	if s.name != config.StageBuild {
		return nil
	}
	return job.Service.Outputs
}

// outputs digests what the command produced: every file under the declared outputs, which
// must exist, or else the files it created or changed in the service folder.
func (s *Stage) outputs(job *pipeline.Job, before map[string]fileStamp) (map[string]string, error) {
	files := map[string]string{}
	if decl := s.declared(job); decl != nil {
		for _, o := range decl {
			under, err := snapshot(filepath.Join(job.ServiceDir, filepath.FromSlash(o)))
			if errors.Is(err, fs.ErrNotExist) {
				return nil, pipeline.Permanent(fmt.Errorf("outputs: %s does not exist after the %s command", o, s.name))
			}
			if err != nil {
				return nil, err
			}
			for rel := range under {
				name := path.Join(o, rel)
				if rel == "." {
					name = o // the output is a file
				}
				if files[name], err = fileDigest(filepath.Join(job.ServiceDir, filepath.FromSlash(name))); err != nil {
					return nil, fmt.Errorf("record output %s: %w", name, err)
				}
			}
		}
		return files, nil
	}
	after, err := snapshot(job.ServiceDir)
	if err != nil {
		return nil, err
	}
	for rel, st := range after {
		if b, ok := before[rel]; ok && b == st {
			continue
		}
		sum, err := fileDigest(filepath.Join(job.ServiceDir, rel))
		if err != nil {
			return nil, fmt.Errorf("record output %s: %w", rel, err)
		}
		files[rel] = sum
	}
	return files, nil
}

// OutputFiles are the recorded files in the service folder: one root per declared output
// (named by it), or one root "." of the files the command created or changed.
func (s *Stage) OutputFiles(job *pipeline.Job, out pipeline.Outputs) ([]pipeline.OutputRoot, pipeline.Outputs, error) {
	if out.Build == nil || len(out.Build.Files) == 0 {
		return nil, out, nil
	}
	names := slices.Sorted(maps.Keys(out.Build.Files))
	decl := s.declared(job)
	if decl == nil {
		return []pipeline.OutputRoot{{Name: ".", Dir: job.ServiceDir, Files: names}}, out, nil
	}
	var roots []pipeline.OutputRoot
	for _, o := range decl {
		dir := filepath.Join(job.ServiceDir, filepath.FromSlash(o))
		r := pipeline.OutputRoot{Name: o, Dir: dir}
		for _, n := range names {
			switch {
			case n == o: // a file: kept under its own name in its folder
				r.Dir, r.Files = filepath.Dir(dir), []string{path.Base(o)}
			case strings.HasPrefix(n, o+"/"):
				r.Files = append(r.Files, strings.TrimPrefix(n, o+"/"))
			}
		}
		roots = append(roots, r)
	}
	return roots, out, nil
}

// Inputs add the command and the identity of the program it starts (path, size, time), a
// cheap stand-in for the tool's version.
func (s *Stage) Inputs(ctx context.Context, job *pipeline.Job) ([]byte, error) {
	p, err := Prepare(s.pick(job.Service))
	if err != nil {
		return nil, err
	}
	tool := map[string]any{"command": p.Args}
	if path, err := exec.LookPath(p.Args[0]); err == nil {
		if st, err := os.Stat(path); err == nil {
			tool["tool"] = map[string]any{"path": path, "size": st.Size(), "mtime": st.ModTime().UnixNano()}
		}
	}
	if s.name == config.StageTest {
		// Tests test what the build produced.
		if out, ok := job.Pipeline.Output(config.StageBuild); ok {
			tool["build outputs"] = out.Build
		}
	}
	return json.Marshal(tool)
}

// Verify checks that the recorded files are still there, unchanged.
func (s *Stage) Verify(ctx context.Context, job *pipeline.Job, out pipeline.Outputs) error {
	if out.Build == nil {
		return nil
	}
	for _, rel := range slices.Sorted(maps.Keys(out.Build.Files)) {
		sum, err := fileDigest(filepath.Join(job.ServiceDir, filepath.FromSlash(rel)))
		if err != nil {
			return fmt.Errorf("%s is gone", rel)
		}
		if sum != out.Build.Files[rel] {
			return fmt.Errorf("%s changed", rel)
		}
	}
	return nil
}

type fileStamp struct {
	size  int64
	mtime int64
	mode  fs.FileMode
}

// snapshot lists the regular files under dir with size, mtime and mode.
func snapshot(dir string) (map[string]fileStamp, error) {
	out := map[string]fileStamp{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".git" {
			return filepath.SkipDir
		}
		if !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		out[filepath.ToSlash(rel)] = fileStamp{size: info.Size(), mtime: info.ModTime().UnixNano(), mode: info.Mode()}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list files in %s: %w", dir, err)
	}
	return out, nil
}

func fileDigest(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// Finally runs the config's finally command at the repository root when a run stops, with
// FERRY_RUN_ID and FERRY_RUN_STATUS, for notifications and reports.
func Finally(c *config.Command, root string, environ []string) func(ctx context.Context, run *pipeline.Run, log io.Writer) error {
	return func(ctx context.Context, run *pipeline.Run, log io.Writer) error {
		p, err := Prepare(c)
		if err != nil {
			return err
		}
		env := append(append([]string(nil), environ...), "FERRY_RUN_ID="+run.ID, "FERRY_RUN_STATUS="+string(run.Status()))
		fmt.Fprintf(log, "$ %s\n", p)
		return Run(ctx, p, root, env, log, 10*time.Second)
	}
}
