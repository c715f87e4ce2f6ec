package releases

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Registry asks a registry about tags: go-containerregistry's remote.Head and remote.List,
// authenticated as the caller configured (Options) and over plain HTTP when NameOptions says
// so (loopback and private addresses always are).
type Registry struct {
	Options     []remote.Option
	NameOptions []name.Option
}

// ErrUnreachable wraps the errors of a registry that did not answer the question (network,
// TLS, authentication, server errors): the tag may or may not exist.
var ErrUnreachable = errors.New("registry unreachable")

// Exists reports whether repo:tag is in the registry.
func (r Registry) Exists(ctx context.Context, repo, tag string) (bool, error) {
	ref, err := name.NewTag(repo+":"+tag, r.NameOptions...)
	if err != nil {
		return false, fmt.Errorf("%s:%s: %w", repo, tag, err)
	}
	_, err = remote.Head(ref, append(r.Options, remote.WithContext(ctx))...)
	switch {
	case err == nil:
		return true, nil
	case notFound(err):
		return false, nil
	}
	return false, fmt.Errorf("%w: %s: %v", ErrUnreachable, ref, err)
}

// Tags lists the tags of repo; none when the repository does not exist.
func (r Registry) Tags(ctx context.Context, repo string) ([]string, error) {
	rp, err := name.NewRepository(repo, r.NameOptions...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", repo, err)
	}
	tags, err := remote.List(rp, append(r.Options, remote.WithContext(ctx))...)
	if err != nil {
		if notFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("%w: %s: %v", ErrUnreachable, repo, err)
	}
	return tags, nil
}

// notFound recognises a registry's "no such manifest or repository" (HEAD answers carry no
// body, so the status code decides).
func notFound(err error) bool {
	var te *transport.Error
	if !errors.As(err, &te) {
		return false
	}
	if te.StatusCode == http.StatusNotFound {
		return true
	}
	for _, d := range te.Errors {
		if d.Code == transport.ManifestUnknownErrorCode || d.Code == transport.NameUnknownErrorCode {
			return true
		}
	}
	return false
}
