package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"
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
			approval.Approve: "\n\nWith --resume the run continues right away; otherwise run ferry resume RUN.",
			approval.Reject:  "\n\nA rejection ends the gate: the run fails at it."}[d],
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
	return a.finishRun(setup, resumed, err)
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
	return func(run *pipeline.Run) ([]pipeline.Approval, error) {
		return signAll(run, env, d, comment, now, signer, allowed)
	}, nil
}

// signAll signs one statement per service of the run that has the environment's gate.
func signAll(run *pipeline.Run, env *config.Environment, d approval.Decision, comment string, now time.Time, signer ssh.Signer, allowed approval.AllowedSigners) ([]pipeline.Approval, error) {
	gate := pipeline.NewStageID(config.StageApprove, env.Name)
	var out []pipeline.Approval
	for _, svc := range run.Services {
		if svc.Stage(gate) == nil {
			continue
		}
		image, chart := approve.Digests(svc)
		st := approval.NewStatement(run.ID, svc.Name, env.Name, d, comment, now, image, chart)
		signed, err := approval.Sign(st, signer)
		if err != nil {
			return nil, err
		}
		v, err := approval.Verify(signed, allowed)
		if errors.Is(err, approval.ErrNotAllowed) {
			return nil, fmt.Errorf("your key %s is not in the allowed signers of %s (%s, as %s has it)", ssh.FingerprintSHA256(signer.PublicKey()), env.Name, env.Approval.AllowedSigners, "the trunk")
		}
		if err != nil {
			return nil, err
		}
		if len(env.Approval.Approvers) > 0 && !slices.Contains(env.Approval.Approvers, v.Principal) {
			return nil, fmt.Errorf("%s is an allowed signer but not one of the approvers of %s (%v)", v.Principal, env.Name, env.Approval.Approvers)
		}
		out = append(out, pipeline.Approval{Env: env.Name, By: v.Principal, At: now, Comment: comment, Service: svc.Name,
			Decision: string(d), Statement: signed.Statement, Signature: signed.Signature, Key: v.Fingerprint})
	}
	return out, nil
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
