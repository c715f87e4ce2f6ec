package deploy

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"helm.sh/helm/v4/pkg/strvals"
	"sigs.k8s.io/yaml"

	"github.com/ferry-ci/ferry/pipeline/config"
)

// image is what deploy pins: a repository and a digest, with the tag it was pushed under.
type image struct {
	Repository, Digest, Tag string
}

// values builds a release's values as Helm's CLI would from -f and --set, in order: the
// environment's values files, its set entries, then the image, pinned by digest. The digest of
// the result identifies the values of a revision.
func values(root string, env *config.Environment, iv config.ImageValues, img image) (map[string]any, string, error) {
	vals := map[string]any{}
	for _, f := range env.Values {
		data, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			return nil, "", fmt.Errorf("values file %s: %w", f, err)
		}
		var m map[string]any
		if err := yaml.Unmarshal(data, &m); err != nil {
			return nil, "", fmt.Errorf("values file %s: %w", f, err)
		}
		vals = merge(vals, m)
	}
	keys := make([]string, 0, len(env.Set))
	for k := range env.Set {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if err := strvals.ParseInto(k+"="+env.Set[k], vals); err != nil {
			return nil, "", fmt.Errorf("environments.%s.set.%s: %w", env.Name, k, err)
		}
	}
	tag := img.Tag + "@" + img.Digest
	if iv.Digest != "" {
		setPath(vals, iv.Digest, img.Digest)
		tag = img.Tag
	}
	setPath(vals, iv.Repository, img.Repository)
	setPath(vals, iv.Tag, tag)
	data, err := json.Marshal(vals) // map keys sorted: a stable digest
	if err != nil {
		return nil, "", err
	}
	sum := sha256.Sum256(data)
	return vals, "sha256:" + hex.EncodeToString(sum[:]), nil
}

// setPath sets a dotted key (image.tag) in nested maps, creating them.
func setPath(m map[string]any, path string, v any) {
	parts := strings.Split(path, ".")
	for _, p := range parts[:len(parts)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[p] = next
		}
		m = next
	}
	m[parts[len(parts)-1]] = v
}

// merge overlays b on a as Helm merges values files: maps merge, anything else replaces.
func merge(a, b map[string]any) map[string]any {
	for k, v := range b {
		if bm, ok := v.(map[string]any); ok {
			if am, ok := a[k].(map[string]any); ok {
				a[k] = merge(am, bm)
				continue
			}
		}
		a[k] = v
	}
	return a
}
