package report

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ferry-ci/ferry/pipeline"
	"github.com/ferry-ci/ferry/pipeline/config"
)

// WriteDryRun prints what each stage would do.
func WriteDryRun(w io.Writer, steps []pipeline.DryRunStep) error {
	if len(steps) == 0 {
		_, err := fmt.Fprintln(w, "dry run: nothing to run")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tSTAGE\tWOULD")
	for _, s := range steps {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", s.Service, s.Stage, s.Action)
	}
	return tw.Flush()
}

// WriteRunStatus prints a run: its event, and every stage with state, timing and outputs.
func WriteRunStatus(w io.Writer, run *pipeline.Run, format string) error {
	if format == "json" {
		return writeJSON(w, runJSON(run))
	}
	fmt.Fprintf(w, "run:     %s (%s)\n", run.ID, run.Status())
	fmt.Fprintf(w, "created: %s\n", run.Created.Format(time.RFC3339))
	fmt.Fprintf(w, "event:   %s %s %s\n", run.Event.Kind, run.Event.Ref, shortSHA(run.Event.After))
	if run.Owner != nil {
		fmt.Fprintf(w, "owner:   pid %d on %s\n", run.Owner.PID, run.Owner.Host)
	}
	if ids := run.Options.Requester; len(ids) > 0 {
		names := make([]string, 0, len(ids))
		for _, id := range ids {
			names = append(names, fmt.Sprintf("%s (%s)", id.Name, id.Source))
		}
		fmt.Fprintf(w, "requester: %s\n", strings.Join(names, ", "))
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tSTAGE\tSTATE\tDURATION\tOUTPUTS / REASON")
	for _, svc := range run.Services {
		for _, s := range svc.Stages {
			detail := s.Outputs.String()
			if s.Reason != "" {
				if detail != "" {
					detail += "; "
				}
				detail += s.Reason
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", svc.Name, s.ID, s.Status, formatDuration(s.Duration()), detail)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, g := range runGates(run) {
		writeGate(w, g)
	}
	return nil
}

// gate is one approval gate of one service with its audit trail: the decisions the gate
// judged when it last ran, and those recorded since, which it has not judged yet.
type gate struct {
	Service string           `json:"service"`
	Stage   pipeline.StageID `json:"stage"`
	Env     string           `json:"env"`
	Status  pipeline.Status  `json:"status"`
	Reason  string           `json:"reason,omitempty"`
	// Judged is what the gate recorded when it last ran (nil before it ran): By, since when
	// it waits, its deadline, the digests and people it judged, what it missed.
	Judged    *pipeline.ApproveOutput     `json:"-"`
	By        []string                    `json:"by,omitempty"`
	Since     time.Time                   `json:"waitingSince,omitzero"`
	Deadline  time.Time                   `json:"deadline,omitzero"`
	Image     string                      `json:"image,omitempty"`
	Chart     string                      `json:"chart,omitempty"`
	Values    string                      `json:"values,omitempty"`
	Requester []string                    `json:"requester,omitempty"`
	Authors   []string                    `json:"authors,omitempty"`
	Missing   []string                    `json:"missing,omitempty"`
	Decisions []pipeline.ApprovalDecision `json:"decisions"`
}

// runGates lists the approval gates of a run, in plan order.
func runGates(run *pipeline.Run) []gate {
	var out []gate
	for _, svc := range run.Services {
		for _, s := range svc.Stages {
			if s.ID.Kind() != config.StageApprove {
				continue
			}
			g := gate{Service: svc.Name, Stage: s.ID, Env: s.ID.Env(), Status: s.Status, Reason: s.Reason,
				Judged: s.Outputs.Approve, Decisions: []pipeline.ApprovalDecision{}}
			judged := 0
			if j := g.Judged; j != nil {
				g.By, g.Since, g.Deadline, g.Image, g.Chart, g.Values = j.By, j.WaitingSince, j.Deadline, j.Image, j.Chart, j.Values
				g.Requester, g.Authors, g.Missing = j.Requester, j.Authors, j.Missing
				g.Decisions = append(g.Decisions, j.Decisions...)
				judged = len(j.Decisions)
			}
			n := 0
			for _, a := range run.Approvals {
				if a.Env != g.Env || (a.Service != svc.Name && a.Service != "") {
					continue
				}
				if n++; n > judged {
					g.Decisions = append(g.Decisions, pipeline.ApprovalDecision{By: a.By, At: a.At, Fingerprint: a.Key,
						Decision: a.Decision, Comment: a.Comment, Verdict: "unchecked", Reason: "recorded after the gate last ran; it is checked when the run resumes"})
				}
			}
			out = append(out, g)
		}
	}
	return out
}

// writeGate prints a gate's state and its decisions, one per line with the verdict and why.
func writeGate(w io.Writer, g gate) {
	fmt.Fprintf(w, "\napprovals of %s for %s (%s): %s\n", g.Env, g.Service, g.Stage, g.Status)
	if j := g.Judged; j != nil {
		if !j.WaitingSince.IsZero() {
			line := "  waiting since " + j.WaitingSince.UTC().Format(time.RFC3339)
			if !j.Deadline.IsZero() {
				line += ", rejected at " + j.Deadline.UTC().Format(time.RFC3339)
			}
			fmt.Fprintln(w, line)
		}
		if len(j.Missing) > 0 && g.Status != pipeline.Succeeded {
			fmt.Fprintf(w, "  missing: %s\n", strings.Join(j.Missing, "; "))
		}
		fmt.Fprintf(w, "  digests: image %s, chart %s, values %s\n", orNone(j.Image), orNone(j.Chart), orNone(j.Values))
		if len(j.Requester) > 0 {
			fmt.Fprintf(w, "  requester (excluded): %s\n", strings.Join(j.Requester, ", "))
		}
		if len(j.Authors) > 0 {
			fmt.Fprintf(w, "  authors (excluded): %s\n", strings.Join(j.Authors, ", "))
		}
	}
	if len(g.Decisions) == 0 {
		fmt.Fprintln(w, "  no decisions")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  WHO\tDECISION\tAT\tVERDICT\tKEY\tCOMMENT\tREASON")
	for _, d := range g.Decisions {
		who := d.Principal
		if who == "" {
			who = d.By + " (unverified)"
		}
		comment := "-"
		if d.Comment != "" {
			comment = fmt.Sprintf("%q", d.Comment)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\n", who, orNone(d.Decision), d.At.UTC().Format(time.RFC3339), d.Verdict,
			orNone(d.Fingerprint), comment, orDash(d.Reason))
	}
	tw.Flush()
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// jsonRun adds the derived statuses to the journaled run.
type jsonRun struct {
	*pipeline.Run
	Status   pipeline.Status  `json:"status"`
	Services []jsonServiceRun `json:"services"`
	// Release links, per service, commit → image → scan → environments (approvals, digest,
	// revision).
	Release map[string]Release `json:"release,omitempty"`
	// Gates are the approval gates with every decision and its verdict.
	Gates []gate `json:"gates,omitempty"`
}

type jsonServiceRun struct {
	*pipeline.ServiceRun
	Status pipeline.Status `json:"status"`
}

func runJSON(run *pipeline.Run) jsonRun {
	out := jsonRun{Run: run, Status: run.Status(), Services: []jsonServiceRun{}, Release: Releases(run), Gates: runGates(run)}
	for _, s := range run.Services {
		out.Services = append(out.Services, jsonServiceRun{ServiceRun: s, Status: s.Status()})
	}
	return out
}

// WriteRunList prints runs, newest first.
func WriteRunList(w io.Writer, runs []*pipeline.Run, format string) error {
	if format == "json" {
		list := make([]jsonRunSummary, 0, len(runs))
		for _, r := range runs {
			list = append(list, summarize(r))
		}
		return writeJSON(w, list)
	}
	if len(runs) == 0 {
		_, err := fmt.Fprintln(w, "no runs")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN\tSTATE\tCREATED\tEVENT\tSERVICES")
	for _, r := range runs {
		s := summarize(r)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s %s\t%d\n", s.ID, s.Status, s.Created.Format(time.RFC3339), s.Event, s.Ref, s.Services)
	}
	return tw.Flush()
}

type jsonRunSummary struct {
	ID       string          `json:"id"`
	Status   pipeline.Status `json:"status"`
	Created  time.Time       `json:"created"`
	Event    string          `json:"event"`
	Ref      string          `json:"ref"`
	Commit   string          `json:"commit"`
	Services int             `json:"services"`
}

func summarize(r *pipeline.Run) jsonRunSummary {
	return jsonRunSummary{ID: r.ID, Status: r.Status(), Created: r.Created, Event: string(r.Event.Kind),
		Ref: r.Event.Ref, Commit: r.Event.After, Services: len(r.Services)}
}

func formatDuration(d time.Duration) string {
	switch {
	case d == 0:
		return "-"
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	default:
		return d.Round(100 * time.Millisecond).String()
	}
}

func shortSHA(s string) string {
	if len(s) > 7 {
		return s[:7]
	}
	return s
}
