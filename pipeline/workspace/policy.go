package workspace

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"reflect"

	"github.com/ferry-ci/ferry/pipeline/approval"
	"github.com/ferry-ci/ferry/pipeline/config"
	"github.com/ferry-ci/ferry/triggers/changes"
)

// TrunkSigners returns the allowed signers of an environment as the trunk (the protected
// branch) has them, for the approval gate and for ferry approve. A branch under approval may
// not change its own approval policy or signers: when its ferry.yaml approval section or its
// allowed_signers file differs from the trunk's, that is the error. The trunk is fetched (its
// tip, depth 1) when a CI checkout lacks it.
func TrunkSigners(cfg *config.Config) func(ctx context.Context, env *config.Environment) (approval.AllowedSigners, error) {
	return func(ctx context.Context, env *config.Environment) (approval.AllowedSigners, error) {
		if cfg.Trunk == "" {
			return nil, fmt.Errorf("environment %s: signed approvals are judged by the trunk's policy, and ferry.yaml names no trunk", env.Name)
		}
		repo, err := changes.Open(cfg.Root, changes.Auto)
		if err != nil {
			return nil, fmt.Errorf("read the approval policy from %s: %w", cfg.Trunk, err)
		}
		defer repo.Close()
		prefix, err := RepoPrefix(repo.Root(), cfg.Root)
		if err != nil {
			return nil, err
		}
		sha, err := repo.ResolveBranch(ctx, cfg.Trunk, true)
		if err != nil {
			return nil, fmt.Errorf("read the approval policy from %s: %w", cfg.Trunk, err)
		}
		trunkEnv, err := trunkEnvironment(ctx, repo, cfg, prefix, sha, env.Name)
		if err != nil {
			return nil, err
		}
		if !reflect.DeepEqual(trunkEnv.Approval, env.Approval) {
			return nil, fmt.Errorf("the approval policy of %s in this branch's ferry.yaml differs from %s's: a branch may not change its own approval policy (merge the change into %s first)", env.Name, cfg.Trunk, cfg.Trunk)
		}
		name := trunkEnv.Approval.AllowedSigners
		data, err := repo.ReadFile(ctx, sha, path.Join(prefix, name))
		if err != nil {
			return nil, fmt.Errorf("allowed signers %s on %s: %w", name, cfg.Trunk, err)
		}
		if local, err := os.ReadFile(filepath.Join(cfg.Root, name)); err != nil || !bytes.Equal(local, data) {
			return nil, fmt.Errorf("%s in this branch differs from %s's: a branch may not change who may approve it (merge the change into %s first)", name, cfg.Trunk, cfg.Trunk)
		}
		return approval.ParseAllowedSigners(name+"@"+cfg.Trunk, data)
	}
}

// trunkEnvironment reads ferry.yaml as the trunk has it and returns the environment's policy.
func trunkEnvironment(ctx context.Context, repo *changes.Repo, cfg *config.Config, prefix, sha, env string) (*config.Environment, error) {
	file := path.Join(prefix, filepath.Base(cfg.File))
	data, err := repo.ReadFile(ctx, sha, file)
	if err != nil {
		return nil, fmt.Errorf("read %s from %s: %w", file, cfg.Trunk, err)
	}
	trunkCfg, err := config.Parse(file+"@"+cfg.Trunk, cfg.Root, data)
	if trunkCfg == nil {
		return nil, fmt.Errorf("%s on %s: %w", file, cfg.Trunk, err)
	}
	e := trunkCfg.Environment(env)
	if e == nil || e.Approval == nil {
		return nil, fmt.Errorf("%s on %s has no approval policy for %s: a branch may not bring its own", file, cfg.Trunk, env)
	}
	return e, nil
}
