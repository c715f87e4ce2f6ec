package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"slices"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/term"

	"github.com/ferry-ci/ferry/pipeline"
	"github.com/ferry-ci/ferry/pipeline/approval"
	"github.com/ferry-ci/ferry/pipeline/config"
	"github.com/ferry-ci/ferry/pipeline/workspace"
	"github.com/ferry-ci/ferry/stages/approve"
)

// decisionFlags are approve's and reject's.
type decisionFlags struct {
	storeFlags
	env, key, as, comment string
	resume                bool
	rf                    renderFlags
	wait                  waitFlags
}

// waitFlags make run, resume and approve keep polling a run that waits at an approval gate.
type waitFlags struct {
	wait          bool
	timeout, poll time.Duration
}

func (f *waitFlags) bind(fs *pflag.FlagSet) {
	fs.BoolVar(&f.wait, "wait", false, "while the run waits for an approval, poll the run store and resume it as decisions arrive, instead of exiting with code 3")
	fs.DurationVar(&f.timeout, "timeout", 0, "with --wait: stop waiting after this long and exit with code 3 (default: until the run ends or Ctrl-C)")
	fs.DurationVar(&f.poll, "poll-interval", 5*time.Second, "with --wait: how often to look for new decisions")
}

func (f waitFlags) check() error {
	switch {
	case !f.wait && f.timeout != 0:
		return usageError("--timeout needs --wait")
	case f.timeout < 0:
		return usageError("--timeout must be positive")
	case f.poll <= 0:
		return usageError("--poll-interval must be positive")
	}
	return nil
}

func (a *app) approveCommand() *cobra.Command { return a.decisionCommand(approval.Approve) }
func (a *app) rejectCommand() *cobra.Command  { return a.decisionCommand(approval.Reject) }

func (a *app) decisionCommand(d approval.Decision) *cobra.Command {
	var f decisionFlags
	cmd := &cobra.Command{
		Use:   string(d) + " RUN --env ENV",
		Short: map[approval.Decision]string{approval.Approve: "Approve an environment's gate for a run, signed with your SSH key", approval.Reject: "Reject an environment's gate for a run, signed with your SSH key"}[d],
		Long: `The decision is signed with your SSH key (--key FILE, asking for its passphrase on a terminal,
or the ssh-agent) in the SSHSIG format of ssh-keygen -Y sign, over the run, the service, the
environment, the decision, the comment, the time and the image and chart digests that would
be promoted. Who you are is the principal your key belongs to in the environment's
allowed_signers file as the trunk has it, never a flag. An environment with signed: false
takes advisory names instead (--as, $FERRY_APPROVER or the CI user).` + map[approval.Decision]string{
			approval.Approve: "\n\nWith --resume the run continues right away; otherwise run ferry resume RUN. With --wait it\n" +
				"continues, and while the gate still waits for other approvers it polls the run store and\n" +
				"resumes the run as their decisions arrive (--timeout, --poll-interval; Ctrl-C stops).\n\n" +
				"The policy is checked before anything is recorded: the run's requester (excludeRequester),\n" +
				"the authors of the released commits (excludeAuthors), a gate that timed out or failed are\n" +
				"refused here with the reason, and again by the gate itself.",
			approval.Reject: "\n\nA rejection ends the gate: the run fails at it."}[d],
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return a.decide(cmd, d, f, args[0]) },
	}
	f.bind(cmd)
	cmd.Flags().StringVar(&f.env, "env", "", "environment")
	cmd.Flags().StringVar(&f.key, "key", "", "SSH private key to sign with (default: the ssh-agent at $SSH_AUTH_SOCK)")
	cmd.Flags().StringVar(&f.as, "as", "", "who approves, for environments with signed: false only (default: $FERRY_APPROVER; in CI the CI user)")
	cmd.Flags().StringVar(&f.comment, "comment", "", "why")
	if d == approval.Approve {
		f.rf.bind(cmd.Flags())
		cmd.Flags().BoolVar(&f.resume, "resume", false, "resume the run after approving")
		f.wait.bind(cmd.Flags())
	}
	return cmd
}

