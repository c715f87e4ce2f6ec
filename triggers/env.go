package triggers

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Event sources.
const (
	SourceFlags  = "flags"
	SourceGitHub = "github"
	SourceAzure  = "azure"
)

// CISystem says which CI system the process runs in: SourceGitHub, SourceAzure or "".
func CISystem(env func(string) string) string {
	switch {
	case env("GITHUB_ACTIONS") == "true":
		return SourceGitHub
	case strings.EqualFold(env("TF_BUILD"), "true"):
		return SourceAzure
	}
	return ""
}

// EventFlags are the event settings given on the command line; empty fields are unset.
type EventFlags struct {
	Event, Ref, Before, After, Base string
}

// DetectEvent reads the event from the CI environment (GitHub Actions or Azure Pipelines) and
// then applies the flags over it: a flag always wins. Outside CI the event comes from the flags
// alone; fields left empty are filled by the caller from the repository (HEAD).
func DetectEvent(env func(string) string, readFile func(string) ([]byte, error), f EventFlags) (Event, error) {
	var ev Event
	var err error
	switch CISystem(env) {
	case SourceGitHub:
		ev, err = fromGitHub(env, readFile)
	case SourceAzure:
		ev, err = fromAzure(env)
	default:
		ev = Event{Kind: Push, Source: SourceFlags}
	}
	if err != nil {
		return Event{}, err
	}
	overridden := false
	if f.Event != "" {
		k, err := ParseEventKind(f.Event)
		if err != nil {
			return Event{}, fmt.Errorf("--event: %w", err)
		}
		ev.Kind, overridden = k, true
	}
	for _, o := range []struct {
		flag, val string
		dst       *string
	}{{"--ref", f.Ref, &ev.Ref}, {"--before", f.Before, &ev.Before}, {"--after", f.After, &ev.After}} {
		if o.val != "" {
			*o.dst, overridden = o.val, true
		}
	}
	if f.Before != "" {
		ev.NoBefore = false
	}
	if f.Base != "" {
		ev.Base, ev.BaseSHA, overridden = NormalizeBranchRef(f.Base), "", true
	}
	if f.Ref != "" {
		ev.Ref = NormalizeBranchRef(f.Ref)
	}
	if overridden && ev.Source != SourceFlags {
		ev.Source += "+flags"
	}
	if ev.Kind == PullRequest && ev.Base == "" {
		return Event{}, fmt.Errorf("a pull request event needs its target branch: pass --base")
	}
	return ev, nil
}

// githubPayload holds the fields Ferry reads from $GITHUB_EVENT_PATH.
type githubPayload struct {
	Ref         string `json:"ref"`
	Before      string `json:"before"`
	After       string `json:"after"`
	PullRequest *struct {
		Base struct {
			Ref string `json:"ref"`
			SHA string `json:"sha"`
		} `json:"base"`
		Head struct {
			Ref string `json:"ref"`
			SHA string `json:"sha"`
		} `json:"head"`
	} `json:"pull_request"`
}

func fromGitHub(env func(string) string, readFile func(string) ([]byte, error)) (Event, error) {
	ev := Event{Source: SourceGitHub, Ref: env("GITHUB_REF"), After: env("GITHUB_SHA")}
	var p githubPayload
	if path := env("GITHUB_EVENT_PATH"); path != "" {
		data, err := readFile(path)
		if err != nil {
			return Event{}, fmt.Errorf("read GitHub event payload GITHUB_EVENT_PATH=%s: %w", path, err)
		}
		if err := json.Unmarshal(data, &p); err != nil {
			return Event{}, fmt.Errorf("parse GitHub event payload %s: %w", path, err)
		}
	}
	switch name := env("GITHUB_EVENT_NAME"); name {
	case "pull_request", "pull_request_target":
		ev.Kind = PullRequest
		ev.Base = NormalizeBranchRef(env("GITHUB_BASE_REF"))
		if head := env("GITHUB_HEAD_REF"); head != "" {
			ev.Ref = NormalizeBranchRef(head)
		}
		if p.PullRequest != nil {
			ev.Base = NormalizeBranchRef(p.PullRequest.Base.Ref)
			ev.BaseSHA = p.PullRequest.Base.SHA
			ev.Ref = NormalizeBranchRef(p.PullRequest.Head.Ref)
			ev.After = p.PullRequest.Head.SHA
		}
	case "push":
		ev.Kind = Push
		if p.Ref != "" {
			ev.Ref = p.Ref
		}
		ev.Before = p.Before
		if p.After != "" {
			ev.After = p.After
		}
	default:
		// workflow_dispatch, schedule, repository_dispatch...: a push of the current ref
		// without a known previous commit.
		ev.Kind, ev.NoBefore = Push, true
	}
	return ev, nil
}

// fromAzure reads Azure Pipelines' predefined variables. Azure does not say which commit a
// push replaced: NoBefore is set and the diff base is looked up.
func fromAzure(env func(string) string) (Event, error) {
	ev := Event{Source: SourceAzure, Ref: env("BUILD_SOURCEBRANCH"), After: env("BUILD_SOURCEVERSION")}
	switch reason := env("BUILD_REASON"); reason {
	case "PullRequest":
		ev.Kind = PullRequest
		ev.Base = NormalizeBranchRef(env("SYSTEM_PULLREQUEST_TARGETBRANCH"))
		if src := env("SYSTEM_PULLREQUEST_SOURCEBRANCH"); src != "" {
			ev.Ref = NormalizeBranchRef(src)
		}
		if sha := env("SYSTEM_PULLREQUEST_SOURCECOMMITID"); sha != "" {
			ev.After = sha
		}
	default:
		ev.Kind, ev.NoBefore = Push, true
	}
	return ev, nil
}
