package report

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/ferry-ci/ferry/pipeline"
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
	for _, a := range run.Approvals {
		fmt.Fprintf(w, "approved: %s by %s at %s\n", a.Env, a.By, a.At.Format(time.RFC3339))
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
	return tw.Flush()
}

// jsonRun adds the derived statuses to the journaled run.
type jsonRun struct {
	*pipeline.Run
	Status   pipeline.Status  `json:"status"`
	Services []jsonServiceRun `json:"services"`
	// Release links, per service, commit → image → scan → environments (approvals, digest,
	// revision).
	Release map[string]Release `json:"release,omitempty"`
}

type jsonServiceRun struct {
	*pipeline.ServiceRun
	Status pipeline.Status `json:"status"`
}

func runJSON(run *pipeline.Run) jsonRun {
	out := jsonRun{Run: run, Status: run.Status(), Services: []jsonServiceRun{}, Release: Releases(run)}
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
