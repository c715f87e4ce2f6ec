// Package command implements the build and test stages: a service's own commands, run in the
// service's folder.
//
// A command written as a string is parsed as POSIX shell. When it is one simple command made
// of plain words (quotes allowed), it runs directly, without a shell. When it uses shell syntax
// (pipes, &&, ;, redirections, variables, command substitution, globs, ~, VAR=value
// prefixes) or is a shell builtin (cd, ., source, export, exit, set, ...), it runs under sh -c.
// A command written as a list always runs directly.
package command

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"mvdan.cc/sh/v3/syntax"

	"github.com/ferry-ci/ferry/pipeline/config"
)

// Plan is how a command will be executed.
type Plan struct {
	Args []string
	// Shell is set when the command needs sh -c.
	Shell bool
}

func (p Plan) String() string {
	if p.Shell {
		return fmt.Sprintf("sh -c %q", p.Args[2])
	}
	return strings.Join(p.Args, " ")
}

// Prepare decides how to run a configured command.
func Prepare(c *config.Command) (Plan, error) {
	if c == nil {
		return Plan{}, errors.New("no command")
	}
	if len(c.Args) > 0 {
		return Plan{Args: c.Args}, nil
	}
	args, ok, err := plainWords(c.Line)
	if err != nil {
		return Plan{}, fmt.Errorf("command %q: %w", c.Line, err)
	}
	if ok {
		return Plan{Args: args}, nil
	}
	return Plan{Args: []string{"sh", "-c", c.Line}, Shell: true}, nil
}

// plainWords returns the words of a command line that needs no shell, or ok=false when it does.
func plainWords(line string) (words []string, ok bool, err error) {
	f, err := syntax.NewParser(syntax.Variant(syntax.LangPOSIX)).Parse(strings.NewReader(line), "")
	if err != nil {
		return nil, false, err
	}
	if len(f.Stmts) != 1 {
		return nil, false, nil
	}
	st := f.Stmts[0]
	call, isCall := st.Cmd.(*syntax.CallExpr)
	if !isCall || st.Negated || st.Background || len(st.Redirs) > 0 || len(call.Assigns) > 0 || len(call.Args) == 0 {
		return nil, false, nil
	}
	for _, w := range call.Args {
		s, plain := plainWord(w)
		if !plain {
			return nil, false, nil
		}
		words = append(words, s)
	}
	if isShellBuiltin(words[0]) {
		return nil, false, nil
	}
	return words, true, nil
}

// isShellBuiltin reports commands that exist only inside a shell (there is no /usr/bin/cd) or
// that only mean something there: run directly they fail with "executable file not found".
func isShellBuiltin(name string) bool {
	switch name {
	case "cd", ".", "source", "export", "exit", "set", "unset", "alias", "eval", "exec", "readonly",
		"shift", "trap", "ulimit", "umask", "wait", "return", ":", "type", "command", "hash", "getopts", "read":
		return true
	}
	return false
}

func plainWord(w *syntax.Word) (string, bool) {
	var b strings.Builder
	for i, part := range w.Parts {
		switch p := part.(type) {
		case *syntax.Lit:
			if strings.ContainsAny(p.Value, `\*?[{`) || (i == 0 && strings.HasPrefix(p.Value, "~")) {
				return "", false
			}
			b.WriteString(p.Value)
		case *syntax.SglQuoted:
			if p.Dollar {
				return "", false
			}
			b.WriteString(p.Value)
		case *syntax.DblQuoted:
			if p.Dollar {
				return "", false
			}
			for _, inner := range p.Parts {
				lit, isLit := inner.(*syntax.Lit)
				if !isLit || strings.Contains(lit.Value, `\`) {
					return "", false
				}
				b.WriteString(lit.Value)
			}
		default:
			return "", false
		}
	}
	return b.String(), true
}

// Run executes the plan in dir with env, streaming output to log. The command runs in its own
// process group: cancelling ctx sends SIGTERM to the whole group, then SIGKILL after grace.
// If Ferry itself is killed, the kernel kills the command too (parent-death signal).
func Run(ctx context.Context, p Plan, dir string, env []string, log io.Writer, grace time.Duration) error {
	cmd := exec.CommandContext(ctx, p.Args[0], p.Args[1:]...)
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = dir, env, log, log
	cmd.SysProcAttr = sysProcAttr()
	cmd.Cancel = func() error { return killGroup(cmd, syscall.SIGTERM) }
	cmd.WaitDelay = grace
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", p.Args[0], err)
	}
	err := cmd.Wait()
	// The group may outlive its leader (background children): make sure nothing is left.
	_ = killGroup(cmd, syscall.SIGKILL)
	if err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			if ctx.Err() != nil {
				return fmt.Errorf("%s: stopped: %w", p, ctx.Err())
			}
			return fmt.Errorf("%s: %s", p, exit.ProcessState)
		}
		return fmt.Errorf("%s: %w", p, err)
	}
	return nil
}
