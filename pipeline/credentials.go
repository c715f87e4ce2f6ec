package pipeline

import (
	"slices"
	"strings"
)

// IsCredential reports environment variables that hold Ferry's own credentials or the tokens
// a CI system hands to every step. Build, test and finally commands do not see them unless a
// service lists them in passEnv: a test or a build script has no use for the registry password
// or the job's token, and a compromised dependency would.
func IsCredential(name string) bool {
	switch strings.ToUpper(name) {
	case "GITHUB_TOKEN", "ACTIONS_RUNTIME_TOKEN", "ACTIONS_ID_TOKEN_REQUEST_TOKEN", "ACTIONS_ID_TOKEN_REQUEST_URL",
		"SYSTEM_ACCESSTOKEN", "AZURE_DEVOPS_EXT_PAT", "FERRY_REGISTRY_USERNAME", "FERRY_REGISTRY_PASSWORD":
		return true
	}
	upper := strings.ToUpper(name)
	if !strings.HasPrefix(upper, "FERRY_") {
		return false
	}
	for _, s := range []string{"TOKEN", "PASSWORD", "SECRET", "KEY", "PASSPHRASE"} {
		if strings.Contains(upper, s) {
			return true
		}
	}
	return false
}

// ScrubCredentials returns env (KEY=value entries) without the credential variables, except
// those named in pass.
func ScrubCredentials(env, pass []string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if IsCredential(k) && !slices.Contains(pass, k) {
			continue
		}
		out = append(out, kv)
	}
	return out
}
