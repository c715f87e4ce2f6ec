package changes

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strings"

	git "github.com/go-git/go-git/v5"
	gitconfig "github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
)

// Remote is the checkout's remote as go-git talks to it, with the credentials the checkout
// already has. Pushes and listings go through go-git, so that no git CLI is needed for them
// and the credentials are chosen once, here.
type Remote struct {
	repo *git.Repository
	// Name and URL are the remote's.
	Name, URL string
	auth      transport.AuthMethod
	// Auth says where the credentials came from (FERRY_GIT_TOKEN, http.extraheader, a git
	// credential helper, none), never what they are.
	Auth string
}

// OpenRemote opens the checkout's remote: origin, or the only one. token (FERRY_GIT_TOKEN),
// when set, is sent as the password of HTTP basic authentication; otherwise the checkout's
// http.extraheader (as actions/checkout and Azure Pipelines persist it) or a git credential
// helper is used; SSH remotes use the SSH agent.
func (r *Repo) OpenRemote(ctx context.Context, token string) (*Remote, error) {
	repo, err := git.PlainOpenWithOptions(r.root, &git.PlainOpenOptions{DetectDotGit: true, EnableDotGitCommonDir: true})
	if err != nil {
		return nil, fmt.Errorf("open remote: %w", err)
	}
	remotes, err := repo.Remotes()
	if err != nil {
		return nil, fmt.Errorf("open remote: %w", err)
	}
	var names []string
	for _, rem := range remotes {
		names = append(names, rem.Config().Name)
	}
	var name string
	switch {
	case slices.Contains(names, "origin"):
		name = "origin"
	case len(names) == 1:
		name = names[0]
	case len(names) == 0:
		return nil, errors.New("the repository has no remote to push to")
	default:
		return nil, fmt.Errorf("the repository has several remotes (%s) and none is called origin", strings.Join(names, ", "))
	}
	rem, _ := repo.Remote(name)
	if len(rem.Config().URLs) == 0 {
		return nil, fmt.Errorf("remote %s has no URL", name)
	}
	out := &Remote{repo: repo, Name: name, URL: rem.Config().URLs[0]}
	if out.auth, out.Auth, err = r.remoteAuth(ctx, out.URL, token); err != nil {
		return nil, fmt.Errorf("credentials for %s: %w", out.redactedURL(), err)
	}
	return out, nil
}

// redactedURL is the URL without a password, for messages.
func (rm *Remote) redactedURL() string {
	u, err := url.Parse(rm.URL)
	if err != nil || u.User == nil {
		return rm.URL
	}
	return u.Redacted()
}

// List returns the remote's branches and tags (tags peeled to their commits when the remote
// says so), sorted by name.
func (rm *Remote) List(ctx context.Context) ([]Ref, error) {
	rem, err := rm.repo.Remote(rm.Name)
	if err != nil {
		return nil, err
	}
	list, err := rem.ListContext(ctx, &git.ListOptions{Auth: rm.auth, PeelingOption: git.AppendPeeled})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", rm.redactedURL(), err)
	}
	byName := map[string]string{}
	for _, ref := range list {
		name := ref.Name().String()
		if ref.Type() != plumbing.HashReference || !(strings.HasPrefix(name, "refs/heads/") || strings.HasPrefix(name, "refs/tags/")) {
			continue
		}
		if base, ok := strings.CutSuffix(name, "^{}"); ok {
			byName[base] = ref.Hash().String() // the peeled commit wins over the tag object
			continue
		}
		if _, ok := byName[name]; !ok {
			byName[name] = ref.Hash().String()
		}
	}
	refs := make([]Ref, 0, len(byName))
	for n, c := range byName {
		refs = append(refs, Ref{Name: n, Commit: c})
	}
	slices.SortFunc(refs, func(a, b Ref) int { return strings.Compare(a.Name, b.Name) })
	return refs, nil
}

// PushBranch pushes a local branch to the remote under the same name. It never forces: a
// branch the remote already has with other commits is refused by the remote.
func (rm *Remote) PushBranch(ctx context.Context, branch string) error {
	ref := "refs/heads/" + branch
	err := rm.repo.PushContext(ctx, &git.PushOptions{RemoteName: rm.Name, Auth: rm.auth,
		RefSpecs: []gitconfig.RefSpec{gitconfig.RefSpec(ref + ":" + ref)}})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return fmt.Errorf("push %s to %s: %w", branch, rm.redactedURL(), err)
	}
	return nil
}

// remoteAuth chooses the credentials for an HTTP(S) remote; other transports get none here
// (go-git asks the SSH agent for ssh:// and scp-like URLs, and files need none).
func (r *Repo) remoteAuth(ctx context.Context, rawURL, token string) (transport.AuthMethod, string, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, "none", nil
	}
	if token != "" {
		return &githttp.BasicAuth{Username: "x-access-token", Password: token}, "FERRY_GIT_TOKEN", nil
	}
	if _, err := exec.LookPath("git"); err != nil {
		return nil, "none", nil
	}
	if header, err := r.gitOutput(ctx, "config", "--get-urlmatch", "http.extraheader", rawURL); err == nil {
		if name, value, ok := strings.Cut(strings.TrimSpace(string(header)), ":"); ok && strings.TrimSpace(value) != "" {
			return &headerAuth{name: strings.TrimSpace(name), value: strings.TrimSpace(value)}, "http.extraheader", nil
		}
	}
	if helper, err := r.gitOutput(ctx, "config", "--get-urlmatch", "credential.helper", rawURL); err != nil || strings.TrimSpace(string(helper)) == "" {
		return nil, "none", nil
	}
	user, pass, err := r.credentialFill(ctx, u)
	if err != nil {
		return nil, "", err
	}
	return &githttp.BasicAuth{Username: user, Password: pass}, "git credential helper", nil
}

// credentialFill asks git's credential helpers, without prompting, for the URL's credentials.
func (r *Repo) credentialFill(ctx context.Context, u *url.URL) (user, pass string, err error) {
	in := fmt.Sprintf("protocol=%s\nhost=%s\npath=%s\n", u.Scheme, u.Host, strings.TrimPrefix(u.Path, "/"))
	if u.User != nil {
		in += "username=" + u.User.Username() + "\n"
	}
	bin, err := exec.LookPath("git")
	if err != nil {
		return "", "", err
	}
	env := append(fetchEnv(os.Environ()), "GIT_ASKPASS=", "SSH_ASKPASS=")
	stdout, stderr, err := execGit(ctx, bin, r.root, env, in+"\n", "credential", "fill")
	if err != nil {
		return "", "", fmt.Errorf("git credential fill: %s", lastLine(stderr))
	}
	for line := range strings.SplitSeq(string(stdout), "\n") {
		k, v, _ := strings.Cut(line, "=")
		switch k {
		case "username":
			user = v
		case "password":
			pass = v
		}
	}
	if pass == "" {
		return "", "", errors.New("git credential fill: the helper gave no password")
	}
	return user, pass, nil
}

// headerAuth sends a header as it is configured (http.extraheader: "AUTHORIZATION: basic …").
type headerAuth struct{ name, value string }

var _ githttp.AuthMethod = (*headerAuth)(nil)

func (a *headerAuth) Name() string              { return "http.extraheader" }
func (a *headerAuth) String() string            { return a.name + ": *****" }
func (a *headerAuth) SetAuth(req *http.Request) { req.Header.Set(a.name, a.value) }
