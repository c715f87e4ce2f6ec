package workspace

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/ferry-ci/ferry/pipeline"
	"github.com/ferry-ci/ferry/pipeline/config"
	"github.com/ferry-ci/ferry/pipeline/releases"
	"github.com/ferry-ci/ferry/triggers"
	"github.com/ferry-ci/ferry/triggers/changes"
)

// CutOptions is what `ferry release cut` asks for.
type CutOptions struct {
	Service string
	// Bump (patch, minor, major, auto) is used when Version is empty.
	Bump    releases.Bump
	Version string
	Pre     string
	// From is the revision to cut from; "" is the trunk's HEAD, which must then be checked
	// out, clean and not detached.
	From string
	// Push pushes the branch to the checkout's remote with go-git; Token (FERRY_GIT_TOKEN)
	// authenticates instead of the checkout's credentials.
	Push  bool
	Token string
	// RequireChanges refuses to cut when no commit since the latest release touched the
	// service (with Auto: none with a feat, fix, perf or breaking change).
	RequireChanges bool
	Backend        changes.Backend
	// Registry, when set, is asked whether the version's image or chart tag exists;
	// ChartName is the service's chart name ("" without a chart).
	Registry  *releases.Registry
	ChartName string
}

// Cut is what a release cut did, or would have done before it was refused.
type Cut struct {
	Service string `json:"service"`
	Version string `json:"version"`
	Branch  string `json:"branch"`
	Commit  string `json:"commit"`
	// Bump is the bump that made the version ("" for --version); Auto says what the commits
	// asked for.
	Bump string `json:"bump,omitempty"`
	// Previous is the latest release before this one, Base the latest final release the
	// bump starts from; nil when there is none.
	Previous *Release `json:"previous"`
	Base     *Release `json:"base"`
	// Commits are those since Previous (all of them for a first release) that touched the
	// service or one of its dependencies, newest first.
	Commits []ReleaseCommit `json:"commits"`
	// Checked lists the registry tags that were looked for and were absent.
	Checked []string `json:"registryChecked"`
	Pushed  bool     `json:"pushed"`
	Remote  string   `json:"remote,omitempty"`
	// Auth says where the push's credentials came from, never what they are.
	Auth    string          `json:"auth,omitempty"`
	Fetches []changes.Fetch `json:"fetches,omitempty"`
}

// Release is one existing release.
type Release struct {
	Version string `json:"version"`
	Ref     string `json:"ref"`
	Commit  string `json:"commit"`
}

// ReleaseCommit is a commit of the release, with its Conventional Commit reading and why it
// touched the service.
type ReleaseCommit struct {
	SHA      string `json:"sha"`
	Subject  string `json:"subject"`
	Author   string `json:"author"`
	Type     string `json:"type,omitempty"`
	Breaking bool   `json:"breaking,omitempty"`
	Reason   string `json:"reason"`
	message  string
}

// ErrRefused marks the cut's refusals (version taken or not newer, dirty trunk, no changes):
// nothing was created.
var ErrRefused = errors.New("refused")

func refuse(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrRefused, fmt.Sprintf(format, args...))
}