func (a *app) decide(cmd *cobra.Command, d approval.Decision, f decisionFlags, id string) error {
	ctx := cmd.Context()
	if f.env == "" {
		return usageError("--env is required")
	}
	if d == approval.Reject && f.comment == "" {
		return usageError("--comment is required: say why")
	}
	if d == approval.Approve {
		if err := f.wait.check(); err != nil {
			return err
		}
		f.resume = f.resume || f.wait.wait
	}
	cfg, store, err := a.openRunStore(cmd, f.storeFlags, id)
	if err != nil {
		return err
	}
	if _, err := store.Load(ctx, id); err != nil {
		return notFound(err)
	}
	env := cfg.Environment(f.env)
	if env == nil || env.Approval == nil {
		return usageError("--env %s: no environment with an approval in %s", f.env, cfg.File)
	}
	decideFn, err := a.decider(ctx, d, f, cfg, env)
	if err != nil {
		return err
	}
	var setup *engineSetup
	if f.resume {
		if setup, err = a.setupResume(ctx, f.workspaceFlags, f.rf, f.state, id); err != nil {
			return err
		}
	}
	busy := func(heldBy string) {
		fmt.Fprintf(a.Err, "run %s is executing (%s): the decision is recorded when it stops; Ctrl-C to give up\n", id, heldBy)
	}
	run, err := pipeline.Approve(ctx, store, cfg, id, f.env, "ferry "+string(d), decideFn, busy)
	if err != nil {
		if setup != nil {
			setup.render.Close()
		}
		return notFound(withCode(exitFailed, err))
	}
	last := run.Approvals[len(run.Approvals)-1]
	fmt.Fprintf(a.Out, "%s %sd %s for run %s\n", last.By, d, f.env, id)
	if setup == nil {
		if d == approval.Approve {
			fmt.Fprintf(a.Out, "continue with: ferry resume %s\n", id)
		}
		return nil
	}
	resumed, err := setup.engine.Resume(ctx, id)
	resumed, err = a.waitForGate(ctx, setup, resumed, err, f.wait)
	return a.finishRun(setup, resumed, err)
}

// waitForGate, with --wait, keeps a run that waits at an approval gate going: it polls the run
// store every interval and resumes the run when a new decision is recorded or a gate's
// deadline passes, until the run stops waiting, the timeout (the run stays waiting: exit 3)
// or ctx ends (exit 130). The run's lock is free between resumes, so that approvers anywhere
// can record their decisions.
func (a *app) waitForGate(ctx context.Context, setup *engineSetup, run *pipeline.Run, runErr error, f waitFlags) (*pipeline.Run, error) {
	if !f.wait || runErr != nil || run == nil || run.Status() != pipeline.Waiting {
		return run, runErr
	}
	pollCtx, stop := ctx, context.CancelFunc(func() {})
	if f.timeout > 0 {
		pollCtx, stop = context.WithTimeout(ctx, f.timeout)
	}
	defer stop()
	fmt.Fprintf(a.Err, "ferry: run %s waits for approval; polling for decisions every %s (Ctrl-C to stop)\n", run.ID, f.poll)
	seen := len(run.Approvals)
	tick := time.NewTicker(f.poll)
	defer tick.Stop()
	for {
		select {
		case <-pollCtx.Done():
			if ctx.Err() != nil {
				return run, fmt.Errorf("waiting for approval of run %s: %w", run.ID, ctx.Err())
			}
			fmt.Fprintf(a.Err, "ferry: run %s still waits for approval after %s\n", run.ID, f.timeout)
			return run, nil
		case <-tick.C:
		}
		latest, err := setup.store.Load(pollCtx, run.ID)
		if err != nil {
			if pollCtx.Err() != nil {
				continue
			}
			return run, err
		}
		if len(latest.Approvals) == seen && !gateDeadlinePassed(latest, time.Now()) {
			continue
		}
		resumed, err := setup.engine.Resume(ctx, run.ID)
		if errors.Is(err, pipeline.ErrRunBusy) {
			continue // an approver is recording a decision: try again on the next tick
		}
		seen = len(latest.Approvals)
		if resumed != nil {
			run = resumed
		}
		if err != nil || run.Status() != pipeline.Waiting {
			return run, err
		}
	}
}

