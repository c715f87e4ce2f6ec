package deploy

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestKubeconfigSecrets(t *testing.T) {
	key := "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIIrYSSNQFaA2Hwf1duRSxKtLYX5CB04fSeQ6tF1aY/PuoAoGCCqGSM49\nAwEHoUQDQgAEPR3tU2Fi8V5Hf0Bjr1NzM0Nq9zbSqGKQ7l6QVqkCbLrVYKhbRkqN\n-----END EC PRIVATE KEY-----\n"
	kc := `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:6443"}}]
users:
- {name: admin, user: {client-key-data: ` + base64.StdEncoding.EncodeToString([]byte(key)) + `}}
- {name: bot, user: {token: s3cr3t-service-account-token}}
contexts: [{name: c, context: {cluster: c, user: admin}}]
current-context: c
`
	path := filepath.Join(t.TempDir(), "kubeconfig")
	os.WriteFile(path, []byte(kc), 0o600)
	got := KubeconfigSecrets(path)
	for _, want := range []string{"s3cr3t-service-account-token", key, "MHcCAQEEIIrYSSNQFaA2Hwf1duRSxKtLYX5CB04fSeQ6tF1aY/PuoAoGCCqGSM49"} {
		if !slices.Contains(got, want) {
			t.Errorf("secrets lack %q", want)
		}
	}
	if len(KubeconfigSecrets(filepath.Join(t.TempDir(), "none"))) != 0 {
		t.Error("a missing kubeconfig has secrets")
	}
}
