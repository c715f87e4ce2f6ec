package cibuilds_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/ferry-ci/ferry/triggers/cibuilds"
)

// azureAPI answers Builds - List as Azure DevOps documents it, for builds of definition 7.
func azureAPI(t *testing.T, builds map[string]string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		switch {
		case r.Header.Get("Authorization") != "Bearer tok3n":
			http.Error(w, "", http.StatusUnauthorized)
			return
		case r.URL.Path != "/org/Ship It/_apis/build/builds" || q.Get("definitions") != "7" ||
			q.Get("resultFilter") != "succeeded" || q.Get("$top") != "1" || q.Get("api-version") == "":
			http.Error(w, "unexpected query "+r.URL.String(), http.StatusBadRequest)
			return
		}
		type build struct {
			ID            int    `json:"id"`
			BuildNumber   string `json:"buildNumber"`
			SourceBranch  string `json:"sourceBranch"`
			SourceVersion string `json:"sourceVersion"`
			Result        string `json:"result"`
		}
		resp := struct {
			Count int     `json:"count"`
			Value []build `json:"value"`
		}{Value: []build{}}
		if sha, ok := builds[q.Get("branchName")]; ok {
			resp.Value = append(resp.Value, build{41, "20261201.3", q.Get("branchName"), sha, "succeeded"})
		}
		resp.Count = len(resp.Value)
		json.NewEncoder(w).Encode(resp)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestAzureLastSucceeded(t *testing.T) {
	srv := azureAPI(t, map[string]string{"refs/heads/main": "1a2b3c4d5e6f7a8b9c0d1a2b3c4d5e6f7a8b9c0d"})
	env := func(token string) func(string) string {
		vars := map[string]string{"SYSTEM_COLLECTIONURI": srv.URL + "/org/", "SYSTEM_TEAMPROJECT": "Ship It",
			"SYSTEM_DEFINITIONID": "7", "SYSTEM_ACCESSTOKEN": token}
		return func(k string) string { return vars[k] }
	}
	cases := []struct {
		name, token, branch, sha, what string
		err                            error
		anyErr                         bool
	}{
		{"last build of main", "tok3n", "refs/heads/main", "1a2b3c4d5e6f7a8b9c0d1a2b3c4d5e6f7a8b9c0d", "build 20261201.3 (id 41)", nil, false},
		{"no build of the branch", "tok3n", "refs/heads/feature/x", "", "", nil, false},
		{"token not mapped", "", "refs/heads/main", "", "", cibuilds.ErrNoToken, false},
		{"token refused", "wrong", "refs/heads/main", "", "", nil, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sha, what, err := cibuilds.AzureLastSucceeded{Env: env(tc.token)}.Find(t.Context(), tc.branch)
			switch {
			case tc.err != nil && !errors.Is(err, tc.err), tc.anyErr && err == nil, tc.err == nil && !tc.anyErr && err != nil:
				t.Fatalf("err = %v, want %v (any: %v)", err, tc.err, tc.anyErr)
			}
			if sha != tc.sha || what != tc.what {
				t.Errorf("Find = %q %q, want %q %q", sha, what, tc.sha, tc.what)
			}
		})
	}
}