// gateDeadlinePassed reports whether a waiting gate of the run has timed out, so that the
// gate runs again to say so.
func gateDeadlinePassed(run *pipeline.Run, now time.Time) bool {
	for _, svc := range run.Services {
		for _, s := range svc.Stages {
			if out := s.Outputs.Approve; s.Status == pipeline.Waiting && out != nil && !out.Deadline.IsZero() && now.After(out.Deadline) {
				return true
			}
		}
	}
	return false
}

// decider builds the approval records: signed statements, one per service waiting at the
// gate, or for signed: false one advisory name.
func (a *app) decider(ctx context.Context, d approval.Decision, f decisionFlags, cfg *config.Config, env *config.Environment) (func(*pipeline.Run) ([]pipeline.Approval, error), error) {
	now := time.Now().UTC()
	comment := a.masker.Mask(f.comment)
	if !env.Approval.Signed {
		who, err := approverIdentity(a.env, f.as)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(env.Approval.Approvers, who) {
			return nil, withCode(exitFailed, fmt.Errorf("%s may not approve %s (approvers: %v)", who, env.Name, env.Approval.Approvers))
		}
		return func(*pipeline.Run) ([]pipeline.Approval, error) {
			return []pipeline.Approval{{Env: env.Name, By: who, At: now, Comment: comment, Decision: string(d)}}, nil
		}, nil
	}
	if f.as != "" {
		return nil, usageError("--as: approvals of %s are signed; your key says who you are", env.Name)
	}
	allowed, err := workspace.TrunkSigners(cfg)(ctx, env)
	if err != nil {
		return nil, withCode(exitFailed, err)
	}
	signer, err := a.signer(f.key, allowed)
	if err != nil {
		return nil, err
	}
	authors := workspace.ReleaseAuthors(cfg)
	return func(run *pipeline.Run) ([]pipeline.Approval, error) {
		return a.signAll(ctx, run, cfg, env, d, comment, now, signer, allowed, authors)
	}, nil
}

// signAll signs one statement per service of the run that has the environment's gate, over
// the digests the gate judges, and checks each against the policy before anything is
// recorded: the gate refuses the same, but a refusal here says why at once.
func (a *app) signAll(ctx context.Context, run *pipeline.Run, cfg *config.Config, env *config.Environment, d approval.Decision, comment string, now time.Time,
	signer ssh.Signer, allowed approval.AllowedSigners, authors approve.Authors) ([]pipeline.Approval, error) {
	gate := pipeline.NewStageID(config.StageApprove, env.Name)
	var out []pipeline.Approval
	for _, svc := range run.Services {
		state := svc.Stage(gate)
		if state == nil {
			continue
		}
		if err := gateOpen(run, svc.Name, state, env, now); err != nil {
			return nil, err
		}
		subject, err := a.gateSubject(ctx, run, svc, state, cfg, env, authors)
		if err != nil {
			return nil, err
		}
		st := approval.NewStatement(run.ID, svc.Name, env.Name, d, comment, now, subject.Image, subject.Chart)
		st.Values = subject.Values
		signed, err := approval.Sign(st, signer)
		if err != nil {
			return nil, err
		}
		v, err := approval.Verify(signed, allowed)
		if errors.Is(err, approval.ErrNotAllowed) {
			return nil, fmt.Errorf("your key %s is not in the allowed signers of %s (%s, as %s has it)", ssh.FingerprintSHA256(signer.PublicKey()), env.Name, env.Approval.AllowedSigners, cfg.Trunk)
		}
		if err != nil {
			return nil, err
		}
		j := approval.Judge(env.Approval, subject, approval.Judgement{Principal: v.Principal, Principals: v.Principals, Decision: d,
			Time: v.Time, Image: v.Image, Chart: v.Chart, Values: v.Values})
		if j.Verdict == approval.Refused || j.Verdict == approval.Void {
			return nil, fmt.Errorf("%s may not %s %s of %s for run %s: %s", v.Principal, d, env.Name, svc.Name, run.ID, j.Reason)
		}
		out = append(out, pipeline.Approval{Env: env.Name, By: v.Principal, At: now, Comment: comment, Service: svc.Name,
			Decision: string(d), Statement: signed.Statement, Signature: signed.Signature, Key: v.Fingerprint})
	}
	return out, nil
}

