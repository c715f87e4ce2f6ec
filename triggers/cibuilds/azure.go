// Package cibuilds asks a CI system which commit its last successful build of a branch was
// built from: the diff base of a push when the CI system does not say which commit the push
// replaced (Azure Pipelines never does).
package cibuilds

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// AzureLastSucceeded finds the last successful build of the running pipeline for a branch
// with the Azure DevOps REST API (Builds - List), authenticated with $SYSTEM_ACCESSTOKEN,
// which the pipeline must map into the step's environment. It returns the build's source
// commit and its build number, or "" when there is none.
type AzureLastSucceeded struct {
	// Env reads SYSTEM_COLLECTIONURI, SYSTEM_TEAMPROJECT, SYSTEM_DEFINITIONID and
	// SYSTEM_ACCESSTOKEN.
	Env    func(string) string
	Client *http.Client
}

// ErrNoToken means SYSTEM_ACCESSTOKEN is not mapped into the environment.
var ErrNoToken = errors.New("SYSTEM_ACCESSTOKEN is not mapped into the step's environment")

// timeout bounds the request: a plan must not wait long on an API.
const timeout = 20 * time.Second

type buildList struct {
	Value []struct {
		ID            int    `json:"id"`
		BuildNumber   string `json:"buildNumber"`
		SourceVersion string `json:"sourceVersion"`
	} `json:"value"`
}

// Find asks for the branch's last successful build (branch is a full ref, refs/heads/main).
func (a AzureLastSucceeded) Find(ctx context.Context, branch string) (sha, what string, err error) {
	token := a.Env("SYSTEM_ACCESSTOKEN")
	if token == "" {
		return "", "", ErrNoToken
	}
	endpoint, err := a.endpoint(branch)
	if err != nil {
		return "", "", err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
	if err != nil {
		return "", "", err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	client := a.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", "", fmt.Errorf("list builds: %w", redact(err, token))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", "", fmt.Errorf("list builds: %s (does the pipeline's build service have read access to builds?)", resp.Status)
	}
	var list buildList
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&list); err != nil {
		return "", "", fmt.Errorf("list builds: %w", err)
	}
	if len(list.Value) == 0 {
		return "", "", nil
	}
	b := list.Value[0]
	return b.SourceVersion, fmt.Sprintf("build %s (id %d)", b.BuildNumber, b.ID), nil
}

// endpoint is the documented Builds - List query for the branch's newest successful build.
func (a AzureLastSucceeded) endpoint(branch string) (string, error) {
	collection, project, definition := a.Env("SYSTEM_COLLECTIONURI"), a.Env("SYSTEM_TEAMPROJECT"), a.Env("SYSTEM_DEFINITIONID")
	if collection == "" || project == "" || definition == "" {
		return "", errors.New("SYSTEM_COLLECTIONURI, SYSTEM_TEAMPROJECT or SYSTEM_DEFINITIONID is not set")
	}
	q := url.Values{}
	q.Set("definitions", definition)
	q.Set("branchName", branch)
	q.Set("resultFilter", "succeeded")
	q.Set("statusFilter", "completed")
	q.Set("queryOrder", "finishTimeDescending")
	q.Set("$top", "1")
	q.Set("api-version", "7.1")
	return strings.TrimSuffix(collection, "/") + "/" + url.PathEscape(project) + "/_apis/build/builds?" + q.Encode(), nil
}

// redact keeps the token out of an error that quotes a URL or header.
func redact(err error, token string) error {
	if msg := err.Error(); strings.Contains(msg, token) {
		return errors.New(strings.ReplaceAll(msg, token, "***"))
	}
	return err
}
