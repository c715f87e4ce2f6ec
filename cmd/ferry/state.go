package main

import (
	"context"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/ferry-ci/ferry/pipeline"
	"github.com/ferry-ci/ferry/pipeline/ocistore"
	"github.com/ferry-ci/ferry/stages/push"
)

// openOCIStore opens a run store in an OCI registry (state: oci://host/repo), authenticated
// like pushes: docker config and credential helpers, then FERRY_REGISTRY_USERNAME/PASSWORD.
func openOCIStore(ctx context.Context, ref string, env func(string) string) (pipeline.Store, error) {
	s, err := ocistore.New(ctx, ref, ocistore.Options{
		Remote:    []remote.Option{remote.WithAuthFromKeychain(push.Keychain(env))},
		CacheRoot: cacheRoot(env),
	})
	if err != nil {
		return nil, usageError("state %s: %v", ref, err)
	}
	return s, nil
}

// cacheRoot is Ferry's cache folder: $FERRY_CACHE_DIR, else os.UserCacheDir()/ferry ("" when
// neither is known).
func cacheRoot(env func(string) string) string {
	if d := env("FERRY_CACHE_DIR"); d != "" {
		return d
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "ferry")
	}
	return ""
}
