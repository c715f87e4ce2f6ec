package deploy

import (
	"context"
	"fmt"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/registry"
)

// pullChart loads the chart the chart stage pushed, by digest: every environment deploys the
// very same package, never one packaged again.
func pullChart(ctx context.Context, ref string, keychain authn.Keychain, insecure bool) (*chart.Chart, error) {
	var opts []name.Option
	if insecure {
		opts = append(opts, name.Insecure)
	}
	d, err := name.NewDigest(ref, opts...)
	if err != nil {
		return nil, fmt.Errorf("chart ref %q: %w", ref, err)
	}
	img, err := remote.Image(d, remote.WithContext(ctx), remote.WithAuthFromKeychain(keychain))
	if err != nil {
		return nil, fmt.Errorf("pull chart %s: %w", ref, err)
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("pull chart %s: %w", ref, err)
	}
	for _, l := range layers {
		mt, err := l.MediaType()
		if err != nil || (string(mt) != registry.ChartLayerMediaType && string(mt) != registry.LegacyChartLayerMediaType) {
			continue
		}
		rc, err := l.Compressed()
		if err != nil {
			return nil, fmt.Errorf("pull chart %s: %w", ref, err)
		}
		defer rc.Close()
		ch, err := loader.LoadArchive(rc)
		if err != nil {
			return nil, fmt.Errorf("load chart %s: %w", ref, err)
		}
		return ch, nil
	}
	return nil, fmt.Errorf("pull chart %s: no Helm chart layer in the manifest", ref)
}