// CutRelease finds the service's latest release among its release branches and tags (the
// remote's too, with Push), computes the next version, checks that it is free in git and in
// the registry, creates the release branch at the trunk's HEAD (or From) and, with Push,
// pushes it. Every refusal happens before anything is created.
func CutRelease(ctx context.Context, cfg *config.Config, opts CutOptions) (*Cut, error) {
	if cfg.Service(opts.Service) == nil {
		return nil, fmt.Errorf("unknown service %q (services in %s: %s)", opts.Service, cfg.File, strings.Join(cfg.ServiceNames(), ", "))
	}
	shapes, err := pipeline.ReleaseRefs(cfg)
	if err != nil {
		return nil, err
	}
	repo, err := changes.Open(cfg.Root, opts.Backend)
	if err != nil {
		return nil, err
	}
	defer repo.Close()
	c := &Cut{Service: opts.Service, Commits: []ReleaseCommit{}, Checked: []string{}}
	if c.Commit, err = cutTarget(ctx, repo, cfg, opts.From); err != nil {
		return nil, err
	}
	refs, remote, err := releaseRefs(ctx, repo, opts)
	if err != nil {
		return nil, err
	}
	if remote != nil {
		c.Remote, c.Auth = remote.Name, remote.Auth
	}
	existing := releases.Find(shapes, opts.Service, refs)
	c.Previous, c.Base = toRelease(releases.Latest(existing)), toRelease(releases.LatestFinal(existing))
	req := releases.Request{Bump: opts.Bump, Version: opts.Version, Pre: opts.Pre}
	if err := c.readCommits(ctx, repo, cfg, opts, &req); err != nil {
		return nil, err
	}
	v, err := releases.Next(existing, req)
	if err != nil {
		if errors.Is(err, releases.ErrExists) || errors.Is(err, releases.ErrNotNewer) {
			return c, fmt.Errorf("%w: %v", ErrRefused, err)
		}
		return nil, err
	}
	c.Version = v.String()
	c.Branch = shapes.BranchShape().Name(opts.Service, c.Version)
	if err := c.checkRegistry(ctx, cfg, opts); err != nil {
		return c, err
	}
	if err := repo.CreateBranch(ctx, c.Branch, c.Commit); err != nil {
		if errors.Is(err, changes.ErrRefExists) {
			return c, refuse("branch %s already exists", c.Branch)
		}
		return c, err
	}
	if remote == nil {
		return c, nil
	}
	if err := remote.PushBranch(ctx, c.Branch); err != nil {
		// Leave nothing behind, so that the same cut can simply be run again.
		if derr := repo.DeleteBranch(ctx, c.Branch, c.Commit); derr != nil {
			return c, errors.Join(err, fmt.Errorf("the local branch stays: %w", derr))
		}
		return c, fmt.Errorf("%w (the local branch %s was deleted again)", err, c.Branch)
	}
	c.Pushed = true
	return c, nil
}

func toRelease(e *releases.Existing) *Release {
	if e == nil {
		return nil
	}
	return &Release{Version: e.Version.String(), Ref: e.Refs[0], Commit: e.Commit}
}

// cutTarget is the commit to cut from: From, or the trunk's HEAD, which must be the checked
// out branch and clean (Ferry's own run store aside).
func cutTarget(ctx context.Context, repo *changes.Repo, cfg *config.Config, from string) (string, error) {
	if from != "" {
		sha, err := repo.Resolve(ctx, from)
		if err != nil {
			return "", fmt.Errorf("--from: %w", err)
		}
		return sha, nil
	}
	head, err := repo.HeadRef(ctx)
	if err != nil {
		return "", err
	}
	switch {
	case head == "":
		return "", refuse("HEAD is detached: check out the trunk %s, or name the commit with --from", cfg.Trunk)
	case head != "refs/heads/"+cfg.Trunk:
		return "", refuse("on branch %s, not the trunk %s: check out %s, or name the commit with --from", strings.TrimPrefix(head, "refs/heads/"), cfg.Trunk, cfg.Trunk)
	}
	dirty, err := repo.DirtyPaths(ctx)
	if err != nil {
		return "", err
	}
	prefix, err := RepoPrefix(repo.Root(), cfg.Root)
	if err != nil {
		return "", err
	}
	store := strings.TrimPrefix(prefix+"/.ferry/", "/")
	dirty = slices.DeleteFunc(dirty, func(p string) bool { return strings.HasPrefix(p, store) })
	if len(dirty) > 0 {
		more := ""
		if len(dirty) > 3 {
			more = fmt.Sprintf(" and %d more", len(dirty)-3)
			dirty = dirty[:3]
		}
		return "", refuse("the trunk %s has uncommitted changes (%s%s): commit or stash them, or name the commit with --from", cfg.Trunk, strings.Join(dirty, ", "), more)
	}
	return repo.Resolve(ctx, "HEAD")
}

