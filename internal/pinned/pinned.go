// Package pinned is the one place that says which tool versions Ferry pins and where its
// caches live. The Makefile reads trivy.version for `make tools` and asks toolsdir where to
// put the tools, so that the CLI, the tests and the Makefile cannot disagree.
package pinned

import (
	_ "embed"
	"os"
	"path/filepath"
	"strings"
)

//go:embed trivy.version
var trivyVersion string

// TrivyVersion is the Trivy CLI version Ferry is tested with and `make tools` builds, with
// its leading v (v0.74.0).
func TrivyVersion() string { return strings.TrimSpace(trivyVersion) }

// CacheDir is Ferry's cache folder: $FERRY_CACHE_DIR, else os.UserCacheDir()/ferry; "" when
// neither is known.
func CacheDir(env func(string) string) string {
	if d := env("FERRY_CACHE_DIR"); d != "" {
		return d
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "ferry")
	}
	return ""
}

// ToolsDir is where `make tools` keeps the pinned tools, by version, outside the checkout so
// that later runs on the machine reuse them: $FERRY_TOOLS_DIR, else CacheDir/tools; "" when
// neither is known.
func ToolsDir(env func(string) string) string {
	if d := env("FERRY_TOOLS_DIR"); d != "" {
		return d
	}
	if root := CacheDir(env); root != "" {
		return filepath.Join(root, "tools")
	}
	return ""
}

// TrivyPath is where `make tools` puts the pinned trivy in a tools folder.
func TrivyPath(toolsDir string) string {
	return filepath.Join(toolsDir, "trivy-"+TrivyVersion(), "trivy")
}
