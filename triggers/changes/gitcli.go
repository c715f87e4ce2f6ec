package changes

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// gitCLI runs git plumbing commands in the work tree: cat-file, merge-base and diff-tree.
// Their output does not depend on user configuration, and the repository's own config cannot
// make them run code: no diff drivers, textconv, filters, pagers, hooks or fsmonitor are
// involved. (Dirty, in worktree.go, runs git status, which is porcelain: it may run the clean
// filters the repository configures.)
type gitCLI struct {
	bin  string
	root string
	env  []string
	// noIndex is a path in the repository's git directory where no file exists: see diff.
	noIndex string
}

var _ backend = (*gitCLI)(nil)

func newGitCLI(root string) (*gitCLI, error) {
	bin, err := exec.LookPath("git")
	if err != nil {
		return nil, fmt.Errorf("git backend: %w", err)
	}
	dir, err := gitDir(root)
	if err != nil {
		return nil, err
	}
	return &gitCLI{bin: bin, root: root, env: gitEnv(), noIndex: filepath.Join(dir, "ferry-no-index")}, nil
}

// gitEnv is a minimal environment: nothing from the caller's GIT_* variables (GIT_DIR,
// GIT_INDEX_FILE, GIT_CONFIG_PARAMETERS... would point git elsewhere or change answers), no
// system config, no pager, no prompts, no lazy fetches of a partial clone, no replace refs
// (go-git does not honour them either). HOME stays so that the user's safe.directory applies.
func gitEnv() []string {
	env := []string{
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_PAGER=cat",
		"PAGER=cat",
		"GIT_TERMINAL_PROMPT=0",
		"GIT_OPTIONAL_LOCKS=0",
		"GIT_NO_REPLACE_OBJECTS=1",
		"GIT_NO_LAZY_FETCH=1",
		"LC_ALL=C",
		"LANG=C",
	}
	for _, k := range []string{"PATH", "HOME", "XDG_CONFIG_HOME", "SYSTEMROOT"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// run runs one git command with stdin and returns its stdout. A failure carries git's stderr.
func (g *gitCLI) run(ctx context.Context, stdin string, args ...string) ([]byte, error) {
	return g.runEnv(ctx, nil, stdin, args...)
}

// runEnv is run with variables added to the environment.
func (g *gitCLI) runEnv(ctx context.Context, env []string, stdin string, args ...string) ([]byte, error) {
	full := append([]string{"-c", "core.quotepath=off", "-c", "core.fsmonitor=false"}, args...)
	stdout, stderr, err := execGit(ctx, g.bin, g.root, append(g.env[:len(g.env):len(g.env)], env...), stdin, full...)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("git %s: %w", args[0], ctx.Err())
		}
		if msg := strings.TrimSpace(stderr); msg != "" {
			return stdout, fmt.Errorf("git %s: %s: %w", args[0], msg, err)
		}
		return stdout, fmt.Errorf("git %s: %w", args[0], err)
	}
	return stdout, nil
}

// execGit runs git in the work tree at root with exactly env, and returns what it printed.
func execGit(ctx context.Context, bin, root string, env []string, stdin string, args ...string) (stdout []byte, stderr string, err error) {
	cmd := exec.CommandContext(ctx, bin, append([]string{"-C", root}, args...)...)
	cmd.Env, cmd.Dir = env, root
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	// A killed git cannot keep us waiting on its pipes.
	cmd.WaitDelay = time.Second
	err = cmd.Run()
	return out.Bytes(), errOut.String(), err
}

// batchCheck asks git cat-file for the object names of several revision expressions in one
// process. Each answer is the object name and type, or "" for a missing object; ambiguous
// reports short SHAs that matched several objects.
func (g *gitCLI) batchCheck(ctx context.Context, specs []string) (names, types []string, ambiguous []bool, err error) {
	var in strings.Builder
	for _, s := range specs {
		in.WriteString(s)
		in.WriteByte('\n')
	}
	out, err := g.run(ctx, in.String(), "cat-file", "--batch-check=%(objectname) %(objecttype)")
	if err != nil {
		return nil, nil, nil, err
	}
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(lines) != len(specs) {
		return nil, nil, nil, fmt.Errorf("git cat-file: %d answers for %d questions", len(lines), len(specs))
	}
	names, types, ambiguous = make([]string, len(specs)), make([]string, len(specs)), make([]bool, len(specs))
	for i, line := range lines {
		switch line {
		case specs[i] + " missing":
			continue
		case specs[i] + " ambiguous":
			ambiguous[i] = true
			continue
		}
		name, typ, ok := strings.Cut(line, " ")
		if !ok || len(name) != 40 || !isHex(name) {
			return nil, nil, nil, fmt.Errorf("git cat-file: unexpected answer %q for %q", line, specs[i])
		}
		names[i], types[i] = name, typ
	}
	return names, types, ambiguous, nil
}

