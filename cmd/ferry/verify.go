package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/spf13/cobra"

	"github.com/ferry-ci/ferry/pipeline/approval"
	pev "github.com/ferry-ci/ferry/pipeline/evidence"
	"github.com/ferry-ci/ferry/stages/evidence"
	"github.com/ferry-ci/ferry/stages/push"
	"github.com/ferry-ci/ferry/stages/scan"
)

type verifyFlags struct {
	env, config, allowedSigners, evidenceSigners, output string
}

func (a *app) verifyCommand() *cobra.Command {
	var f verifyFlags
	cmd := &cobra.Command{
		Use:   "verify IMAGE@DIGEST",
		Short: "Check an image's evidence in the registry: provenance, scan, approvals, promoted digest",
		Long: `Verify reads the evidence attached to an image (its OCI referrers) from the registry alone,
with no run store and no checkout, and checks that a provenance statement names it, that its
scan report passes under the policy recorded with it, that its approvals are validly signed by
allowed principals and meet the environment's policy, and that the repository it was pushed
to (the QA image) holds the same digest. It exits 0 only when every check holds.

The approvals are judged by the allowed signers and policy recorded in the evidence (the
trunk's, when the gate ran) unless pinned: --allowed-signers FILE pins the signers, and
--config ferry.yaml (from a checkout of the trunk) pins the environment's policy and its
allowed_signers file. --evidence-signers FILE (allowed_signers format, namespace
ferry-evidence, or PEM public keys such as cosign.pub) requires every piece of evidence to be
signed by one of its keys.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return a.verify(cmd, f, args[0]) },
	}
	cmd.Flags().StringVar(&f.env, "env", "", "the environment whose approvals count (default: the one the evidence names)")
	cmd.Flags().StringVar(&f.config, "config", "", "ferry.yaml whose environment policy and allowed signers pin the approvals (needs --env)")
	cmd.Flags().StringVar(&f.allowedSigners, "allowed-signers", "", "allowed_signers file that pins who may approve")
	cmd.Flags().StringVar(&f.evidenceSigners, "evidence-signers", "", "allowed_signers file, or PEM public keys (cosign.pub), of the keys evidence must be signed with")
	cmd.Flags().StringVarP(&f.output, "output", "o", "text", "text or json")
	return cmd
}

func (a *app) verify(cmd *cobra.Command, f verifyFlags, image string) error {
	if err := oneOfFlag("output", f.output, []string{"text", "json"}); err != nil {
		return err
	}
	ref, err := name.NewDigest(image)
	if err != nil {
		return usageError("%s: want IMAGE@sha256:… (%v)", image, err)
	}
	trust, err := a.verifyTrust(f)
	if err != nil {
		return err
	}
	opts := evidence.Options(push.Keychain(a.env, ref.RegistryStr()), nil)
	res, err := evidence.VerifyImage(cmd.Context(), ref, opts, pev.VerifyOptions{Env: f.env, Trust: trust, Judge: scan.Judge})
	if err != nil {
		return withCode(exitFailed, err)
	}
	if f.output == "json" {
		enc := json.NewEncoder(a.Out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return err
		}
	} else {
		writeVerifyResult(a, res)
	}
	if !res.OK {
		return withCode(exitFailed, errSilent)
	}
	return nil
}

func writeVerifyResult(a *app, res pev.Result) {
	fmt.Fprintf(a.Out, "%s\n", res.Image)
	failed := 0
	for _, c := range res.Checks {
		word := "held  "
		if !c.Held {
			word, failed = "FAILED", failed+1
		}
		fmt.Fprintf(a.Out, "  %-10s %s  %s\n", c.Name, word, c.Detail)
	}
	if failed == 0 {
		fmt.Fprintln(a.Out, "verified: every check held")
		return
	}
	fmt.Fprintf(a.Out, "not verified: %d of %d checks failed\n", failed, len(res.Checks))
}

// verifyTrust reads the pins the flags name.
func (a *app) verifyTrust(f verifyFlags) (pev.Trust, error) {
	var t pev.Trust
	if f.config != "" {
		if f.env == "" {
			return t, usageError("--config needs --env: the environment whose approval policy pins the approvals")
		}
		cfg, err := a.loadConfig(workspaceFlags{config: f.config})
		if err != nil {
			return t, err
		}
		env := cfg.Environment(f.env)
		if env == nil || env.Approval == nil {
			return t, usageError("--env %s: %s has no such environment with an approval section", f.env, f.config)
		}
		g := env.Approval
		policy := evidence.PolicyOf(g)
		t.Policy = &policy
		t.PinnedBy = "--config " + f.config
		if g.Signed && f.allowedSigners == "" {
			if t.AllowedSigners, err = readSigners(filepath.Join(cfg.Root, g.AllowedSigners), "environments."+f.env+".approval.allowedSigners", approval.ParseAllowedSigners); err != nil {
				return t, err
			}
		}
	}
	if f.allowedSigners != "" {
		s, err := readSigners(f.allowedSigners, "--allowed-signers", approval.ParseAllowedSigners)
		if err != nil {
			return t, err
		}
		t.AllowedSigners = s
		if t.PinnedBy != "" {
			t.PinnedBy += " and --allowed-signers " + f.allowedSigners
		} else {
			t.PinnedBy = "--allowed-signers " + f.allowedSigners
		}
	}
	if f.evidenceSigners != "" {
		s, err := readSigners(f.evidenceSigners, "--evidence-signers", evidence.ParseEvidenceSigners)
		if err != nil {
			return t, err
		}
		t.EvidenceSigners = s
	}
	return t, nil
}

func readSigners(file, what string, parse func(string, []byte) (approval.AllowedSigners, error)) (approval.AllowedSigners, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, usageError("%s: %v", what, err)
	}
	s, err := parse(file, data)
	if err != nil {
		return nil, usageError("%s: %v", what, err)
	}
	if len(s) == 0 {
		return nil, usageError("%s: %s lists no signer", what, file)
	}
	return s, nil
}
