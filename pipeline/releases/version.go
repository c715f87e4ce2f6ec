// Package releases decides a service's release versions: which releases exist (from the names
// of its release branches and tags), the next semantic version (a bump, an explicit version,
// pre-releases that count up), the bump that Conventional Commits ask for, and the state of
// each release from the run store and the registry. Its functions are pure; git and the
// registry are the callers' (pipeline/workspace and the CLI).
package releases

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/Masterminds/semver/v3"

	"github.com/ferry-ci/ferry/triggers"
)

// Bump is how far a version moves.
type Bump string

// The bumps, smallest first; Auto asks the commits.
const (
	Patch Bump = "patch"
	Minor Bump = "minor"
	Major Bump = "major"
	Auto  Bump = "auto"
)

// ParseBump accepts the --bump values.
func ParseBump(s string) (Bump, error) {
	switch b := Bump(strings.ToLower(s)); b {
	case Patch, Minor, Major, Auto:
		return b, nil
	}
	return "", fmt.Errorf("unknown bump %q (want patch, minor, major or auto)", s)
}

func (b Bump) rank() int { return slices.Index([]Bump{Patch, Minor, Major}, b) }

// Ref is a git ref and the commit it names, as the caller listed them.
type Ref struct {
	Name   string `json:"name"`
	Commit string `json:"commit"`
}

// Existing is one release version of a service and the refs that name it.
type Existing struct {
	Version *semver.Version `json:"-"`
	// Refs are full ref names (refs/heads/…, refs/remotes/origin/…, refs/tags/…), sorted.
	Refs []string `json:"refs"`
	// Commit is what the first ref names.
	Commit string `json:"commit"`
}

// Find reads a service's releases from ref names: branches (local and remote-tracking) of the
// branch shape and tags of the tag shape. Other refs, and refs of other services, are ignored.
// The result is sorted by version, lowest first.
func Find(shapes triggers.ReleaseRefs, service string, refs []Ref) []Existing {
	byVersion := map[string]*Existing{}
	for _, ref := range refs {
		rel, ok := parseRef(shapes, ref.Name)
		if !ok || rel.Service != service {
			continue
		}
		v := semver.MustParse(rel.Version) // Parse only returns strict versions
		e := byVersion[v.String()]
		if e == nil {
			e = &Existing{Version: v, Commit: ref.Commit}
			byVersion[v.String()] = e
		}
		e.Refs = append(e.Refs, ref.Name)
	}
	out := make([]Existing, 0, len(byVersion))
	for _, e := range byVersion {
		slices.Sort(e.Refs)
		out = append(out, *e)
	}
	slices.SortFunc(out, func(a, b Existing) int { return a.Version.Compare(b.Version) })
	return out
}

// parseRef reads a release from a full ref name; remote-tracking branches count as branches.
func parseRef(shapes triggers.ReleaseRefs, name string) (triggers.Release, bool) {
	switch {
	case strings.HasPrefix(name, "refs/tags/"):
		if shapes.Tag.IsZero() {
			return triggers.Release{}, false
		}
	case strings.HasPrefix(name, "refs/remotes/"):
		_, branch, ok := strings.Cut(strings.TrimPrefix(name, "refs/remotes/"), "/")
		if !ok {
			return triggers.Release{}, false
		}
		name = "refs/heads/" + branch
	case !strings.HasPrefix(name, "refs/heads/"):
		return triggers.Release{}, false
	}
	rel, err := shapes.Parse(name)
	return rel, err == nil
}

// Latest is the highest of the releases, pre-releases included; nil when there is none.
func Latest(existing []Existing) *Existing {
	if len(existing) == 0 {
		return nil
	}
	return &existing[len(existing)-1]
}

// LatestFinal is the highest release that is not a pre-release; nil when there is none.
func LatestFinal(existing []Existing) *Existing {
	for i := len(existing) - 1; i >= 0; i-- {
		if existing[i].Version.Prerelease() == "" {
			return &existing[i]
		}
	}
	return nil
}

// Request is what the release manager asked for: a bump (never Auto here: the caller asks the
// commits first) or an explicit version, and optionally a pre-release identifier.
type Request struct {
	Bump    Bump
	Version string // v1.2.3 or 1.2.3; wins over Bump
	Pre     string // rc: MAJOR.MINOR.PATCH-rc.N, N one more than the highest of that core
}

// ErrExists and ErrNotNewer are the refusals of Next.
var (
	ErrExists   = errors.New("already exists")
	ErrNotNewer = errors.New("not newer than the latest release")
)

var preIdent = regexp.MustCompile(`^[0-9A-Za-z-]*[A-Za-z-][0-9A-Za-z-]*$`)

// Next computes the version to cut. A bump moves the latest final release (0.0.0 when there is
// none), so that the final release after 1.3.0-rc.2 is 1.3.0 again; with Pre the version is
// that core with the next pre-release number. The result must not exist and must be higher
// than every existing release.
func Next(existing []Existing, req Request) (*semver.Version, error) {
	core, err := nextCore(existing, req)
	if err != nil {
		return nil, err
	}
	v := core
	if req.Pre != "" {
		if !preIdent.MatchString(req.Pre) {
			return nil, fmt.Errorf("--pre %q: a pre-release identifier is letters, digits and -, not only digits (e.g. rc)", req.Pre)
		}
		if core.Prerelease() != "" {
			return nil, fmt.Errorf("--version %s is a pre-release already: drop --pre, or give the core version", req.Version)
		}
		n := 1
		for _, e := range existing {
			if k, ok := preNumber(e.Version, core, req.Pre); ok && k >= n {
				n = k + 1
			}
		}
		if v, err = core.SetPrerelease(req.Pre + "." + strconv.Itoa(n)); err != nil {
			return nil, fmt.Errorf("pre-release %s.%d: %w", req.Pre, n, err)
		}
	}
	return &v, check(existing, &v)
}

func nextCore(existing []Existing, req Request) (semver.Version, error) {
	if req.Version != "" {
		v, err := semver.StrictNewVersion(strings.TrimPrefix(req.Version, "v"))
		if err != nil {
			return semver.Version{}, fmt.Errorf("--version %q is not a semantic version MAJOR.MINOR.PATCH (e.g. v1.2.3): %v", req.Version, err)
		}
		return *v, nil
	}
	base := semver.New(0, 0, 0, "", "")
	if f := LatestFinal(existing); f != nil {
		base = f.Version
	}
	switch req.Bump {
	case Patch:
		return base.IncPatch(), nil
	case Minor:
		return base.IncMinor(), nil
	case Major:
		return base.IncMajor(), nil
	}
	return semver.Version{}, fmt.Errorf("bump %q: want patch, minor or major", req.Bump)
}

// preNumber is N for a version core-pre.N.
func preNumber(v *semver.Version, core semver.Version, pre string) (int, bool) {
	if v.Major() != core.Major() || v.Minor() != core.Minor() || v.Patch() != core.Patch() {
		return 0, false
	}
	rest, ok := strings.CutPrefix(v.Prerelease(), pre+".")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(rest)
	return n, err == nil && n >= 0
}

// check refuses a version that exists or is not higher than the latest release.
func check(existing []Existing, v *semver.Version) error {
	for _, e := range existing {
		if e.Version.Equal(v) {
			return fmt.Errorf("version %s: %w as %s", v, ErrExists, strings.Join(e.Refs, ", "))
		}
	}
	if l := Latest(existing); l != nil && !v.GreaterThan(l.Version) {
		return fmt.Errorf("version %s: %w %s (%s)", v, ErrNotNewer, l.Version, l.Refs[0])
	}
	return nil
}