func (g *gitCLI) resolve(ctx context.Context, queries []query) ([]resolved, error) {
	// Per candidate: name^{commit}, which peels annotated tags and, for a short SHA, makes
	// git consider only commit-ish objects as the go-git backend does; for a short SHA the
	// bare name too, because ^{commit} turns "ambiguous" into "missing"; and with parent
	// steps, name<steps>^{commit}, the answer when the name itself resolves.
	var specs []string
	for _, q := range queries {
		for _, c := range q.cands {
			specs = append(specs, c.s+"^{commit}")
			if c.kind == candPrefix {
				specs = append(specs, c.s)
			}
			if q.suffix != "" {
				specs = append(specs, c.s+q.suffix+"^{commit}")
			}
		}
	}
	out := make([]resolved, len(queries))
	if len(specs) == 0 {
		return out, nil
	}
	names, _, ambiguous, err := g.batchCheck(ctx, specs)
	if err != nil {
		return nil, err
	}
	i := 0
	for qi, q := range queries {
		done := false
		for _, c := range q.cands {
			name, amb, answer := names[i], false, names[i]
			i++
			if c.kind == candPrefix {
				amb = ambiguous[i]
				i++
				if name != "" && !strings.HasPrefix(name, c.s) {
					// git found a ref spelled like the prefix in a place we do not look.
					name = ""
				}
			}
			if q.suffix != "" {
				answer = names[i]
				i++
			}
			if done {
				continue
			}
			switch {
			case name != "":
				out[qi].sha, done = answer, true
			case amb:
				out[qi].ambiguous, done = c.s, true
			}
		}
	}
	return out, nil
}

func (g *gitCLI) mergeBases(ctx context.Context, a, b string) ([]string, error) {
	out, err := g.run(ctx, "", "merge-base", "--all", a, b)
	if err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) && exit.ExitCode() == 1 && len(out) == 0 {
			return nil, nil // git's way of saying there is none
		}
		return nil, err
	}
	return strings.Fields(string(out)), nil
}

func (g *gitCLI) diff(ctx context.Context, from, to string) ([]string, error) {
	// -z: paths come out raw, whatever their bytes. The other flags pin down what user
	// config could otherwise change for diff-tree: rename detection, submodule ignoring,
	// diff.relative, external diff and textconv drivers.
	//
	// diff-tree reads the whole index when it starts although comparing two trees by name
	// never uses it: 21 of 28 ms in the checked-out benchmark monorepo (12 MB index). A
	// GIT_INDEX_FILE that does not exist reads as an empty index; diff-tree never writes one.
	env := []string{"GIT_INDEX_FILE=" + g.noIndex}
	out, err := g.runEnv(ctx, env, "", "diff-tree", "-r", "-z", "--name-only", "--no-renames", "--no-commit-id",
		"--ignore-submodules=none", "--no-relative", "--no-ext-diff", "--no-textconv", from, to)
	if err != nil {
		return nil, err
	}
	paths := []string{}
	for p := range strings.SplitSeq(string(out), "\x00") {
		if p != "" {
			paths = append(paths, p)
		}
	}
	return paths, nil
}

func (g *gitCLI) trees(ctx context.Context, commit string, dirs []string) ([]string, error) {
	specs := make([]string, len(dirs))
	for i, d := range dirs {
		specs[i] = commit + ":" + d // "sha:" is the root tree
	}
	out := make([]string, len(dirs))
	if len(specs) == 0 {
		return out, nil
	}
	names, types, _, err := g.batchCheck(ctx, specs)
	if err != nil {
		return nil, err
	}
	for i := range names {
		if types[i] == "tree" {
			out[i] = names[i]
		}
	}
	return out, nil
}

func (g *gitCLI) commitParents(ctx context.Context, commit string) ([]string, error) {
	out, err := g.run(ctx, "", "cat-file", "commit", commit)
	if err != nil {
		return nil, err
	}
	c, err := parseCommit(out)
	if err != nil {
		return nil, fmt.Errorf("commit %s: %w", commit, err)
	}
	return hashStrings(c.parents), nil
}

func (g *gitCLI) files(ctx context.Context, commit, path string) ([]File, error) {
	// ls-tree's paths are literal prefixes at '/' boundaries, relative to the root with
	// --full-tree; :(literal) keeps a name starting with ':' from reading as pathspec magic.
	args := []string{"ls-tree", "-r", "-z", "--full-tree", commit}
	if path != "" {
		args = append(args, "--", ":(literal)"+path)
	}
	out, err := g.run(ctx, "", args...)
	if err != nil {
		return nil, err
	}
	var files []File
	for rec := range strings.SplitSeq(string(out), "\x00") {
		if rec == "" {
			continue
		}
		// <mode> SP <type> SP <object> TAB <path>
		meta, name, ok := strings.Cut(rec, "\t")
		fields := strings.Fields(meta)
		if !ok || len(fields) != 3 {
			return nil, fmt.Errorf("git ls-tree: unexpected line %q", rec)
		}
		files = append(files, File{Path: name, Hash: fields[2], Mode: fields[0]})
	}
	return files, nil
}

func (g *gitCLI) blob(ctx context.Context, hash string) ([]byte, error) {
	return g.run(ctx, "", "cat-file", "blob", hash)
}

func (g *gitCLI) close() error { return nil }
