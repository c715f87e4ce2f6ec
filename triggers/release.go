package triggers

import (
	"errors"
	"fmt"
	"strings"

	"github.com/Masterminds/semver/v3"
)

// Release is what a release ref names: release/<service>/<semver> by default, or whatever
// shape the config gives release branches and tags.
type Release struct {
	Service string `json:"service"`
	// Version is the normalised semantic version without a leading v (1.0.2, 2.0.0-rc.1+b7).
	// It is the chart version and, with '+' replaced by '_', the image tag.
	Version string `json:"version"`
	// Branch is the short branch name the release was read from; Tag the tag name, for a
	// release read from a tag push. Exactly one is set.
	Branch string `json:"branch"`
	Tag    string `json:"tag,omitempty"`
}

// ImageTag is a release version as an OCI tag: tags may not contain '+', so build metadata is
// joined with '_' the same way Helm names chart tags.
func ImageTag(version string) string { return strings.ReplaceAll(version, "+", "_") }

// The placeholders of a release shape.
const (
	ServicePlaceholder = "{service}"
	VersionPlaceholder = "{version}"
)

// DefaultReleaseBranch is the shape of release branches when the config gives none.
const DefaultReleaseBranch = "release/{service}/{version}"

// ReleaseShape is how a release branch or tag names the service and the version: a short ref
// name with the placeholders {service} and {version}, each exactly once and with literal text
// between them, such as release/{service}/{version}, {service}/v{version} or
// {service}-v{version}. The version is a complete semantic version; a leading v is dropped
// unless the shape writes it (v{version}). The zero ReleaseShape is no shape.
type ReleaseShape struct {
	pattern string
	// lits are the literal texts before, between and after the placeholders.
	lits [3]string
	// versionFirst is set when {version} comes before {service}.
	versionFirst bool
}

// ParseReleaseShape checks a shape and compiles it.
func ParseReleaseShape(pattern string) (ReleaseShape, error) {
	s := ReleaseShape{pattern: pattern}
	si, vi := strings.Index(pattern, ServicePlaceholder), strings.Index(pattern, VersionPlaceholder)
	switch {
	case pattern == "":
		return ReleaseShape{}, errors.New("empty release shape")
	case si < 0 || vi < 0:
		return ReleaseShape{}, fmt.Errorf("release shape %q: needs both %s and %s", pattern, ServicePlaceholder, VersionPlaceholder)
	case strings.Count(pattern, ServicePlaceholder) > 1 || strings.Count(pattern, VersionPlaceholder) > 1:
		return ReleaseShape{}, fmt.Errorf("release shape %q: %s and %s may appear only once", pattern, ServicePlaceholder, VersionPlaceholder)
	}
	first, second := ServicePlaceholder, VersionPlaceholder
	if vi < si {
		s.versionFirst = true
		first, second = second, first
	}
	before, rest, _ := strings.Cut(pattern, first)
	between, after, _ := strings.Cut(rest, second)
	s.lits = [3]string{before, between, after}
	if between == "" {
		return ReleaseShape{}, fmt.Errorf("release shape %q: %s and %s need text between them", pattern, first, second)
	}
	for _, lit := range s.lits {
		if strings.ContainsAny(lit, "{}") {
			return ReleaseShape{}, fmt.Errorf("release shape %q: unknown placeholder (only %s and %s)", pattern, ServicePlaceholder, VersionPlaceholder)
		}
	}
	sample := s.join("a", "1.0.0")
	switch {
	case strings.HasPrefix(pattern, "refs/"):
		return ReleaseShape{}, fmt.Errorf("release shape %q: write the short name, without refs/heads/ or refs/tags/", pattern)
	case strings.ContainsAny(sample, "*?[\\ ~^:") || strings.Contains(sample, ".."):
		return ReleaseShape{}, fmt.Errorf("release shape %q: not a valid ref name (no spaces, globs or ~^:\\ ..)", pattern)
	case strings.HasPrefix(sample, "/") || strings.HasSuffix(sample, "/") || strings.Contains(sample, "//"):
		return ReleaseShape{}, fmt.Errorf("release shape %q: not a valid ref name (an empty folder)", pattern)
	}
	return s, nil
}

// MustReleaseShape is ParseReleaseShape for shapes known to be valid.
func MustReleaseShape(pattern string) ReleaseShape {
	s, err := ParseReleaseShape(pattern)
	if err != nil {
		panic(err)
	}
	return s
}

// IsZero reports whether s is no shape.
func (s ReleaseShape) IsZero() bool { return s.pattern == "" }

// String is the shape as written.
func (s ReleaseShape) String() string { return s.pattern }

// join joins a service and a version the way the shape does.
func (s ReleaseShape) join(service, version string) string {
	if s.versionFirst {
		service, version = version, service
	}
	return s.lits[0] + service + s.lits[1] + version + s.lits[2]
}