// releaseRefs lists the local refs and, with Push, the remote's, as remote-tracking names.
func releaseRefs(ctx context.Context, repo *changes.Repo, opts CutOptions) ([]releases.Ref, *changes.Remote, error) {
	local, err := repo.Refs(ctx)
	if err != nil {
		return nil, nil, err
	}
	var refs []releases.Ref
	for _, r := range local {
		refs = append(refs, releases.Ref{Name: r.Name, Commit: r.Commit})
	}
	if !opts.Push {
		return refs, nil, nil
	}
	remote, err := repo.OpenRemote(ctx, opts.Token)
	if err != nil {
		return nil, nil, err
	}
	listed, err := remote.List(ctx)
	if err != nil {
		return nil, nil, err
	}
	for _, r := range listed {
		name := r.Name
		if b, ok := strings.CutPrefix(name, "refs/heads/"); ok {
			name = "refs/remotes/" + remote.Name + "/" + b
		}
		if !slices.ContainsFunc(refs, func(x releases.Ref) bool { return x.Name == name }) {
			refs = append(refs, releases.Ref{Name: name, Commit: r.Commit})
		}
	}
	return refs, remote, nil
}

// checkRegistry refuses a version whose image or chart tag is already in the registry.
func (c *Cut) checkRegistry(ctx context.Context, cfg *config.Config, opts CutOptions) error {
	if opts.Registry == nil || cfg.Registry == "" {
		return nil
	}
	tag := triggers.ImageTag(c.Version)
	var repos []string
	if cfg.Service(opts.Service).Image != nil {
		repos = append(repos, strings.TrimSuffix(cfg.Registry, "/")+"/"+opts.Service)
	}
	if opts.ChartName != "" {
		repos = append(repos, strings.TrimSuffix(cfg.Registry, "/")+"/helm/"+opts.ChartName)
	}
	for _, repo := range repos {
		found, err := opts.Registry.Exists(ctx, repo, tag)
		if err != nil {
			return fmt.Errorf("checking whether %s:%s exists: %w (pass --no-registry-check to cut without asking the registry)", repo, tag, err)
		}
		if found {
			return refuse("version %s: %s:%s is already in the registry", c.Version, repo, tag)
		}
		c.Checked = append(c.Checked, repo+":"+tag)
	}
	return nil
}

// readCommits lists the commits since the previous release that touched the service and,
// for --bump auto and --require-changes, reads the bump from those since the base release.
func (c *Cut) readCommits(ctx context.Context, repo *changes.Repo, cfg *config.Config, opts CutOptions, req *releases.Request) error {
	prefix, err := RepoPrefix(repo.Root(), cfg.Root)
	if err != nil {
		return err
	}
	services, global := pipeline.TriggerServices(cfg)
	ix, err := triggers.NewIndex(services, global...)
	if err != nil {
		return err
	}
	touched := func(since *Release) ([]ReleaseCommit, error) {
		commits, err := c.history(ctx, repo, since)
		if err != nil {
			return nil, err
		}
		var out []ReleaseCommit
		for _, cm := range commits {
			for _, a := range ix.Affected(triggers.ScopePaths(cm.Paths, prefix)) {
				if a.Name != opts.Service {
					continue
				}
				cc := releases.ParseConventional(cm.Message)
				out = append(out, ReleaseCommit{SHA: cm.SHA, Subject: cm.Subject, Author: cm.Author,
					Type: cc.Type, Breaking: cc.Breaking, Reason: strings.Join(a.Reasons, "; "), message: cm.Message})
			}
		}
		return out, nil
	}
	if c.Commits, err = touched(c.Previous); err != nil {
		return err
	}
	if c.Commits == nil {
		c.Commits = []ReleaseCommit{}
	}
	if req.Version != "" || (opts.Bump != releases.Auto && !opts.RequireChanges) {
		c.Bump = string(req.Bump)
		return nil
	}
	sinceBase := c.Commits
	if c.Base != c.Previous && (c.Base == nil || c.Previous == nil || c.Base.Version != c.Previous.Version) {
		if sinceBase, err = touched(c.Base); err != nil {
			return err
		}
	}
	var messages []string
	for _, cm := range sinceBase {
		messages = append(messages, cm.message)
	}
	bump, releasable := releases.AutoBump(messages)
	since := "its first commit"
	if c.Base != nil {
		since = "v" + c.Base.Version
	}
	switch {
	case opts.RequireChanges && len(sinceBase) == 0:
		return refuse("no release: no commit touched %s or its dependencies since %s (--require-changes)", opts.Service, since)
	case opts.RequireChanges && opts.Bump == releases.Auto && !releasable:
		return refuse("no release: none of the %d commit(s) that touched %s since %s is a feat, fix, perf or breaking change (--require-changes)", len(sinceBase), opts.Service, since)
	case opts.Bump == releases.Auto:
		req.Bump = bump
		c.Bump = "auto: " + string(bump)
	default:
		c.Bump = string(req.Bump)
	}
	return nil
}

