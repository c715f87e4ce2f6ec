package changes

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"
)

// A CI checkout is shallow (depth 1 by default on GitHub Actions and Azure Pipelines) and
// often holds one branch: the commit a diff starts from may be missing. Changed then fetches
// it from the checkout's remote with the git CLI, which uses whatever credentials the checkout
// configured (actions/checkout's http.extraheader, Azure's persisted credentials, an SSH
// agent). A diff needs only two trees, so a single commit is fetched with --depth=1; a
// merge-base needs history, which is deepened step by step.

// Fetch is one git fetch that Changed ran.
type Fetch struct {
	// Command is the git command line, e.g. "git fetch --no-tags --depth=1 origin 1a2b3c4".
	Command string `json:"command"`
	// Took is how long it ran.
	Took time.Duration `json:"took"`
	// Error is why it failed, "" when it succeeded.
	Error string `json:"error,omitempty"`
}

// deepenSteps are the --deepen steps tried, in order, before --unshallow.
var deepenSteps = []int{50, 200, 1000}

// fetchTimeout bounds one fetch: a hung network must not hang the plan.
const fetchTimeout = 5 * time.Minute

// fetcher fetches into the work tree's repository and remembers what it ran.
type fetcher struct {
	repo    *Repo
	enabled bool
	remote  string // found on first use
	log     []Fetch
	failed  error // the first failure, which ends fetching for this event
}

// errFetchOff is returned when fetching was turned off (--no-fetch).
var errFetchOff = errors.New("fetching is turned off (--no-fetch)")

// run runs one git fetch with args after the remote name. After a fetch the backend is
// reopened so that it sees the new objects and the new shallow boundary.
func (f *fetcher) run(ctx context.Context, args ...string) error {
	if !f.enabled {
		return errFetchOff
	}
	if f.failed != nil {
		return f.failed
	}
	if f.remote == "" {
		remote, err := f.repo.checkoutRemote(ctx)
		if err != nil {
			f.failed = err
			return err
		}
		f.remote = remote
	}
	full := append([]string{"fetch", "--no-tags", "--no-write-fetch-head", "--quiet"}, fetchFlags(args)...)
	full = append(full, f.remote)
	full = append(full, fetchRefs(args)...)
	start := time.Now()
	err := f.repo.gitFetch(ctx, full)
	rec := Fetch{Command: "git " + strings.Join(displayArgs(full), " "), Took: time.Since(start).Round(time.Millisecond)}
	if err != nil {
		rec.Error = err.Error()
		f.failed = fmt.Errorf("%s: %w", rec.Command, err)
	}
	f.log = append(f.log, rec)
	if err != nil {
		return f.failed
	}
	return f.repo.reopen()
}

// fetchFlags and fetchRefs split run's arguments into options and refs or commits.
func fetchFlags(args []string) []string {
	return slices.DeleteFunc(slices.Clone(args), func(a string) bool { return !strings.HasPrefix(a, "-") })
}

func fetchRefs(args []string) []string {
	return slices.DeleteFunc(slices.Clone(args), func(a string) bool { return strings.HasPrefix(a, "-") })
}

// displayArgs shortens commits for the log and drops flags that only keep git quiet.
func displayArgs(args []string) []string {
	var out []string
	for _, a := range args {
		switch {
		case a == "--quiet" || a == "--no-write-fetch-head":
		case len(a) == 40 && isHex(a):
			out = append(out, short(a))
		default:
			out = append(out, a)
		}
	}
	return out
}

// fetchCommit fetches one commit, without its history.
func (f *fetcher) fetchCommit(ctx context.Context, sha string) error {
	return f.run(ctx, "--depth=1", sha)
}

// fetchBranch fetches the tip of a branch into its remote-tracking ref.
func (f *fetcher) fetchBranch(ctx context.Context, branch string) error {
	name := strings.TrimPrefix(branch, "refs/heads/")
	if !validRefName("refs/heads/" + name) {
		return fmt.Errorf("fetch branch %q: not a valid branch name", branch)
	}
	// The remote is only known after the first fetch; "origin" is the tracking namespace
	// branchQuery reads, whatever the remote is called.
	return f.run(ctx, "--depth=1", fmt.Sprintf("+refs/heads/%s:refs/remotes/origin/%s", name, name))
}

