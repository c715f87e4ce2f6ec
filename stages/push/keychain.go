package push

import (
	"fmt"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

// Environment variables read by Keychain.
const (
	EnvUsername = "FERRY_REGISTRY_USERNAME"
	EnvPassword = "FERRY_REGISTRY_PASSWORD"
	// EnvHost, when set, limits the credentials above to one registry (for example
	// myacr.azurecr.io) so that they are not sent to the registries base images come from.
	EnvHost = "FERRY_REGISTRY_HOST"
)

// Keychain returns the credentials Ferry uses: FERRY_REGISTRY_USERNAME and
// FERRY_REGISTRY_PASSWORD read through env when both are set (for every registry, or only for
// FERRY_REGISTRY_HOST when that is set), else go-containerregistry's default keychain: the
// docker config.json and its credential helpers, which is what `docker login` and
// `az acr login` write.
func Keychain(env func(string) string) authn.Keychain {
	return authn.NewMultiKeychain(envKeychain{env: env}, authn.DefaultKeychain)
}

type envKeychain struct{ env func(string) string }

var _ authn.Keychain = envKeychain{}

func (k envKeychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	user, pass := k.env(EnvUsername), k.env(EnvPassword)
	if user == "" && pass == "" {
		return authn.Anonymous, nil
	}
	if user == "" || pass == "" {
		return nil, fmt.Errorf("credentials for %s: %s and %s must be set together", r.RegistryStr(), EnvUsername, EnvPassword)
	}
	if host := k.env(EnvHost); host != "" {
		reg, err := name.NewRegistry(host)
		if err != nil {
			return nil, fmt.Errorf("%s=%q: %w", EnvHost, host, err)
		}
		if reg.RegistryStr() != r.RegistryStr() {
			return authn.Anonymous, nil
		}
	}
	return authn.FromConfig(authn.AuthConfig{Username: user, Password: pass}), nil
}