// vInShape reports whether the shape writes the v before the version itself.
func (s ReleaseShape) vInShape() bool {
	lit := s.lits[0]
	if !s.versionFirst {
		lit = s.lits[1]
	}
	return strings.HasSuffix(lit, "v")
}

// Name is the ref name of the shape for a service at a version (1.0.2, without v): a v is
// written before the version unless the shape writes it, so that release/{service}/{version}
// gives release/delivery/v1.0.2 and {service}/v{version} gives delivery/v1.0.2.
func (s ReleaseShape) Name(service, version string) string {
	if !s.vInShape() {
		version = "v" + version
	}
	return s.join(service, version)
}

// describe is the shape with <service> and <semver>, for messages.
func (s ReleaseShape) describe() string { return s.join("<service>", "<semver>") }

// Example is the shape for the delivery service at version 1.0.2, for messages.
func (s ReleaseShape) Example() string {
	v := "v1.0.2"
	if s.vInShape() {
		v = "1.0.2"
	}
	return s.join("delivery", v)
}

// Parse reads the service and the version from a short ref name of the shape.
func (s ReleaseShape) Parse(name string) (service, version string, err error) {
	bad := fmt.Errorf("expected %s, e.g. %s", s.describe(), s.Example())
	if s.IsZero() {
		return "", "", errors.New("no release shape")
	}
	if len(name) < len(s.lits[0])+len(s.lits[1])+len(s.lits[2]) || !strings.HasPrefix(name, s.lits[0]) || !strings.HasSuffix(name, s.lits[2]) {
		return "", "", bad
	}
	mid := name[len(s.lits[0]) : len(name)-len(s.lits[2])]
	// The text between the placeholders may also occur in the service name or the version
	// (delivery-api-v1.0.0 with {service}-v{version}): try each split, from the right, and
	// take the first whose version is a semantic version; report the rightmost otherwise.
	var firstErr error
	for i := strings.LastIndex(mid, s.lits[1]); i >= 0; i = strings.LastIndex(mid[:i], s.lits[1]) {
		a, b := mid[:i], mid[i+len(s.lits[1]):]
		svc, raw := a, b
		if s.versionFirst {
			svc, raw = b, a
		}
		if svc == "" || raw == "" || strings.ContainsAny(svc, "/ ") || strings.Contains(raw, "/") {
			continue
		}
		v, verr := s.version(raw)
		if verr == nil {
			return svc, v, nil
		}
		if firstErr == nil {
			firstErr = verr
		}
	}
	if firstErr != nil {
		return "", "", firstErr
	}
	return "", "", bad
}

// version checks and normalises the version part of a name.
func (s ReleaseShape) version(raw string) (string, error) {
	text := raw
	if !s.vInShape() {
		text = strings.TrimPrefix(raw, "v")
	}
	v, err := semver.StrictNewVersion(text)
	if err != nil {
		example := "v1.0.2"
		if s.vInShape() {
			example = "1.0.2"
		}
		return "", fmt.Errorf("version %q is not a semantic version MAJOR.MINOR.PATCH (e.g. %s): %v", raw, example, err)
	}
	return v.String(), nil
}

// ReleaseRefs are the shapes of the refs a release rule reads its service and version from.
type ReleaseRefs struct {
	// Branch is the shape of release branches; the zero value is DefaultReleaseBranch.
	Branch ReleaseShape
	// Tag is the shape of release tags; the zero value makes tag pushes name no release.
	Tag ReleaseShape
}

var defaultBranchShape = MustReleaseShape(DefaultReleaseBranch)

// branch is the branch shape, the default when none is set.
func (r ReleaseRefs) branch() ReleaseShape {
	if r.Branch.IsZero() {
		return defaultBranchShape
	}
	return r.Branch
}

// BranchShape is the shape of release branches, the default when none is set.
func (r ReleaseRefs) BranchShape() ReleaseShape { return r.branch() }

// Parse reads the release a ref names: a branch (refs/heads/..., or short) of the branch
// shape, or a tag (refs/tags/...) of the tag shape.
func (r ReleaseRefs) Parse(ref string) (Release, error) {
	if tag, ok := strings.CutPrefix(ref, "refs/tags/"); ok {
		if r.Tag.IsZero() {
			return Release{}, fmt.Errorf("release tag %q: no releaseTag shape is configured for release tags (e.g. releaseTag: '{service}/v{version}')", tag)
		}
		svc, v, err := r.Tag.Parse(tag)
		if err != nil {
			return Release{}, fmt.Errorf("release tag %q: %w", tag, err)
		}
		return Release{Service: svc, Version: v, Tag: tag}, nil
	}
	branch := strings.TrimPrefix(ref, "refs/heads/")
	svc, v, err := r.branch().Parse(branch)
	if err != nil {
		return Release{}, fmt.Errorf("release branch %q: %w", branch, err)
	}
	return Release{Service: svc, Version: v, Branch: branch}, nil
}

