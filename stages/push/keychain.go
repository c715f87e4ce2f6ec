package push

import (
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

// Environment variables read by Keychain.
const (
	EnvUsername = "FERRY_REGISTRY_USERNAME"
	EnvPassword = "FERRY_REGISTRY_PASSWORD"
	// EnvHost names the one registry the credentials above are for (for example
	// myacr.azurecr.io), instead of the config's registry.
	EnvHost = "FERRY_REGISTRY_HOST"
)

// Keychain returns the credentials Ferry uses: FERRY_REGISTRY_USERNAME and
// FERRY_REGISTRY_PASSWORD for FERRY_REGISTRY_HOST when it is set, else for the hosts given
// (the config's registry and run store), and never for another registry such as the Docker
// Hub that base images come from; then go-containerregistry's default keychain: the docker
// config.json and its credential helpers, which is what `docker login` and `az acr login`
// write.
func Keychain(env func(string) string, hosts ...string) authn.Keychain {
	return authn.NewMultiKeychain(envKeychain{env: env, hosts: hosts}, authn.DefaultKeychain)
}

// RegistryHost is the host[:port] of a registry address (host[:port][/namespace]).
func RegistryHost(registry string) string {
	host, _, _ := strings.Cut(strings.TrimPrefix(registry, "oci://"), "/")
	return host
}

type envKeychain struct {
	env   func(string) string
	hosts []string
}

var _ authn.Keychain = envKeychain{}

func (k envKeychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	user, pass := k.env(EnvUsername), k.env(EnvPassword)
	if user == "" && pass == "" {
		return authn.Anonymous, nil
	}
	if user == "" || pass == "" {
		return nil, fmt.Errorf("credentials for %s: %s and %s must be set together", r.RegistryStr(), EnvUsername, EnvPassword)
	}
	hosts := k.hosts
	if host := k.env(EnvHost); host != "" {
		hosts = []string{host}
	}
	for _, host := range hosts {
		if host == "" {
			continue
		}
		reg, err := name.NewRegistry(host)
		if err != nil {
			return nil, fmt.Errorf("registry host %q: %w", host, err)
		}
		if reg.RegistryStr() == r.RegistryStr() {
			return authn.FromConfig(authn.AuthConfig{Username: user, Password: pass}), nil
		}
	}
	return authn.Anonymous, nil
}
