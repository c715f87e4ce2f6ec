// Package push publishes container images to OCI registries by digest.
//
// A push returns repo@sha256:… and never a bare tag. Release tags are immutable: one that
// already points at another digest is refused with ErrTagMoved before anything is uploaded,
// unless the caller forces it. Moving tags (the commit tag) point at the latest push and move
// when a later push of the same commit gives another image (a release and a main build of one
// commit, two releases at one commit), saying so in the log. Blobs the repository already has are not uploaded
// again, layers whose source repository in the same registry is known are mounted instead of
// uploaded, transient registry errors are retried with exponential backoff, and pushing an
// image that is already there uploads nothing and reports AlreadyPresent.
package push

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/ferry-ci/ferry/internal/ocierr"
)

// RetryPolicy is the exponential backoff for transient failures (408, 429, 5xx, connection
// resets, EOF), carried out by go-containerregistry: each HTTP request, and each blob upload as
// a whole, is tried up to Attempts times, waiting Initial, Initial×Factor, Initial×Factor², …
// (±10% jitter) in between. Retry-After headers are not honoured. Zero fields take the
// defaults: 5 tries, 500ms, ×2, so at most about 7.5 s of waiting per request.
type RetryPolicy struct {
	Attempts int           // tries including the first
	Initial  time.Duration // wait after the first failure
	Factor   float64       // growth of the wait per failure, at least 1
}

func (r RetryPolicy) withDefaults() (RetryPolicy, error) {
	if r.Attempts < 0 || r.Initial < 0 || r.Factor < 0 || (r.Factor != 0 && r.Factor < 1) {
		return r, fmt.Errorf("retry policy %+v: want attempts and initial ≥ 0 and factor ≥ 1", r)
	}
	if r.Attempts == 0 {
		r.Attempts = 5
	}
	if r.Initial == 0 {
		r.Initial = 500 * time.Millisecond
	}
	if r.Factor == 0 {
		r.Factor = 2
	}
	return r, nil
}

// Options configures a Pusher.
type Options struct {
	// Keychain resolves credentials per registry; nil means Keychain(os.Getenv).
	Keychain authn.Keychain
	// PlainHTTP talks HTTP instead of HTTPS to every registry. Loopback (localhost, 127.0.0.0/8,
	// ::1), RFC 1918 and *.local registries already use HTTP without it.
	PlainHTTP bool
	// Transport carries the requests; nil means go-containerregistry's remote.DefaultTransport.
	// It is wrapped with retries unless it is a *transport.Wrapper.
	Transport http.RoundTripper
	Retry     RetryPolicy
	// Log receives one line per step; nil discards them. Credentials never appear in it.
	Log io.Writer
}

// Pusher pushes images. It is safe for concurrent use and reuses registry tokens between
// pushes.
type Pusher struct {
	log      io.Writer
	nameOpts []name.Option
	puller   *remote.Puller
	pusher   *remote.Pusher
}

// New returns a Pusher.
func New(opt Options) (*Pusher, error) {
	retry, err := opt.Retry.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("push: %w", err)
	}
	if opt.Keychain == nil {
		opt.Keychain = Keychain(os.Getenv)
	}
	if opt.Transport == nil {
		opt.Transport = remote.DefaultTransport
	}
	if opt.Log == nil {
		opt.Log = io.Discard
	}
	ropts := []remote.Option{
		remote.WithAuthFromKeychain(opt.Keychain),
		remote.WithTransport(opt.Transport),
		remote.WithUserAgent("ferry"),
		remote.WithRetryBackoff(remote.Backoff{
			Duration: retry.Initial,
			Factor:   retry.Factor,
			Jitter:   0.1,
			Steps:    retry.Attempts, // no Cap: reaching it would end the retries early
		}),
	}
	puller, err := remote.NewPuller(ropts...)
	if err != nil {
		return nil, fmt.Errorf("push: %w", err)
	}
	pusher, err := remote.NewPusher(ropts...)
	if err != nil {
		return nil, fmt.Errorf("push: %w", err)
	}
	p := &Pusher{log: opt.Log, puller: puller, pusher: pusher}
	if opt.PlainHTTP {
		p.nameOpts = append(p.nameOpts, name.Insecure)
	}
	return p, nil
}

// Pushed describes a finished push.
type Pushed struct {
	Ref    string  // repo@sha256:…, what everything after the push refers to
	Digest v1.Hash // digest of the image manifest
	Tags   []string
	// AlreadyPresent reports that the manifest was already in the repository, so no blob or
	// manifest was uploaded; tags that were missing may still have been set.
	AlreadyPresent bool
}