// ParseReleaseBranch reads release/<service>/<semver> (the ref may be full or short). The version
// must be a complete semantic version, with or without a leading v: release/delivery/v1.0.2 is
// 1.0.2; release/delivery/1.0 is an error rather than a guess.
func ParseReleaseBranch(ref string) (Release, error) {
	return ReleaseRefs{}.Parse("refs/heads/" + strings.TrimPrefix(ref, "refs/heads/"))
}

// CheckRule says, for a release rule, why its branch filter and its tag filter can match no
// release ref of these shapes for any of the services: each message is empty when the filter
// can, or is not set. It is conservative: a filter it passes may still match few refs, but a
// filter it rejects can only ever match refs that fail the plan.
func (r ReleaseRefs) CheckRule(rule Rule, services []string) (branches, tags string) {
	if len(services) == 0 {
		return "", ""
	}
	versions := "*" // any version: the check is about the shape around it
	var branchRefs, tagNames []string
	for _, svc := range services {
		branchRefs = append(branchRefs, "refs/heads/"+r.branch().join(svc, versions))
		if !r.Tag.IsZero() {
			tagNames = append(tagNames, r.Tag.join(svc, versions))
		}
	}
	tagRefs := make([]string, len(tagNames))
	for i, n := range tagNames {
		tagRefs[i] = "refs/tags/" + n
	}
	fullBranch := func(e string) string {
		if strings.HasPrefix(e, "refs/") {
			return e
		}
		return "refs/heads/" + e
	}
	if !rule.Branches.Empty() && !reachable(rule.Branches, fullBranch, append(branchRefs, tagRefs...)) {
		branches = fmt.Sprintf("a release trigger, but no branch it includes is a release branch %s (releaseBranch)", r.branch().describe())
		if r.Tag.IsZero() && hasTagEntry(rule.Branches.Include) {
			branches += "; tags name a release only with releaseTag"
		}
	}
	if !rule.Tags.Empty() {
		switch {
		case r.Tag.IsZero():
			tags = "a release trigger's tags name no release without releaseTag (e.g. releaseTag: '{service}/v{version}')"
		case !reachable(rule.Tags, func(e string) string { return e }, tagNames):
			tags = fmt.Sprintf("a release trigger, but no tag it includes is a release tag %s (releaseTag)", r.Tag.describe())
		}
	}
	return branches, tags
}

func hasTagEntry(entries []string) bool {
	for _, e := range entries {
		if strings.HasPrefix(e, "refs/tags/") {
			return true
		}
	}
	return false
}

// reachable reports whether some name of one of the shapes (globs whose * is the version) is
// included by the filter and not excluded by an entry that covers the whole shape. An empty
// include list includes everything, as in Azure Pipelines.
func reachable(f Filter, full func(string) string, shapes []string) bool {
	include := f.Include
	if len(include) == 0 {
		include = []string{"*"}
	}
	for _, shape := range shapes {
		excluded := false
		for _, e := range f.Exclude {
			if globCovers(full(e), shape) {
				excluded = true
				break
			}
		}
		if excluded {
			continue
		}
		for _, in := range include {
			if globsMeet(full(in), shape) {
				return true
			}
		}
	}
	return false
}

// globsMeet reports whether two patterns of literals, ? (one character) and * (any run of
// characters) match a common string.
func globsMeet(a, b string) bool {
	return memoWalk(func(i, j int, meet func(i, j int) bool) bool {
		switch {
		case i == len(a) && j == len(b):
			return true
		case i < len(a) && a[i] == '*':
			return meet(i+1, j) || (j < len(b) && meet(i, j+1))
		case j < len(b) && b[j] == '*':
			return meet(i, j+1) || (i < len(a) && meet(i+1, j))
		case i < len(a) && j < len(b):
			return (a[i] == b[j] || a[i] == '?' || b[j] == '?') && meet(i+1, j+1)
		}
		return false
	})
}

// globCovers reports whether pattern a matches every string pattern b matches (a sufficient
// test: b's characters and wildcards are each taken by a's).
func globCovers(a, b string) bool {
	return memoWalk(func(i, j int, covers func(i, j int) bool) bool {
		switch {
		case i == len(a):
			return j == len(b)
		case a[i] == '*':
			return covers(i+1, j) || (j < len(b) && covers(i, j+1))
		case j == len(b) || b[j] == '*':
			return false
		}
		return (a[i] == '?' || a[i] == b[j] && b[j] != '?') && covers(i+1, j+1)
	})
}

// memoWalk runs step from positions (0, 0) of two patterns, remembering each pair's answer
// so that patterns with many stars stay polynomial. A pair met again while it is still being
// decided counts as false.
func memoWalk(step func(i, j int, next func(i, j int) bool) bool) bool {
	memo := map[[2]int]bool{}
	seen := map[[2]int]bool{}
	var walk func(i, j int) bool
	walk = func(i, j int) bool {
		k := [2]int{i, j}
		if seen[k] {
			return memo[k]
		}
		seen[k] = true
		memo[k] = step(i, j, walk)
		return memo[k]
	}
	return walk(0, 0)
}