// history is the commits from the cut's commit back to since (every commit when since is
// nil), with no depth limit: a previous release the clone lacks is fetched, and a shallow
// clone is deepened until the range is complete.
func (c *Cut) history(ctx context.Context, repo *changes.Repo, since *Release) ([]changes.Commit, error) {
	var exclude []string
	if since != nil {
		if _, err := repo.Resolve(ctx, since.Commit); errors.Is(err, changes.ErrNotFound) {
			ref := since.Ref
			if rest, ok := strings.CutPrefix(ref, "refs/remotes/"); ok {
				_, branch, _ := strings.Cut(rest, "/")
				ref = "refs/heads/" + branch
			}
			fetches, err := repo.FetchRefs(ctx, ref)
			c.Fetches = append(c.Fetches, fetches...)
			if err != nil {
				return nil, fmt.Errorf("the previous release %s (%s) is not in this clone and fetching it failed: %w", since.Version, since.Ref, err)
			}
		}
		exclude = append(exclude, since.Commit)
	}
	h, err := repo.Log(ctx, c.Commit, exclude...)
	if err != nil || !h.Truncated {
		return h.Commits, err
	}
	// No commits to deepen from: the cut's commit may be local only, and --deepen moves the
	// shallow boundary itself, whichever refs are fetched.
	complete, fetches, err := repo.Deepen(ctx, nil, func() (bool, error) {
		h, err = repo.Log(ctx, c.Commit, exclude...)
		return err == nil && !h.Truncated, err
	})
	c.Fetches = append(c.Fetches, fetches...)
	switch {
	case err != nil:
		return nil, fmt.Errorf("history is missing: the clone is shallow and deepening it failed: %w", err)
	case !complete:
		return nil, errors.New("history is missing: the clone is still shallow after fetching its whole history")
	}
	return h.Commits, nil
}

// FindReleases lists a service's releases from the checkout's branches, remote-tracking
// branches and tags.
func FindReleases(ctx context.Context, cfg *config.Config, service string, backend changes.Backend) ([]releases.Existing, error) {
	if cfg.Service(service) == nil {
		return nil, fmt.Errorf("unknown service %q (services in %s: %s)", service, cfg.File, strings.Join(cfg.ServiceNames(), ", "))
	}
	shapes, err := pipeline.ReleaseRefs(cfg)
	if err != nil {
		return nil, err
	}
	repo, err := changes.Open(cfg.Root, backend)
	if err != nil {
		return nil, err
	}
	defer repo.Close()
	refs, _, err := releaseRefs(ctx, repo, CutOptions{})
	if err != nil {
		return nil, err
	}
	return releases.Find(shapes, service, refs), nil
}
