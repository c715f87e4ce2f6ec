package mask

// alwaysSecret are environment variables whose values are secrets whether or not the config
// names them: registry passwords and the tokens CI systems hand to every step.
var alwaysSecret = []string{
	"FERRY_REGISTRY_PASSWORD",
	"FERRY_GIT_TOKEN",
	"GITHUB_TOKEN",
	"ACTIONS_RUNTIME_TOKEN",
	"ACTIONS_ID_TOKEN_REQUEST_TOKEN",
	"SYSTEM_ACCESSTOKEN",
	"AZURE_DEVOPS_EXT_PAT",
	"AZURE_CLIENT_SECRET",
	"DOCKER_PASSWORD",
}

// SecretsFromEnv returns the non-empty values of the named variables, then of the variables
// that are always secret (FERRY_REGISTRY_PASSWORD, FERRY_GIT_TOKEN, GITHUB_TOKEN, ACTIONS_RUNTIME_TOKEN,
// ACTIONS_ID_TOKEN_REQUEST_TOKEN, SYSTEM_ACCESSTOKEN, AZURE_DEVOPS_EXT_PAT,
// AZURE_CLIENT_SECRET, DOCKER_PASSWORD), without duplicates. env is os.Getenv in the CLI and a map lookup in tests.
func SecretsFromEnv(env func(string) string, names []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, list := range [][]string{names, alwaysSecret} {
		for _, n := range list {
			v := env(n)
			if v == "" || seen[v] {
				continue
			}
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}
