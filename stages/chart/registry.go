package chart

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"helm.sh/helm/v4/pkg/registry"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/retry"

	"github.com/ferry-ci/ferry/internal/ocierr"
)

// Registry pushes chart archives with Helm's registry client and reads what a chart tag holds
// with go-containerregistry. Credentials come from one authn.Keychain for both.
type Registry struct {
	// Keychain resolves credentials per registry host; nil means anonymous.
	Keychain authn.Keychain
	// PlainHTTP talks HTTP to every registry. Loopback, RFC 1918 and *.local registries use
	// HTTP without it, as the push stage does.
	PlainHTTP bool
	// CredentialsFile is the Helm registry config file the client is given. Ferry never logs
	// in, so it is never written; it keeps Helm away from the user's own file. Empty means a
	// path that does not exist.
	CredentialsFile string
	// Log receives Helm's push output and Ferry's decisions.
	Log io.Writer
}

// Pushed is a chart in the registry.
type Pushed struct {
	Ref    string // repo@sha256:…
	Digest string // the manifest digest
	Tag    string
	// AlreadyPresent reports that the tag already held this content: nothing was pushed.
	AlreadyPresent bool
}

// ErrContentChanged is matched (errors.Is) by the error of a push that was refused because
// the version's tag already holds a chart with other content.
var ErrContentChanged = errors.New("chart version already holds other content")

// ContentChangedError says that a chart version is already in the registry with other
// content.
type ContentChangedError struct {
	Tag string // repo:tag
	// Existing is the manifest digest the tag points at, ExistingContent its
	// ferry.dev/content-digest annotation ("" when it has none).
	Existing, ExistingContent string
	// Content is the content digest of the chart that was to be pushed.
	Content string
}

func (e *ContentChangedError) Error() string {
	have := "content " + e.ExistingContent
	if e.ExistingContent == "" {
		have = "no " + AnnotationContentDigest + " annotation (not pushed by Ferry)"
	}
	return fmt.Sprintf("chart %s already exists as %s with %s, not content %s (chart versions are immutable; force overwrites it)",
		e.Tag, e.Existing, have, e.Content)
}

// Is makes errors.Is(err, ErrContentChanged) true.
func (e *ContentChangedError) Is(target error) bool { return target == ErrContentChanged }

// Repository is where a registry's charts go: REGISTRY/helm/<name>, pushed as
// oci://REGISTRY/helm.
func Repository(registryAddr, chartName string) string {
	return strings.TrimSuffix(strings.TrimPrefix(registryAddr, "oci://"), "/") + "/helm/" + chartName
}

// Push pushes the packaged chart to repo (REGISTRY/helm/<name>) under its version. A tag that
// already holds a chart with the same content digest is reused; one with other content is
// refused with ErrContentChanged unless force is set.
func (r *Registry) Push(ctx context.Context, pkg *Packaged, repo string, force bool) (Pushed, error) {
	log := r.log()
	tagStr := strings.ReplaceAll(pkg.Version, "+", "_")
	tag, err := name.NewTag(repo+":"+tagStr, r.nameOpts()...)
	if err != nil {
		return Pushed{}, fmt.Errorf("chart %s:%s: %w", repo, tagStr, err)
	}
	existing, annotations, err := r.Manifest(ctx, tag)
	if err != nil {
		return Pushed{}, fmt.Errorf("check %s: %w", tag, err)
	}
	if existing != "" {
		have := annotations[AnnotationContentDigest]
		switch {
		case have == pkg.ContentDigest:
			ref := tag.Context().Digest(existing).String()
			fmt.Fprintf(log, "chart %s already pushed: nothing to do\n", ref)
			return Pushed{Ref: ref, Digest: existing, Tag: tagStr, AlreadyPresent: true}, nil
		case !force:
			return Pushed{}, &ContentChangedError{Tag: tag.String(), Existing: existing, ExistingContent: have, Content: pkg.ContentDigest}
		default:
			fmt.Fprintf(log, "overwriting chart %s (%s, content %q) with content %s (forced)\n", tag, existing, have, pkg.ContentDigest)
		}
	}

	client, err := r.helmClient(ctx, log, tag.Context().Registry)
	if err != nil {
		return Pushed{}, fmt.Errorf("helm registry client: %w", err)
	}
	// Helm checks that the ref ends in <name>:<version> and turns '+' into '_' itself.
	res, err := client.Push(pkg.Data, repo+":"+pkg.Version)
	if err != nil {
		return Pushed{}, fmt.Errorf("push chart %s: %w", tag, err)
	}
	digest := res.Manifest.Digest
	// Read the tag back: what deploys will pull must be what was pushed.
	got, _, err := r.Manifest(ctx, tag)
	if err != nil {
		return Pushed{}, fmt.Errorf("check %s after the push: %w", tag, err)
	}
	if got != digest {
		return Pushed{}, fmt.Errorf("%s points at %s after pushing %s (another push of the same version?)", tag, got, digest)
	}
	return Pushed{Ref: tag.Context().Digest(digest).String(), Digest: digest, Tag: tagStr}, nil
}