// deepen makes the history behind commits longer: by each step, then completely. It stops as
// soon as found reports true. ok is false when the history ended without found.
func (f *fetcher) deepen(ctx context.Context, commits []string, found func() (bool, error)) (bool, error) {
	for _, n := range deepenSteps {
		shallow, err := f.repo.isShallow()
		if err != nil || !shallow {
			return false, err
		}
		if err := f.run(ctx, append([]string{fmt.Sprintf("--deepen=%d", n)}, commits...)...); err != nil {
			return false, err
		}
		if ok, err := found(); ok || err != nil {
			return ok, err
		}
	}
	if shallow, err := f.repo.isShallow(); err != nil || !shallow {
		return false, err
	}
	if err := f.run(ctx, append([]string{"--unshallow"}, commits...)...); err != nil {
		return false, err
	}
	return found()
}

// summary says in one line what was fetched and how long it took.
func summarizeFetches(log []Fetch) string {
	if len(log) == 0 {
		return ""
	}
	var took time.Duration
	ok := 0
	for _, f := range log {
		took += f.Took
		if f.Error == "" {
			ok++
		}
	}
	return fmt.Sprintf("fetched from the remote %d time(s) in %s", ok, took.Round(time.Millisecond))
}

// checkoutRemote is the remote the checkout came from: origin when there is one (both CI
// systems name it so), else the only remote.
func (r *Repo) checkoutRemote(ctx context.Context) (string, error) {
	out, err := r.gitOutput(ctx, "remote")
	if err != nil {
		return "", err
	}
	remotes := strings.Fields(string(out))
	switch {
	case slices.Contains(remotes, "origin"):
		return "origin", nil
	case len(remotes) == 1:
		return remotes[0], nil
	case len(remotes) == 0:
		return "", errors.New("the repository has no remote to fetch from")
	}
	return "", fmt.Errorf("the repository has several remotes (%s) and none is called origin", strings.Join(remotes, ", "))
}

// isShallow reports whether the repository is a shallow clone.
func (r *Repo) isShallow() (bool, error) {
	dir, err := r.gitDir()
	if err != nil {
		return false, err
	}
	common, err := commonDir(dir)
	if err != nil {
		return false, err
	}
	st, err := os.Stat(common + "/shallow")
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	return err == nil && st.Size() > 0, err
}

// gitFetch runs git fetch. Unlike the read-only plumbing commands, a fetch needs the user's
// and the system's config and the environment that carries credentials and proxies.
func (r *Repo) gitFetch(ctx context.Context, args []string) error {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	_, err := r.runGit(ctx, fetchEnv(os.Environ()), args...)
	return err
}

// gitOutput runs a read-only git command with the fetch environment.
func (r *Repo) gitOutput(ctx context.Context, args ...string) ([]byte, error) {
	return r.runGit(ctx, fetchEnv(os.Environ()), args...)
}

func (r *Repo) runGit(ctx context.Context, env []string, args ...string) ([]byte, error) {
	bin, err := exec.LookPath("git")
	if err != nil {
		return nil, errors.New("fetching needs the git CLI, which is not installed")
	}
	stdout, stderr, err := execGit(ctx, bin, r.root, env, "", args...)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("git %s: %w", args[0], ctx.Err())
		}
		if msg := lastLine(stderr); msg != "" {
			return nil, errors.New(msg)
		}
		return nil, err
	}
	return stdout, nil
}

// lastLine is the last non-empty line of git's stderr: the reason, after any hints.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// fetchEnv keeps what a fetch needs from the environment (credentials helpers, SSH agent,
// proxies, HOME for the user's config) and drops the GIT_* variables that would point git at
// another repository. Prompts are off: a CI job cannot answer them.
func fetchEnv(environ []string) []string {
	drop := []string{"GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY",
		"GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_COMMON_DIR", "GIT_NAMESPACE", "GIT_CEILING_DIRECTORIES"}
	var env []string
	for _, kv := range environ {
		k, _, _ := strings.Cut(kv, "=")
		if slices.Contains(drop, k) || k == "GIT_TERMINAL_PROMPT" || k == "LC_ALL" {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "GIT_TERMINAL_PROMPT=0", "LC_ALL=C")
}

// reopen makes the backend see objects and a shallow list that a fetch changed.
func (r *Repo) reopen() error {
	var impl backend
	var err error
	if r.backend == GitCLI {
		impl, err = newGitCLI(r.root)
	} else {
		impl, err = newGoGit(r.root)
	}
	if err != nil {
		return fmt.Errorf("reopen after fetch: %w", err)
	}
	old := r.impl
	r.impl = impl
	return old.close()
}
