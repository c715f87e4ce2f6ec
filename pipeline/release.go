package pipeline

import (
	"fmt"
	"strings"

	"github.com/ferry-ci/ferry/pipeline/config"
	"github.com/ferry-ci/ferry/triggers"
)

// ReleaseRefs are the config's release shapes: releaseBranch (default
// release/{service}/{version}) and releaseTag (none by default).
func ReleaseRefs(cfg *config.Config) (triggers.ReleaseRefs, error) {
	var refs triggers.ReleaseRefs
	var err error
	if cfg.ReleaseBranch != "" {
		if refs.Branch, err = triggers.ParseReleaseShape(cfg.ReleaseBranch); err != nil {
			return refs, fmt.Errorf("releaseBranch: %w", err)
		}
	}
	if cfg.ReleaseTag != "" {
		if refs.Tag, err = triggers.ParseReleaseShape(cfg.ReleaseTag); err != nil {
			return refs, fmt.Errorf("releaseTag: %w", err)
		}
	}
	return refs, nil
}

// CheckReleases checks what the config package cannot, because the shapes are the triggers
// package's: releaseBranch and releaseTag, and the branch and tag filters of release triggers,
// each of which must be able to match a release ref of those shapes (a ref it matches that is
// not one fails the plan). Problems are positioned like the config's own.
func CheckReleases(cfg *config.Config) config.Errors {
	var errs config.Errors
	var refs triggers.ReleaseRefs
	ok := true
	for _, s := range []struct {
		field, value, example string
		pos                   config.Pos
		dst                   *triggers.ReleaseShape
	}{
		{"releaseBranch", cfg.ReleaseBranch, triggers.DefaultReleaseBranch, cfg.ReleaseBranchPos, &refs.Branch},
		{"releaseTag", cfg.ReleaseTag, "{service}/v{version}", cfg.ReleaseTagPos, &refs.Tag},
	} {
		if s.value == "" && s.pos.Line == 0 {
			continue
		}
		shape, err := triggers.ParseReleaseShape(s.value)
		if err != nil {
			msg := strings.TrimPrefix(err.Error(), fmt.Sprintf("release shape %q: ", s.value))
			errs = append(errs, config.Error{File: cfg.File, Pos: s.pos, Field: s.field, Msg: msg + " (e.g. " + s.example + ")"})
			ok = false
			continue
		}
		*s.dst = shape
	}
	if !ok {
		return errs
	}
	services := cfg.ServiceNames()
	for _, t := range cfg.Triggers {
		if !t.Release {
			continue
		}
		rule := triggers.Rule{Name: t.Name, Release: true, Branches: triggers.Filter(t.Branches), Tags: triggers.Filter(t.Tags)}
		branches, tags := refs.CheckRule(rule, services)
		if branches != "" {
			errs = append(errs, config.Error{File: cfg.File, Pos: t.BranchesPos, Field: fmt.Sprintf("triggers.%s.branches", t.Name),
				Msg: branches + describeFilter(t.Branches)})
		}
		if tags != "" {
			errs = append(errs, config.Error{File: cfg.File, Pos: t.TagsPos, Field: fmt.Sprintf("triggers.%s.tags", t.Name),
				Msg: tags + describeFilter(t.Tags)})
		}
	}
	return errs
}

// describeFilter is " (include: a, b; exclude: c)" for messages.
func describeFilter(f config.RefFilter) string {
	var parts []string
	if len(f.Include) > 0 {
		parts = append(parts, "include: "+strings.Join(f.Include, ", "))
	}
	if len(f.Exclude) > 0 {
		parts = append(parts, "exclude: "+strings.Join(f.Exclude, ", "))
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, "; ") + ")"
}
