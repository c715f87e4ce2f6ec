package report

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/ferry-ci/ferry/pipeline"
	"github.com/ferry-ci/ferry/pipeline/config"
)

// Release is one service's release record: the chain from the commit to what runs in each
// environment, as `ferry status -o json` and the CI summaries show it.
type Release struct {
	Service string `json:"service"`
	Version string `json:"version,omitempty"`
	Commit  string `json:"commit"`
	// Image is the pushed image, REGISTRY/<service>@sha256:…, and Digest its digest.
	Image  string       `json:"image,omitempty"`
	Digest string       `json:"digest,omitempty"`
	Scan   *ReleaseScan `json:"scan,omitempty"`
	Chart  string       `json:"chart,omitempty"`
	// Environments are in the order the pipeline reaches them.
	Environments []ReleaseEnv `json:"environments,omitempty"`
}

// ReleaseScan is the scan gate's verdict.
type ReleaseScan struct {
	Passed  bool   `json:"passed"`
	Verdict string `json:"verdict"`
}

// ReleaseEnv is what reached one environment.
type ReleaseEnv struct {
	Name      string            `json:"name"`
	Approvals []ReleaseApproval `json:"approvals,omitempty"`
	// Image and Digest are what the environment runs: the promoted copy or the pushed image.
	Image  string `json:"image,omitempty"`
	Digest string `json:"digest,omitempty"`
	// SameDigest says the environment's digest is the pushed (scanned, QA-tested) one.
	SameDigest bool     `json:"sameDigest"`
	Chart      string   `json:"chart,omitempty"`
	Evidence   []string `json:"evidence,omitempty"`
	Namespace  string   `json:"namespace,omitempty"`
	Revision   int      `json:"revision,omitempty"`
	Status     string   `json:"status"`
}

// ReleaseApproval is one approver the gate counted.
type ReleaseApproval struct {
	By      string    `json:"by"`
	At      time.Time `json:"at,omitzero"`
	Key     string    `json:"key,omitempty"`
	Comment string    `json:"comment,omitempty"`
}

// Releases are the release records of the services of a run that pushed an image or
// deployed, by service.
func Releases(run *pipeline.Run) map[string]Release {
	out := map[string]Release{}
	for _, svc := range run.Services {
		if r, ok := release(run, svc); ok {
			out[svc.Name] = r
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func release(run *pipeline.Run, svc *pipeline.ServiceRun) (Release, bool) {
	r := Release{Service: svc.Name, Version: svc.Version, Commit: run.Event.After}
	if o, ok := svc.Output(config.StagePush); ok && o.Push != nil {
		r.Image, r.Digest = o.Push.Ref, o.Push.Digest
	}
	if o, ok := svc.Output(config.StageScan); ok && o.Scan != nil {
		r.Scan = &ReleaseScan{Passed: o.Scan.Passed, Verdict: o.Scan.String()}
	}
	if o, ok := svc.Output(config.StageChart); ok && o.Chart != nil {
		r.Chart = o.Chart.Ref
	}
	for _, name := range environments(svc) {
		r.Environments = append(r.Environments, releaseEnv(run, svc, name, r))
	}
	return r, r.Image != "" || len(r.Environments) > 0
}

// environments are the environments the service's stages name, in plan order.
func environments(svc *pipeline.ServiceRun) []string {
	var out []string
	for _, st := range svc.Stages {
		if env := st.ID.Env(); env != "" && !containsString(out, env) {
			out = append(out, env)
		}
	}
	return out
}

func releaseEnv(run *pipeline.Run, svc *pipeline.ServiceRun, name string, r Release) ReleaseEnv {
	e := ReleaseEnv{Name: name, Image: r.Image, Digest: r.Digest, Chart: r.Chart, Status: string(pipeline.Pending)}
	if st := svc.Stage(pipeline.NewStageID(config.StageApprove, name)); st != nil && st.Outputs.Approve != nil {
		e.Approvals = approvalsOf(run, svc.Name, name, st.Outputs.Approve.By)
	}
	if st := svc.Stage(pipeline.NewStageID(config.StagePromote, name)); st != nil && st.Outputs.Promote != nil {
		p := st.Outputs.Promote
		e.Image, e.Digest, e.Evidence = p.Ref, p.Digest, p.Evidence
		if p.Chart != nil {
			e.Chart = p.Chart.Ref
		}
	}
	deploy := svc.Stage(pipeline.NewStageID(config.StageDeploy, name))
	if deploy != nil {
		e.Status = string(deploy.Status)
		if d := deploy.Outputs.Deploy; d != nil {
			e.Namespace, e.Revision, e.Image = d.Namespace, d.Revision, d.Image
			if _, digest, ok := strings.Cut(d.Image, "@"); ok {
				e.Digest = digest
			}
		}
	}
	e.SameDigest = e.Digest != "" && e.Digest == r.Digest
	return e
}

// approvalsOf are the counted approvers with when and with which key they approved.
func approvalsOf(run *pipeline.Run, service, env string, by []string) []ReleaseApproval {
	var out []ReleaseApproval
	for _, p := range by {
		a := ReleaseApproval{By: p}
		for _, rec := range run.Approvals {
			if rec.Env == env && rec.By == p && (rec.Service == "" || rec.Service == service) && rec.Decision != "reject" {
				a.At, a.Key, a.Comment = rec.At, rec.Key, rec.Comment
			}
		}
		out = append(out, a)
	}
	return out
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// writeReleaseMarkdown writes the release records as a list of chains, for job summaries.
func writeReleaseMarkdown(b *bytes.Buffer, releases map[string]Release) {
	if len(releases) == 0 {
		return
	}
	names := make([]string, 0, len(releases))
	for n := range releases {
		names = append(names, n)
	}
	sort.Strings(names)
	b.WriteString("\n#### Release\n\n")
	for _, n := range names {
		r := releases[n]
		var parts []string
		if r.Commit != "" {
			parts = append(parts, "commit `"+shortSHA(r.Commit)+"`")
		}
		if r.Digest != "" {
			parts = append(parts, "image `"+r.Digest+"`")
		}
		if r.Scan != nil {
			parts = append(parts, "scan "+r.Scan.Verdict)
		}
		for _, e := range r.Environments {
			parts = append(parts, envChain(e)...)
		}
		fmt.Fprintf(b, "- **%s** %s: %s\n", mdCell(r.Service), mdCell(r.Version), mdCell(strings.Join(parts, " → ")))
	}
}

func envChain(e ReleaseEnv) []string {
	var parts []string
	if len(e.Approvals) > 0 {
		by := make([]string, 0, len(e.Approvals))
		for _, a := range e.Approvals {
			by = append(by, a.By)
		}
		parts = append(parts, e.Name+" approved by "+strings.Join(by, ", "))
	}
	if e.Revision > 0 {
		same := ""
		if e.SameDigest {
			same = ", the pushed digest"
		}
		parts = append(parts, fmt.Sprintf("%s revision %d (`%s`%s)", e.Name, e.Revision, e.Digest, same))
	} else {
		parts = append(parts, e.Name+" "+e.Status)
	}
	return parts
}
