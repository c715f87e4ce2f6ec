package pipeline_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ferry-ci/ferry/pipeline"
)

func TestScrubCredentials(t *testing.T) {
	env := []string{"PATH=/bin", "GITHUB_TOKEN=g", "ACTIONS_RUNTIME_TOKEN=a", "SYSTEM_ACCESSTOKEN=s",
		"FERRY_REGISTRY_PASSWORD=p", "FERRY_REGISTRY_USERNAME=u", "FERRY_GIT_TOKEN=t", "FERRY_SIGNING_KEY=k",
		"FERRY_CACHE_DIR=/c", "NPM_TOKEN=n", "GITHUB_SHA=abc"}
	cases := []struct {
		pass []string
		want []string
	}{
		{nil, []string{"PATH=/bin", "FERRY_CACHE_DIR=/c", "NPM_TOKEN=n", "GITHUB_SHA=abc"}},
		{[]string{"GITHUB_TOKEN", "FERRY_GIT_TOKEN"}, []string{"PATH=/bin", "GITHUB_TOKEN=g", "FERRY_GIT_TOKEN=t", "FERRY_CACHE_DIR=/c", "NPM_TOKEN=n", "GITHUB_SHA=abc"}},
	}
	for _, tc := range cases {
		if diff := cmp.Diff(tc.want, pipeline.ScrubCredentials(env, tc.pass)); diff != "" {
			t.Errorf("ScrubCredentials(pass %v) (-want +got):\n%s", tc.pass, diff)
		}
	}
}