// ErrTagMoved is matched (errors.Is) by the error of a push that was refused because a tag
// already points at another digest. The error is a *TagMovedError, or several joined.
var ErrTagMoved = errors.New("tag points at another digest")

// TagMovedError says that a release tag already points at another digest.
type TagMovedError struct {
	Tag      string  // repo:tag
	Existing v1.Hash // what the tag points at in the registry
	Pushing  v1.Hash // what the push would have made it point at
}

func (e *TagMovedError) Error() string {
	return fmt.Sprintf("tag %s already points at %s, not %s (release tags are immutable; force moves it)",
		e.Tag, e.Existing, e.Pushing)
}

// Is makes errors.Is(err, ErrTagMoved) true.
func (e *TagMovedError) Is(target error) bool { return target == ErrTagMoved }

// Tags are what a push points at the image.
type Tags struct {
	// Immutable tags (release versions) never move unless forced.
	Immutable []string
	// Moving tags (the commit) point at the latest push.
	Moving []string
}

// Push uploads img to repo (registry/path, no tag) and points tags at it. Before uploading
// anything it checks every immutable tag: one that points at another digest fails the push
// with ErrTagMoved unless force is set, in which case it is moved.
func (p *Pusher) Push(ctx context.Context, img v1.Image, repo string, tags Tags, force bool) (Pushed, error) {
	r, err := name.NewRepository(repo, p.nameOpts...)
	if err != nil {
		return Pushed{}, fmt.Errorf("push %s: %w", repo, err)
	}
	dgst, err := img.Digest()
	if err != nil {
		return Pushed{}, fmt.Errorf("push %s: digest: %w", repo, err)
	}
	ref := r.Digest(dgst.String())
	out := Pushed{Ref: ref.String(), Digest: dgst}

	var todo []name.Tag
	var moved []error
	moving := uniq(tags.Moving)
	for _, t := range uniq(append(slices.Clone(tags.Immutable), moving...)) {
		tag, err := name.NewTag(r.String()+":"+t, p.nameOpts...)
		if err != nil {
			return Pushed{}, fmt.Errorf("push %s: tag %q: %w", ref, t, err)
		}
		have, err := p.head(ctx, tag)
		if err != nil {
			return Pushed{}, fmt.Errorf("push %s: check tag %s: %w", ref, tag, err)
		}
		switch {
		case have == nil:
			todo = append(todo, tag)
		case *have == dgst:
			fmt.Fprintf(p.log, "tag %s already points at %s\n", tag, dgst)
		case slices.Contains(moving, t):
			fmt.Fprintf(p.log, "moving tag %s from %s to %s: it points at the latest build of the commit\n", tag, *have, dgst)
			todo = append(todo, tag)
		case force:
			fmt.Fprintf(p.log, "moving tag %s from %s to %s (forced)\n", tag, *have, dgst)
			todo = append(todo, tag)
		default:
			moved = append(moved, &TagMovedError{Tag: tag.String(), Existing: *have, Pushing: dgst})
		}
		out.Tags = append(out.Tags, t)
	}
	if len(moved) > 0 {
		return Pushed{}, fmt.Errorf("push %s: %w", ref, errors.Join(moved...))
	}

	have, err := p.head(ctx, ref)
	if err != nil {
		return Pushed{}, fmt.Errorf("push %s: check manifest: %w", ref, err)
	}
	if have != nil {
		out.AlreadyPresent = true
		fmt.Fprintf(p.log, "%s already present, nothing to upload\n", ref)
	} else {
		start := time.Now()
		if err := p.pusher.Push(ctx, ref, img); err != nil {
			return Pushed{}, fmt.Errorf("push %s: %w", ref, err)
		}
		fmt.Fprintf(p.log, "pushed %s in %s\n", ref, time.Since(start).Round(time.Millisecond))
	}
	for _, tag := range todo {
		// The manifest and its blobs are in the repository now: a tag is one manifest PUT.
		if err := p.pusher.Put(ctx, tag, img); err != nil {
			return Pushed{}, fmt.Errorf("push %s: tag %s: %w", ref, tag.TagStr(), err)
		}
		fmt.Fprintf(p.log, "tagged %s\n", tag)
	}
	return out, nil
}

// head returns the digest ref points at, or nil when the registry has nothing there.
func (p *Pusher) head(ctx context.Context, ref name.Reference) (*v1.Hash, error) {
	desc, err := p.puller.Head(ctx, ref)
	if ocierr.NotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &desc.Digest, nil
}

func uniq(tags []string) []string {
	out := make([]string, 0, len(tags))
	for _, t := range tags {
		if t = strings.TrimSpace(t); t != "" && !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}
