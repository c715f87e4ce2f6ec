package main

import (
	"path/filepath"
	"strings"

	"github.com/ferry-ci/ferry/internal/pinned"
	"github.com/ferry-ci/ferry/pipeline"
	"github.com/ferry-ci/ferry/pipeline/config"
	"github.com/ferry-ci/ferry/pipeline/workspace"
	"github.com/ferry-ci/ferry/stages/approve"
	"github.com/ferry-ci/ferry/stages/chart"
	"github.com/ferry-ci/ferry/stages/command"
	"github.com/ferry-ci/ferry/stages/deploy"
	"github.com/ferry-ci/ferry/stages/evidence"
	"github.com/ferry-ci/ferry/stages/image"
	"github.com/ferry-ci/ferry/stages/promote"
	"github.com/ferry-ci/ferry/stages/push"
	"github.com/ferry-ci/ferry/stages/scan"
)

// stageFlags tune the stages from the command line.
type stageFlags struct {
	plainHTTP  bool
	scanDir    string
	kubeconfig string
}

// stageSet wires the stage implementations this build of Ferry has.
func stageSet(env func(string) string, f stageFlags, cfg *config.Config) (pipeline.StageSet, error) {
	keychain := push.Keychain(env, credentialHosts(cfg)...)
	builders := ""
	if root := pinned.CacheDir(env); root != "" {
		builders = filepath.Join(root, "builders")
	}
	return pipeline.NewStageSet(
		command.Build(),
		command.Test(),
		&image.Stage{Keychain: keychain, Source: sourceURL(env), CacheDir: builders},
		&scan.Stage{ReportDir: f.scanDir, ToolsDir: pinned.ToolsDir(env)},
		&evidence.AtPush{Push: &push.Stage{Keychain: keychain, PlainHTTP: f.plainHTTP}, Keychain: keychain,
			Signer: signingKey(env), Source: sourceURL(env), Version: buildVersion()},
		approve.Stage{Signers: workspace.TrunkSigners(cfg), Authors: workspace.ReleaseAuthors(cfg)},
		&promote.Stage{Keychain: keychain, Signers: workspace.TrunkSigners(cfg), Signer: signingKey(env)},
		&chart.Stage{Keychain: keychain, PlainHTTP: f.plainHTTP},
		&deploy.Stage{Keychain: keychain, Kubeconfig: kubeconfigPath(env, f.kubeconfig), PlainHTTP: f.plainHTTP},
	)
}

// credentialHosts are the registries FERRY_REGISTRY_USERNAME/PASSWORD are for, unless
// FERRY_REGISTRY_HOST names one: the config's registry and its oci:// run store.
func credentialHosts(cfg *config.Config) []string {
	return []string{push.RegistryHost(cfg.Registry), push.RegistryHost(cfg.State)}
}

// sourceURL is the repository's web address for the org.opencontainers.image.source label,
// as the CI system tells it.
func sourceURL(env func(string) string) string {
	if repo := env("GITHUB_REPOSITORY"); repo != "" {
		server := env("GITHUB_SERVER_URL")
		if server == "" {
			server = "https://github.com"
		}
		return server + "/" + repo
	}
	return env("BUILD_REPOSITORY_URI")
}

// signingKey signs evidence with the key FERRY_SIGNING_KEY names (see evidence.KeyFile); nil,
// and unsigned evidence, without one.
func signingKey(env func(string) string) evidence.SignerFunc {
	return evidence.KeyFile(env("FERRY_SIGNING_KEY"), env)
}

// signingSecrets are the variables that hold the signing key's secrets: its passphrase, and
// the key itself when FERRY_SIGNING_KEY is env://NAME.
func signingSecrets(env func(string) string) []string {
	names := []string{"FERRY_SIGNING_KEY_PASSPHRASE", "COSIGN_PASSWORD"}
	if v, ok := strings.CutPrefix(env("FERRY_SIGNING_KEY"), "env://"); ok {
		names = append(names, v)
	}
	return names
}
