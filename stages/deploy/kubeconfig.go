package deploy

import (
	"strings"

	"k8s.io/client-go/tools/clientcmd"
)

// KubeconfigSecrets returns what in a kubeconfig must never reach a log: tokens, passwords and
// client keys (each key as a whole and line by line, so that a key split across log writes is
// still masked). path "" reads $KUBECONFIG or ~/.kube/config, as deploy does; an unreadable
// kubeconfig has no secrets here (deploy reports it).
func KubeconfigSecrets(path string) []string {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if path != "" {
		rules.ExplicitPath = path
	}
	cfg, err := rules.Load()
	if err != nil {
		return nil
	}
	var out []string
	add := func(s string) {
		if len(s) >= 8 {
			out = append(out, s)
		}
	}
	for _, a := range cfg.AuthInfos {
		add(a.Token)
		add(a.Password)
		if key := string(a.ClientKeyData); key != "" {
			add(key)
			for line := range strings.SplitSeq(key, "\n") {
				if !strings.HasPrefix(line, "-----") {
					add(strings.TrimSpace(line))
				}
			}
		}
	}
	return out
}
