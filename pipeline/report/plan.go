// Package report renders what Ferry decides and does for people and CI systems: plans (text,
// JSON, GitHub and Azure job matrices) and run events (terminal, GitHub Actions, Azure
// Pipelines, JSON lines), with secrets masked before anything is written.
package report

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/ferry-ci/ferry/pipeline"
	"github.com/ferry-ci/ferry/triggers"
)

// PlanFormats returns the accepted values of ferry plan --output.
func PlanFormats() []string { return []string{"text", "json", "github-matrix", "azure-matrix"} }

// PlanOptions tune how a plan is rendered.
type PlanOptions struct {
	// Matrix shards the github-matrix and azure-matrix forms.
	Matrix MatrixOptions
	// Explain adds to the text form, for every service, whether it is included and which rule
	// decided it. The JSON form always has it: services and unaffected.
	Explain bool
}

// WritePlan renders a plan in one of PlanFormats.
func WritePlan(w io.Writer, p *pipeline.Plan, format string, o PlanOptions) error {
	switch format {
	case "text", "":
		if err := writePlanText(w, p); err != nil || !o.Explain {
			return err
		}
		return writeExplain(w, p)
	case "json":
		return writeJSON(w, planJSON(p))
	case "github-matrix":
		return writeJSON(w, GitHubMatrix(p, o.Matrix))
	case "azure-matrix":
		return writeJSON(w, AzureMatrix(p, o.Matrix))
	}
	return fmt.Errorf("unknown output format %q (expected one of: %s)", format, strings.Join(PlanFormats(), ", "))
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// jsonPlan is the stable JSON shape of a plan. Changed paths are counted, not listed: a
// new branch can change 100k files. Every service of the config is in services (with the
// reasons it runs) or in unaffected (with the rule that left it out).
type jsonPlan struct {
	Event      triggers.Event         `json:"event"`
	Trigger    string                 `json:"trigger"`
	Reason     string                 `json:"reason"`
	Changes    jsonChanges            `json:"changes"`
	Services   []pipeline.ServicePlan `json:"services"`
	Unaffected []triggers.Unaffected  `json:"unaffected"`
}

type jsonChanges struct {
	Count  int    `json:"count"`
	All    bool   `json:"all"`
	From   string `json:"from,omitempty"`
	To     string `json:"to,omitempty"`
	Reason string `json:"reason"`
	// Fetches are the git fetches a shallow checkout needed.
	Fetches []triggers.Fetch `json:"fetches,omitempty"`
}

func planJSON(p *pipeline.Plan) jsonPlan {
	services := p.Services
	if services == nil {
		services = []pipeline.ServicePlan{}
	}
	unaffected := p.Unaffected
	if unaffected == nil {
		unaffected = []triggers.Unaffected{}
	}
	return jsonPlan{
		Event: p.Event, Trigger: p.Trigger, Reason: p.Reason, Services: services, Unaffected: unaffected,
		Changes: jsonChanges{Count: len(p.Changes.Paths), All: p.Changes.All, From: p.Changes.From, To: p.Changes.To, Reason: p.Changes.Reason, Fetches: p.Changes.Fetches},
	}
}

func writePlanText(w io.Writer, p *pipeline.Plan) error {
	ev := p.Event
	fmt.Fprintf(w, "event:   %s %s", ev.Kind, ev.Ref)
	if ev.Kind == triggers.PullRequest {
		fmt.Fprintf(w, " into %s", ev.Base)
	}
	fmt.Fprintf(w, " (%s)\n", ev.Source)
	fmt.Fprintf(w, "changes: %d paths, %s\n", len(p.Changes.Paths), p.Changes.Reason)
	for _, f := range p.Changes.Fetches {
		status := "ok"
		if f.Error != "" {
			status = "failed: " + f.Error
		}
		fmt.Fprintf(w, "fetched: %s (%s, %s)\n", f.Command, f.Took, status)
	}
	if p.Trigger != "" {
		fmt.Fprintf(w, "trigger: %s (%s)\n", p.Trigger, p.Reason)
	} else {
		fmt.Fprintf(w, "trigger: none (%s)\n", p.Reason)
	}
	if len(p.Services) == 0 {
		_, err := fmt.Fprintln(w, "\nno services affected")
		return err
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tPIPELINE\tVERSION\tSTAGES")
	for _, s := range p.Services {
		version := s.Version
		if version == "" {
			version = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.Name, s.Pipeline, version, joinStages(s.Stages, " > "))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	for _, s := range p.Services {
		fmt.Fprintf(w, "%s:\n", s.Name)
		for _, r := range s.Reasons {
			fmt.Fprintf(w, "  - %s\n", r)
		}
	}
	return nil
}

// writeExplain lists every service with the decision about it: the included ones with the
// reasons they run, then the others with the rule that left them out.
func writeExplain(w io.Writer, p *pipeline.Plan) error {
	var b strings.Builder
	b.WriteString("\nexplain:\n")
	for _, s := range p.Services {
		fmt.Fprintf(&b, "  %s: included — %s\n", s.Name, strings.Join(s.Reasons, "; "))
	}
	for _, u := range p.Unaffected {
		fmt.Fprintf(&b, "  %s: not affected — %s\n", u.Name, u.Reason)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func joinStages(ids []pipeline.StageID, sep string) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = string(id)
	}
	return strings.Join(s, sep)
}

// MatrixEntry is one job of a CI matrix: one service's pipeline, or a shard of several
// services when the plan has more services than a matrix may have jobs. Services always
// lists what the job runs (space-separated names, each passed as --service NAME), so that
// one workflow serves both shapes; Service is the service, or the shard's name (shard-001)
// for the job's title.
type MatrixEntry struct {
	Service  string `json:"service"`
	Services string `json:"services"`
	Pipeline string `json:"pipeline"`
	Version  string `json:"version"`
	Stages   string `json:"stages"`
}

// matrixEntries are the plan's jobs. A plan has one trigger, so the services of a shard share
// its pipeline and stages; a release plan has one service, so a shard never mixes versions.
func matrixEntries(p *pipeline.Plan, o MatrixOptions) []MatrixEntry {
	groups := shards(p, o)
	sharded := o.Sharded(p)
	out := make([]MatrixEntry, len(groups))
	for i, g := range groups {
		names := make([]string, len(g))
		for j, s := range g {
			names[j] = s.Name
		}
		first := g[0]
		e := MatrixEntry{Service: first.Name, Services: strings.Join(names, " "), Pipeline: first.Pipeline,
			Version: first.Version, Stages: joinStages(first.Stages, ",")}
		if sharded {
			e.Service = shardName(i, len(groups))
		}
		out[i] = e
	}
	return out
}

// GitHubMatrixValue is the value for strategy.matrix in GitHub Actions: {"include": [...]}.
// With no services the list is empty; guard the job with
// `if: needs.plan.outputs.count != '0'` since GitHub rejects a matrix without jobs.
type GitHubMatrixValue struct {
	Include []MatrixEntry `json:"include"`
}

// GitHubMatrix is the plan as a GitHub Actions job matrix.
func GitHubMatrix(p *pipeline.Plan, o MatrixOptions) GitHubMatrixValue {
	return GitHubMatrixValue{Include: matrixEntries(p, o)}
}

// AzureMatrix is the plan as an Azure Pipelines matrix: one entry per job name, each a map of
// variables. With no services it is {}; guard the job with a condition on the count variable.
func AzureMatrix(p *pipeline.Plan, o MatrixOptions) map[string]MatrixEntry {
	m := map[string]MatrixEntry{}
	for _, e := range matrixEntries(p, o) {
		m[azureJobName(e.Service)] = e
	}
	return m
}

// azureJobName makes a service name a valid Azure matrix job name (letters, digits, _).
func azureJobName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' {
			return r
		}
		return '_'
	}, s)
}