// gateOpen refuses a decision on a gate that is over: failed (rejected, timed out) or past
// its deadline.
func gateOpen(run *pipeline.Run, service string, state *pipeline.StageState, env *config.Environment, now time.Time) error {
	if state.Status == pipeline.Failed {
		return fmt.Errorf("the %s gate of %s in run %s is over: %s; start a new run", env.Name, service, run.ID, state.Reason)
	}
	if o := state.Outputs.Approve; o != nil && !o.Deadline.IsZero() && now.After(o.Deadline) {
		return fmt.Errorf("the %s gate of %s in run %s timed out at %s (approval timed out after %s); start a new run",
			env.Name, service, run.ID, o.Deadline.UTC().Format(time.RFC3339), config.FormatDuration(env.Approval.Timeout))
	}
	return nil
}

// gateSubject is what a decision on a service's gate binds and who it may not come from: the
// digests and authors the gate recorded when it last ran, else as this checkout has them.
func (a *app) gateSubject(ctx context.Context, run *pipeline.Run, svc *pipeline.ServiceRun, state *pipeline.StageState, cfg *config.Config,
	env *config.Environment, authors approve.Authors) (approval.Subject, error) {
	sub := approval.Subject{Run: run.ID, Service: svc.Name, Env: env.Name, Requester: approve.RequesterNames(run)}
	sub.Image, sub.Chart = approve.Digests(svc)
	recorded := state.Outputs.Approve
	if recorded != nil {
		sub.Values = recorded.Values
	} else {
		values, err := approval.ValuesDigest(cfg.Root, env)
		if err != nil {
			return sub, err
		}
		sub.Values = values
	}
	if !env.Approval.ExcludeAuthors {
		return sub, nil
	}
	// Both what the gate recorded and what this checkout says: either may know an author.
	found, _, err := authors(ctx, run, svc.Name)
	if err != nil {
		fmt.Fprintf(a.Err, "ferry: cannot list the release's authors here (the gate checks them where the run resumes): %v\n", err)
	}
	sub.Authors = map[string]string{}
	if recorded != nil {
		for _, e := range recorded.Authors {
			sub.Authors[e] = ""
		}
	}
	maps.Copy(sub.Authors, found)
	return sub, nil
}

// signer is the key to sign with: --key (asking for a passphrase on a terminal), else the
// ssh-agent's first key that is an allowed signer.
func (a *app) signer(keyFile string, allowed approval.AllowedSigners) (ssh.Signer, error) {
	if keyFile != "" {
		data, err := os.ReadFile(keyFile)
		if err != nil {
			return nil, usageError("--key: %v", err)
		}
		s, err := ssh.ParsePrivateKey(data)
		var missing *ssh.PassphraseMissingError
		if errors.As(err, &missing) {
			return a.encryptedKey(keyFile, data)
		}
		if err != nil {
			return nil, usageError("--key %s: %v", keyFile, err)
		}
		return s, nil
	}
	sock := a.env("SSH_AUTH_SOCK")
	if sock == "" {
		return nil, usageError("sign with --key FILE or an ssh-agent (SSH_AUTH_SOCK is not set)")
	}
	conn, err := net.Dial("unix", sock)
	if err != nil {
		return nil, fmt.Errorf("ssh-agent: %w", err)
	}
	signers, err := agent.NewClient(conn).Signers()
	if err != nil {
		return nil, fmt.Errorf("ssh-agent: %w", err)
	}
	for _, s := range signers {
		if _, ok := allowed.Principal(s.PublicKey(), approval.Namespace); ok {
			return s, nil
		}
	}
	return nil, withCode(exitFailed, fmt.Errorf("none of the ssh-agent's %d keys is an allowed signer", len(signers)))
}

// encryptedKey asks for a key's passphrase on the terminal.
func (a *app) encryptedKey(file string, data []byte) (ssh.Signer, error) {
	if !isatty.IsTerminal(os.Stdin.Fd()) {
		return nil, usageError("--key %s is encrypted: run on a terminal to type its passphrase, or add it to the ssh-agent", file)
	}
	fmt.Fprintf(a.Err, "passphrase for %s: ", file)
	pass, err := term.ReadPassword(int(os.Stdin.Fd()))
	fmt.Fprintln(a.Err)
	if err != nil {
		return nil, err
	}
	s, err := ssh.ParsePrivateKeyWithPassphrase(data, pass)
	if err != nil {
		return nil, usageError("--key %s: %v", file, err)
	}
	return s, nil
}
