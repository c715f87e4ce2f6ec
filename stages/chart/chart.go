// Package chart is the chart stage: it lints a service's Helm chart, packages it with the
// release's version and pushes it to REGISTRY/helm/<chart> as an OCI artifact, with Helm v4 as
// a library.
//
// Chart versions are immutable. Helm's packages are not byte-reproducible (the tar holds
// modification times, the manifest a creation time), so "the same chart" is decided by content:
// before packaging, the chart gets the annotation ferry.dev/content-digest, a digest of its
// files, its version and appVersion and the image digest it is for. Helm copies chart
// annotations into the OCI manifest's annotations, where a later push reads them: an equal
// digest reuses the chart already there, another one is refused unless forced.
package chart

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"helm.sh/helm/v4/pkg/chart/common"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/lint"
	"helm.sh/helm/v4/pkg/chart/v2/lint/support"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"

	"github.com/ferry-ci/ferry/triggers"
)

// Annotations Ferry adds to a chart's Chart.yaml, and so to its OCI manifest.
const (
	// AnnotationContentDigest identifies the chart's content (files, version, appVersion,
	// image digest): two pushes with the same value are the same chart.
	AnnotationContentDigest = "ferry.dev/content-digest"
	// AnnotationImage is the image the chart was packaged for, REGISTRY/<service>@sha256:….
	AnnotationImage = "ferry.dev/image"
)

// commitChars is how much of the commit a non-release chart version carries.
const commitChars = 12

// Version is the chart version, appVersion and OCI tag of a service's chart. A release's
// version (1.0.2, 1.0.2+b7; a leading v is dropped) is both the chart version and the
// appVersion, and build metadata stays in it: Helm's registry client turns '+' into '_' in the
// tag (1.0.2_b7). A run without a version (not a release) gets 0.0.0-<first 12 characters of
// the commit>, a pre-release that sorts below every release.
func Version(version, commit string) (chartVersion, appVersion, tag string, err error) {
	v := strings.TrimPrefix(version, "v")
	if v == "" {
		c := strings.ToLower(commit)
		if len(c) < commitChars || strings.Trim(c, "0123456789abcdef") != "" {
			return "", "", "", fmt.Errorf("no release version and no commit to version the chart with (commit %q)", commit)
		}
		c = c[:commitChars]
		if c[0] == '0' && strings.Trim(c, "0123456789") == "" {
			// All digits with a leading zero is not a valid semver pre-release identifier;
			// git's describe convention keeps it one (about 1 commit in 3000).
			c = "g" + c
		}
		v = "0.0.0-" + c
	}
	return v, v, triggers.ImageTag(v), nil
}

// Lint runs Helm's linter on a chart folder and writes every message to log. Lint errors are
// returned, joined, with Helm's messages; warnings and information are only logged.
func Lint(dir string, log io.Writer) error {
	if _, err := os.Stat(filepath.Join(dir, chartutil.ChartfileName)); err != nil {
		return fmt.Errorf("no chart in %s: %w", dir, err)
	}
	res := lint.RunAll(dir, map[string]any{}, "default")
	var errs []string
	for _, m := range res.Messages {
		fmt.Fprintln(log, m.Error())
		if m.Severity >= support.ErrorSev {
			errs = append(errs, m.Error())
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("helm lint: %d error(s): %s", len(errs), strings.Join(errs, "; "))
	}
	fmt.Fprintln(log, "helm lint: no errors")
	return nil
}

// Packaged is a chart archive ready to push.
type Packaged struct {
	Name, Version, AppVersion string
	// ContentDigest is the ferry.dev/content-digest annotation the archive carries.
	ContentDigest string
	// Path is the .tgz; Data its bytes.
	Path string
	Data []byte
}

// Package loads the chart in dir (honouring .helmignore), sets its version and appVersion,
// annotates it with its content digest and the image, and saves the archive into outDir.
func Package(dir, outDir, version, appVersion, image string) (*Packaged, error) {
	ch, err := loader.LoadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("load chart %s: %w", dir, err)
	}
	if ch.Metadata.APIVersion != chart.APIVersionV2 {
		return nil, fmt.Errorf("chart %s: apiVersion %q, want %s", dir, ch.Metadata.APIVersion, chart.APIVersionV2)
	}
	digest := ContentDigest(ch, version, appVersion, imageDigest(image))
	ch.Metadata.Version = version
	ch.Metadata.AppVersion = appVersion
	if ch.Metadata.Annotations == nil {
		ch.Metadata.Annotations = map[string]string{}
	}
	ch.Metadata.Annotations[AnnotationContentDigest] = digest
	if image != "" {
		ch.Metadata.Annotations[AnnotationImage] = image
	} else {
		delete(ch.Metadata.Annotations, AnnotationImage)
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, err
	}
	path, err := chartutil.Save(ch, outDir)
	if err != nil {
		return nil, fmt.Errorf("package chart %s: %w", dir, err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return &Packaged{Name: ch.Name(), Version: version, AppVersion: appVersion, ContentDigest: digest, Path: path, Data: data}, nil
}

// ContentDigest is sha256 over the chart's files as loaded (name and content digest of each,
// sorted; .helmignore'd files are not in it; subcharts under charts/ are), the chart version,
// the appVersion and the image digest. Modification times do not count.
func ContentDigest(ch *chart.Chart, version, appVersion, imageDigest string) string {
	files := slices.Clone(ch.Raw)
	slices.SortFunc(files, func(a, b *common.File) int { return strings.Compare(a.Name, b.Name) })
	h := sha256.New()
	fmt.Fprintf(h, "ferry chart content v1\n")
	for _, f := range files {
		sum := sha256.Sum256(f.Data)
		fmt.Fprintf(h, "file %q sha256:%x\n", f.Name, sum)
	}
	fmt.Fprintf(h, "version %q\nappVersion %q\nimage %q\n", version, appVersion, imageDigest)
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// imageDigest is the digest of repo@sha256:…, or the whole string when it has none.
func imageDigest(ref string) string {
	if _, d, ok := strings.Cut(ref, "@"); ok {
		return d
	}
	return ref
}

// ChartName reads the chart's name from its Chart.yaml, for messages before anything is
// packaged.
func ChartName(dir string) (string, error) {
	md, err := chartutil.LoadChartfile(filepath.Join(dir, chartutil.ChartfileName))
	if err != nil {
		return "", err
	}
	if md.Name == "" {
		return "", errors.New("Chart.yaml has no name")
	}
	return md.Name, nil
}