// PlanOutputs are the values a plan exports to CI: matrix (GitHub or Azure shape, sharded as
// o says), services (a JSON list of names) and count (of services, not of jobs).
func PlanOutputs(p *pipeline.Plan, ci string, o MatrixOptions) map[string]string {
	var matrix []byte
	if ci == triggers.SourceAzure {
		matrix, _ = json.Marshal(AzureMatrix(p, o))
	} else {
		matrix, _ = json.Marshal(GitHubMatrix(p, o))
	}
	names, _ := json.Marshal(append([]string{}, p.ServiceNames()...))
	return map[string]string{
		"matrix":   string(matrix),
		"services": string(names),
		"count":    fmt.Sprint(len(p.Services)),
	}
}

// WriteGitHubOutputs appends name=value lines to a $GITHUB_OUTPUT file. Values are single-line
// JSON, so the simple form is safe.
func WriteGitHubOutputs(w io.Writer, outputs map[string]string) error {
	for _, k := range slices.Sorted(maps.Keys(outputs)) {
		if strings.ContainsAny(outputs[k], "\r\n") {
			return fmt.Errorf("output %s: value has a line break", k)
		}
		if _, err := fmt.Fprintf(w, "%s=%s\n", k, outputs[k]); err != nil {
			return fmt.Errorf("write GITHUB_OUTPUT: %w", err)
		}
	}
	return nil
}

// WriteAzureOutputs prints ##vso[task.setvariable] logging commands that make the values
// output variables of the step (isOutput=true), readable by later jobs.
func WriteAzureOutputs(w io.Writer, outputs map[string]string) error {
	for _, k := range slices.Sorted(maps.Keys(outputs)) {
		if _, err := fmt.Fprintf(w, "##vso[task.setvariable variable=%s;isOutput=true]%s\n", k, azureEscape(outputs[k])); err != nil {
			return err
		}
	}
	return nil
}

// azureEscape escapes a logging command value the way the Azure Pipelines agent unescapes it.
func azureEscape(s string) string {
	return strings.NewReplacer("%", "%AZP25", "\r", "%0D", "\n", "%0A").Replace(s)
}
