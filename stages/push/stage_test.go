package push

import (
	"slices"
	"testing"

	"github.com/ferry-ci/ferry/pipeline/config"
)

func TestTarget(t *testing.T) {
	cfg := &config.Config{Registry: "myrepo.azurecr.io"}
	cases := []struct {
		version, commit string
		tags            Tags
	}{
		{"1.0.2", "abc123", Tags{Immutable: []string{"1.0.2"}, Moving: []string{"abc123"}}},
		{"2.0.0-rc.1+build.7", "abc123", Tags{Immutable: []string{"2.0.0-rc.1_build.7"}, Moving: []string{"abc123"}}},
		{"", "abc123", Tags{Moving: []string{"abc123"}}},
	}
	for _, tc := range cases {
		repo, tags := Target(cfg, "delivery", tc.version, tc.commit)
		if repo != "myrepo.azurecr.io/delivery" || !slices.Equal(tags.Immutable, tc.tags.Immutable) || !slices.Equal(tags.Moving, tc.tags.Moving) {
			t.Errorf("Target(%q) = %s %v, want %v", tc.version, repo, tags, tc.tags)
		}
	}
}
