package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// runDeleter is a run store that can delete runs (both of Ferry's stores can).
type runDeleter interface {
	DeleteRun(ctx context.Context, runID string) error
}

func (a *app) runsPruneCommand() *cobra.Command {
	var (
		f         storeFlags
		olderThan string
		dryRun    bool
	)
	cmd := &cobra.Command{
		Use:   "prune --older-than AGE",
		Short: "Delete the runs created longer ago than AGE (30d, 72h)",
		Long: `prune deletes every run of the run store created longer ago than --older-than, with its
journal, logs and, in an oci:// store, every writer's pages. In a registry that deletes the
manifests; their blobs are freed by the registry's garbage collection (distribution:
registry garbage-collect). --dry-run lists what would be deleted.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			age, err := parseAge(olderThan)
			if err != nil {
				return err
			}
			_, store, err := a.openStoreFor(cmd, f)
			if err != nil {
				return err
			}
			del, ok := store.(runDeleter)
			if !ok {
				return usageError("--state: this run store cannot delete runs")
			}
			runs, err := store.List(cmd.Context())
			if err != nil {
				return err
			}
			cutoff := time.Now().Add(-age)
			type pruned struct {
				ID      string    `json:"id"`
				Created time.Time `json:"created"`
			}
			out := []pruned{}
			for _, r := range runs {
				if !r.Created.Before(cutoff) {
					continue
				}
				if !dryRun {
					if err := del.DeleteRun(cmd.Context(), r.ID); err != nil {
						return err
					}
				}
				out = append(out, pruned{r.ID, r.Created})
			}
			if f.output == "json" {
				enc := json.NewEncoder(a.Out)
				enc.SetIndent("", "  ")
				return enc.Encode(out)
			}
			verb := "deleted"
			if dryRun {
				verb = "would delete"
			}
			for _, p := range out {
				fmt.Fprintf(a.Out, "%s %s (created %s)\n", verb, p.ID, p.Created.Format(time.RFC3339))
			}
			fmt.Fprintf(a.Out, "%s %d of %d runs older than %s\n", verb, len(out), len(runs), olderThan)
			return nil
		},
	}
	f.bind(cmd)
	cmd.Flags().StringVar(&olderThan, "older-than", "", "delete runs created longer ago than this: 30d, 72h, 90m (required)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "list the runs that would be deleted, delete nothing")
	return cmd
}

// parseAge reads --older-than: a number of days (30d) or a Go duration (72h, 90m).
func parseAge(s string) (time.Duration, error) {
	bad := func() (time.Duration, error) {
		return 0, usageError("--older-than %q: expected a positive age such as 30d or 72h", s)
	}
	if s == "" {
		return 0, usageError("--older-than is required (for example --older-than 30d)")
	}
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n > 100000 {
			return bad()
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return bad()
		}
	}
	if d <= 0 {
		return bad()
	}
	return d, nil
}