// Manifest returns the digest and annotations of the manifest ref points at, or "" when the
// registry has nothing there.
func (r *Registry) Manifest(ctx context.Context, ref name.Reference) (string, map[string]string, error) {
	desc, err := remote.Get(ref, r.remoteOpts(ctx)...)
	if ocierr.NotFound(err) {
		return "", nil, nil
	}
	if err != nil {
		return "", nil, err
	}
	m, err := v1.ParseManifest(bytes.NewReader(desc.Manifest))
	if err != nil {
		return "", nil, fmt.Errorf("manifest of %s: %w", ref, err)
	}
	return desc.Digest.String(), m.Annotations, nil
}

// Exists reports whether ref (repo@sha256:…) is in the registry.
func (r *Registry) Exists(ctx context.Context, ref string) error {
	d, err := name.NewDigest(ref, r.nameOpts()...)
	if err != nil {
		return fmt.Errorf("chart ref %q: %w", ref, err)
	}
	if _, err := remote.Head(d, r.remoteOpts(ctx)...); err != nil {
		if ocierr.NotFound(err) {
			return fmt.Errorf("chart %s is no longer in the registry", ref)
		}
		return fmt.Errorf("check chart %s: %w", ref, err)
	}
	return nil
}

func (r *Registry) log() io.Writer {
	if r.Log == nil {
		return io.Discard
	}
	return r.Log
}

func (r *Registry) keychain() authn.Keychain {
	if r.Keychain == nil {
		return anonymous{}
	}
	return r.Keychain
}

func (r *Registry) nameOpts() []name.Option {
	if r.PlainHTTP {
		return []name.Option{name.Insecure}
	}
	return nil
}

func (r *Registry) remoteOpts(ctx context.Context) []remote.Option {
	return []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(r.keychain()), remote.WithUserAgent("ferry")}
}

// helmClient is a Helm registry client whose requests carry ctx (Helm's push uses a background
// context), retry transient failures and authenticate with the keychain. It talks plain HTTP
// to the registries go-containerregistry would (loopback, RFC 1918, *.local) and to every one
// with PlainHTTP.
func (r *Registry) helmClient(ctx context.Context, log io.Writer, reg name.Registry) (*registry.Client, error) {
	base := http.DefaultTransport.(*http.Transport).Clone()
	hc := &http.Client{Transport: ctxTransport{ctx: ctx, base: retry.NewTransport(base)}}
	authorizer := auth.Client{Client: hc, Cache: auth.NewCache(), Credential: r.credential}
	authorizer.SetUserAgent("ferry")
	credFile := r.CredentialsFile
	if credFile == "" {
		credFile = "/nonexistent/ferry/helm-registry-config.json"
	}
	opts := []registry.ClientOption{
		registry.ClientOptHTTPClient(hc),
		registry.ClientOptAuthorizer(authorizer),
		registry.ClientOptWriter(log),
		registry.ClientOptCredentialsFile(credFile),
	}
	if r.PlainHTTP || reg.Scheme() == "http" {
		opts = append(opts, registry.ClientOptPlainHTTP())
	}
	return registry.NewClient(opts...)
}

// credential adapts the keychain to ORAS, which Helm's client authenticates with: the same
// credentials the push stage uses, per registry host.
func (r *Registry) credential(ctx context.Context, hostport string) (auth.Credential, error) {
	reg, err := name.NewRegistry(hostport, r.nameOpts()...)
	if err != nil {
		return auth.EmptyCredential, fmt.Errorf("registry %q: %w", hostport, err)
	}
	a, err := authn.Resolve(ctx, r.keychain(), reg)
	if err != nil {
		return auth.EmptyCredential, fmt.Errorf("credentials for %s: %w", hostport, err)
	}
	cfg, err := authn.Authorization(ctx, a)
	if err != nil {
		return auth.EmptyCredential, fmt.Errorf("credentials for %s: %w", hostport, err)
	}
	user, pass := cfg.Username, cfg.Password
	if user == "" && pass == "" && cfg.Auth != "" {
		if raw, err := base64.StdEncoding.DecodeString(cfg.Auth); err == nil {
			user, pass, _ = strings.Cut(string(raw), ":")
		}
	}
	return auth.Credential{Username: user, Password: pass, RefreshToken: cfg.IdentityToken, AccessToken: cfg.RegistryToken}, nil
}

type anonymous struct{}

func (anonymous) Resolve(authn.Resource) (authn.Authenticator, error) { return authn.Anonymous, nil }

// ctxTransport makes every request carry ctx, so that cancelling the stage stops Helm's push.
type ctxTransport struct {
	ctx  context.Context
	base http.RoundTripper
}

func (t ctxTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := t.ctx.Err(); err != nil {
		return nil, err
	}
	return t.base.RoundTrip(req.WithContext(t.ctx))
}
