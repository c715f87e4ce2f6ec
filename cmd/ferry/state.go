package main

import (
	"context"

	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/ferry-ci/ferry/internal/pinned"
	"github.com/ferry-ci/ferry/pipeline"
	"github.com/ferry-ci/ferry/pipeline/ocistore"
	"github.com/ferry-ci/ferry/stages/push"
)

// openOCIStore opens a run store in an OCI registry (state: oci://host/repo), authenticated
// like pushes: docker config and credential helpers, then FERRY_REGISTRY_USERNAME/PASSWORD.
func openOCIStore(ctx context.Context, ref string, env func(string) string, hosts ...string) (pipeline.Store, error) {
	s, err := ocistore.New(ctx, ref, ocistore.Options{
		Remote:    []remote.Option{remote.WithAuthFromKeychain(push.Keychain(env, hosts...))},
		CacheRoot: pinned.CacheDir(env),
	})
	if err != nil {
		return nil, usageError("state %s: %v", ref, err)
	}
	return s, nil
}
