package pinned_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ferry-ci/ferry/internal/pinned"
)

func TestTrivyVersion(t *testing.T) {
	if v := pinned.TrivyVersion(); !regexp.MustCompile(`^v\d+\.\d+\.\d+$`).MatchString(v) {
		t.Errorf("TrivyVersion() = %q, want vMAJOR.MINOR.PATCH", v)
	}
}

// TestReadmeNamesThePinnedTrivy keeps the README's setup instructions true when the pin moves.
func TestReadmeNamesThePinnedTrivy(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "Trivy CLI ("+pinned.TrivyVersion()) {
		t.Errorf("README.md does not name the pinned Trivy CLI (%s)", pinned.TrivyVersion())
	}
}

func TestToolsDir(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", "/xdg")
	t.Setenv("HOME", "/home/dev")
	cases := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"tools dir wins", map[string]string{"FERRY_TOOLS_DIR": "/tools", "FERRY_CACHE_DIR": "/cache"}, "/tools"},
		{"under the cache dir", map[string]string{"FERRY_CACHE_DIR": "/cache"}, "/cache/tools"},
		{"user cache dir", nil, "/xdg/ferry/tools"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := func(k string) string { return tc.env[k] }
			if got := pinned.ToolsDir(env); got != tc.want {
				t.Errorf("ToolsDir = %q, want %q", got, tc.want)
			}
		})
	}
	if got, want := pinned.TrivyPath("/tools"), "/tools/trivy-"+pinned.TrivyVersion()+"/trivy"; got != want {
		t.Errorf("TrivyPath = %q, want %q", got, want)
	}
}
