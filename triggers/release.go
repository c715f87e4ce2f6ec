package triggers

import (
	"fmt"
	"strings"

	"github.com/Masterminds/semver/v3"
)

// Release is what a release/<service>/<semver> branch names.
type Release struct {
	Service string `json:"service"`
	// Version is the normalised semantic version without a leading v (1.0.2, 2.0.0-rc.1+b7).
	// It is the chart version and, with '+' replaced by '_', the image tag.
	Version string `json:"version"`
	// Branch is the short branch name the release was read from.
	Branch string `json:"branch"`
}

// ImageTag is a release version as an OCI tag: tags may not contain '+', so build metadata is
// joined with '_' the same way Helm names chart tags.
func ImageTag(version string) string { return strings.ReplaceAll(version, "+", "_") }

// ParseReleaseBranch reads release/<service>/<semver> (the ref may be full or short). The version
// must be a complete semantic version, with or without a leading v: release/delivery/v1.0.2 is
// 1.0.2; release/delivery/1.0 is an error rather than a guess.
func ParseReleaseBranch(ref string) (Release, error) {
	branch := strings.TrimPrefix(ref, "refs/heads/")
	parts := strings.Split(branch, "/")
	if len(parts) != 3 || parts[0] != "release" || parts[1] == "" || parts[2] == "" {
		return Release{}, fmt.Errorf("release branch %q: expected release/<service>/<semver>, e.g. release/delivery/v1.0.2", branch)
	}
	raw := parts[2]
	v, err := semver.StrictNewVersion(strings.TrimPrefix(raw, "v"))
	if err != nil {
		return Release{}, fmt.Errorf("release branch %q: version %q is not a semantic version MAJOR.MINOR.PATCH (e.g. v1.0.2): %v", branch, raw, err)
	}
	return Release{Service: parts[1], Version: v.String(), Branch: branch}, nil
}
