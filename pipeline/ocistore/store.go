// Package ocistore keeps Ferry's runs in an OCI registry (state: oci://host/repository), so
// that a run started in one CI job can be approved, resumed, cancelled and promoted from another
// job or another machine.
//
// # Layout in the registry
//
// Every run is one OCI artifact in the repository, tagged with the run id:
//
//	manifest  application/vnd.oci.image.manifest.v1+json, artifactType application/vnd.ferry.run.v1+json
//	config    application/vnd.ferry.run.v1+json        run.json, byte for byte as LocalStore writes it
//	layer 0   application/vnd.ferry.journal.v1+jsonl   journal.jsonl, one pipeline.Record per line
//	layer 1.. text/plain                               every file under the run's logs/, one layer
//	                                                   each, titled (org.opencontainers.image.title)
//	                                                   with its path relative to the run folder
//
// Cached stage results are small artifacts in the same repository, tagged
// cache-<stage>-<first 64 hex digits of the inputs digest>, whose config blob
// (application/vnd.ferry.cache.v1+json) is the pipeline.CacheEntry. List ignores every tag that is
// not a run.
//
// Work files (image layouts, reports under work/) are not uploaded: they are big and only useful
// on the machine that made them. A stage resumed elsewhere finds them missing, its Verifier
// fails, and the engine runs it again there.
//
// # Local working copy
//
// Each Store has a working copy in Options.CacheDir laid out like a pipeline.LocalStore (which
// serves Dir, Lock, the local cache and log files). Locks are therefore process-level, per
// machine: cross-machine exclusion is the optimistic check below.
//
// # Consistency model
//
// The registry is the truth. For every run the Store remembers the manifest digest it last read
// or wrote. Load always asks the registry first (one HEAD), downloading the run when the tag
// moved or the working copy lacks it; Append and Sync push a new manifest only after a HEAD shows
// the tag still at the remembered digest, and otherwise fail with ErrConflict instead of
// overwriting another process's records: load the run again and redo the change. Append returns
// once the registry has the new manifest (the durability contract of this backend), after
// writing the journal to the working copy. Concurrent Appends in one process are batched into one
// push. Records of an Append that failed stay pending and go out with the next successful push
// of this process; a Load drops them and shows the registry's state.
//
// Registries offer no compare-and-swap on tags, so two processes that push the same run within
// the same HEAD-to-PUT window (milliseconds) can both succeed and the first push is lost; its
// process finds out at its next push (ErrConflict). The engine's owner record and run lock make
// such concurrent writers rare; this Store makes them visible instead of silent.
//
// Transient registry errors are retried by go-containerregistry (WithRetryBackoff,
// WithRetryStatusCodes); unchanged blobs are not uploaded again.
package ocistore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/ferry-ci/ferry/internal/ocierr"
	"github.com/ferry-ci/ferry/pipeline"
)

// ErrConflict is returned when the registry's copy of a run changed since this process last read
// or wrote it (or, for Create, when the run already exists). Load the run again and retry.
var ErrConflict = errors.New("run changed by another process")

// Options configure a Store.
type Options struct {
	// CacheDir is the root of the local working copy (logs, work folders, journal). Default:
	// <CacheRoot>/state/<host>/<repository path>.
	CacheDir string
	// CacheRoot is Ferry's cache folder; default os.UserCacheDir()/ferry.
	CacheRoot string
	// Remote options for every registry call: auth (the caller passes authn.DefaultKeychain or
	// credentials from the environment), transport, user agent. The context is set per call.
	Remote []remote.Option
	// Insecure talks plain http to the registry. Loopback (127.0.0.1, [::1], localhost:port)
	// and private (RFC 1918) registries use http anyway.
	Insecure bool
}

// Store is a pipeline.Store backed by an OCI registry repository.
type Store struct {
	ref    string // oci://host/repository, for messages
	repo   name.Repository
	local  *pipeline.LocalStore
	puller *remote.Puller
	pusher *remote.Pusher

	mu    sync.Mutex
	runs  map[string]*runState
	known map[v1.Hash]bool // blobs that exist in the repository
}

var _ pipeline.Store = (*Store)(nil)

// runState is what this process knows about one run.
type runState struct {
	id string

	// mu serialises pulls and pushes of the run in this process.
	mu sync.Mutex
	// digest is the manifest this process last read or wrote; zero when it has neither.
	digest  v1.Hash
	runJSON []byte
	journal []byte                   // the journal at digest
	pending []byte                   // records written locally, not yet in a successful push
	logs    map[string]v1.Descriptor // title -> layer at digest
	stamps  map[string]fileStamp     // title -> local file as last hashed

	// qmu guards the queue of records waiting for a push.
	qmu     sync.Mutex
	queue   []byte
	queued  int64 // Appends queued so far
	taken   int64 // Appends moved into pending
	pushed  int64 // Appends included in a successful push
	dropped int64 // Appends dropped with the pending records by a pull
}

// dropPending forgets the records whose push failed: the registry's state wins.
func (rs *runState) dropPending() {
	rs.pending = nil
	rs.dropped = rs.taken
}

// fileStamp avoids reading an unchanged log again.
type fileStamp struct {
	size int64
	mod  time.Time
	desc v1.Descriptor
}

// New opens the store at ref: oci://host[:port]/repository/path or host[:port]/repository/path.
// It contacts no registry: the first operation does.
func New(ctx context.Context, ref string, opt Options) (*Store, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("open run store %s: %w", ref, err)
	}
	repo, err := ParseRef(ref, opt.Insecure)
	if err != nil {
		return nil, err
	}
	dir := opt.CacheDir
	if dir == "" {
		base := opt.CacheRoot
		if base == "" {
			user, err := os.UserCacheDir()
			if err != nil {
				return nil, fmt.Errorf("open run store %s: no cache folder (set one): %w", ref, err)
			}
			base = filepath.Join(user, "ferry")
		}
		host := strings.NewReplacer(":", "_", "[", "", "]", "").Replace(repo.RegistryStr())
		dir = filepath.Join(base, "state", host, filepath.FromSlash(repo.RepositoryStr()))
	}
	local, err := pipeline.NewLocalStore(dir)
	if err != nil {
		return nil, fmt.Errorf("open run store %s: %w", ref, err)
	}
	opts := append([]remote.Option{
		remote.WithRetryBackoff(remote.Backoff{Duration: 500 * time.Millisecond, Factor: 2, Jitter: 0.1, Steps: 4}),
		remote.WithRetryStatusCodes(http.StatusRequestTimeout, http.StatusTooManyRequests,
			http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout),
	}, opt.Remote...)
	puller, err := remote.NewPuller(opts...)
	if err != nil {
		return nil, fmt.Errorf("open run store %s: %w", ref, err)
	}
	pusher, err := remote.NewPusher(opts...)
	if err != nil {
		return nil, fmt.Errorf("open run store %s: %w", ref, err)
	}
	return &Store{
		ref: "oci://" + repo.Name(), repo: repo, local: local, puller: puller, pusher: pusher,
		runs: map[string]*runState{}, known: map[v1.Hash]bool{},
	}, nil
}

// ParseRef checks a state reference (oci://host[:port]/repository or host[:port]/repository)
// and returns its repository. The host is required: a bare path would silently mean Docker Hub.
func ParseRef(ref string, insecure bool) (name.Repository, error) {
	fail := func(format string, args ...any) (name.Repository, error) {
		return name.Repository{}, fmt.Errorf("run store %q: %s", ref, fmt.Sprintf(format, args...))
	}
	s := strings.TrimPrefix(ref, "oci://")
	if strings.Contains(s, "://") {
		return fail("unsupported scheme (write oci://host[:port]/repository)")
	}
	if s == "" {
		return fail("missing registry host and repository (write oci://host[:port]/repository)")
	}
	host, repoPath, ok := strings.Cut(s, "/")
	if !ok || repoPath == "" {
		return fail("missing repository path after the host (write oci://%s/repository)", host)
	}
	if host != "localhost" && !strings.ContainsAny(host, ".:") {
		return fail("%q is not a registry host (write oci://host[:port]/repository)", host)
	}
	if strings.ContainsAny(repoPath, ":@") {
		return fail("must not have a tag or digest: runs are tagged by the store")
	}
	if repoPath != strings.ToLower(repoPath) {
		return fail("repository %q must be lower case", repoPath)
	}
	if !repoRE.MatchString(repoPath) {
		return fail("invalid repository %q (path components of a-z, 0-9 and single . _ - between them)", repoPath)
	}
	opts := []name.Option{name.StrictValidation}
	if insecure {
		opts = append(opts, name.Insecure)
	}
	repo, err := name.NewRepository(s, opts...)
	if err != nil {
		return name.Repository{}, fmt.Errorf("run store %q: %w", ref, err)
	}
	return repo, nil
}

// Ref is the store's reference, oci://host/repository.
func (s *Store) Ref() string { return s.ref }

var repoRE = regexp.MustCompile(`^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$`)

var tagRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$`)

const cachePrefix = "cache-"

func checkRunID(id string) error {
	if !tagRE.MatchString(id) || strings.HasPrefix(id, cachePrefix) {
		return fmt.Errorf("invalid run id %q: not usable as a registry tag", id)
	}
	return nil
}

func (s *Store) state(id string) *runState {
	s.mu.Lock()
	defer s.mu.Unlock()
	rs := s.runs[id]
	if rs == nil {
		rs = &runState{id: id}
		s.runs[id] = rs
	}
	return rs
}

func (s *Store) tag(id string) name.Tag { return s.repo.Tag(id) }

// Dir is the run's folder in the working copy.
func (s *Store) Dir(runID string) string { return s.local.Dir(runID) }

// Lock takes a process-level lock on this machine (see the package doc for other machines).
func (s *Store) Lock(ctx context.Context, name, holder string, onWait func(heldBy string)) (func() error, error) {
	return s.local.Lock(ctx, name, holder, onWait)
}

// Create stores a new run in the working copy, then in the registry. It fails with ErrConflict
// when the registry already has a run with that id.
func (s *Store) Create(ctx context.Context, run *pipeline.Run) error {
	if err := checkRunID(run.ID); err != nil {
		return fmt.Errorf("create run in %s: %w", s.ref, err)
	}
	rs := s.state(run.ID)
	rs.mu.Lock()
	defer rs.mu.Unlock()
	exists := fmt.Errorf("create run %s in %s: already exists: %w", run.ID, s.ref, ErrConflict)
	if !isZero(rs.digest) {
		return exists
	}
	// Check before touching the working copy, which may hold that run.
	if _, err := s.puller.Head(ctx, s.tag(run.ID)); err == nil {
		return exists
	} else if !ocierr.NotFound(err) {
		return fmt.Errorf("create run %s in %s: %w", run.ID, s.ref, err)
	}
	if err := s.local.Create(ctx, run); err != nil {
		return err
	}
	data, err := os.ReadFile(filepath.Join(s.Dir(run.ID), "run.json"))
	if err != nil {
		return fmt.Errorf("create run %s: %w", run.ID, err)
	}
	rs.runJSON, rs.journal, rs.pending, rs.logs = data, nil, nil, nil
	if err := s.writeJournal(rs); err != nil {
		return err
	}
	if err := s.push(ctx, rs); err != nil {
		rs.runJSON = nil
		if errors.Is(err, ErrConflict) {
			return exists
		}
		return err
	}
	return nil
}

// Append writes records to the working copy's journal and returns once the registry has a
// manifest with them. Concurrent Appends share pushes.
func (s *Store) Append(ctx context.Context, runID string, recs ...pipeline.Record) error {
	if err := checkRunID(runID); err != nil {
		return fmt.Errorf("append to run in %s: %w", s.ref, err)
	}
	var buf bytes.Buffer
	for _, r := range recs {
		line, err := json.Marshal(r)
		if err != nil {
			return fmt.Errorf("encode journal record of run %s: %w", runID, err)
		}
		buf.Write(line)
		buf.WriteByte('\n')
	}
	rs := s.state(runID)
	rs.qmu.Lock()
	rs.queue = append(rs.queue, buf.Bytes()...)
	rs.queued++
	mine := rs.queued
	rs.qmu.Unlock()

	rs.mu.Lock()
	defer rs.mu.Unlock()
	switch {
	case rs.pushed >= mine:
		return nil // another Append pushed these records with its own
	case rs.dropped >= mine:
		// Another Append took these records into a push that failed, and the run was loaded
		// again since.
		return fmt.Errorf("append to run %s in %s: the push failed and the run was loaded again: %w", runID, s.ref, ErrConflict)
	}
	if isZero(rs.digest) {
		// Neither created nor loaded by this process: start from the registry's state.
		if err := s.pull(ctx, rs); err != nil {
			return err
		}
	}
	rs.qmu.Lock()
	batch, upto := rs.queue, rs.queued
	rs.queue = nil
	rs.qmu.Unlock()
	rs.pending = append(rs.pending, batch...)
	rs.taken = upto
	if err := s.writeJournal(rs); err != nil {
		return err
	}
	if err := s.push(ctx, rs); err != nil {
		return err
	}
	rs.pushed = upto
	return nil
}

// Load fetches the run's state from the registry (downloading it into the working copy when it
// changed or is missing there) and replays its journal.
func (s *Store) Load(ctx context.Context, runID string) (*pipeline.Run, error) {
	if err := checkRunID(runID); err != nil {
		return nil, fmt.Errorf("load run from %s: %w", s.ref, err)
	}
	rs := s.state(runID)
	rs.mu.Lock()
	defer rs.mu.Unlock()
	desc, err := s.puller.Head(ctx, s.tag(runID))
	if err != nil {
		if ocierr.NotFound(err) {
			return nil, fmt.Errorf("run %s in %s: %w", runID, s.ref, pipeline.ErrRunNotFound)
		}
		return nil, fmt.Errorf("load run %s from %s: %w", runID, s.ref, err)
	}
	_, statErr := os.Stat(filepath.Join(s.Dir(runID), "run.json"))
	switch {
	case desc.Digest != rs.digest || statErr != nil:
		if err := s.pull(ctx, rs); err != nil {
			return nil, err
		}
	case len(rs.pending) > 0:
		rs.dropPending()
		if err := s.writeJournal(rs); err != nil {
			return nil, err
		}
	}
	run, err := decodeRun(runID, rs.runJSON, rs.journal)
	if err != nil {
		return nil, fmt.Errorf("load run %s from %s: %w", runID, s.ref, err)
	}
	return run, nil
}

// Sync pushes the run's logs (and any records whose push failed) to the registry. It pushes
// nothing when the registry is up to date.
func (s *Store) Sync(ctx context.Context, runID string) error {
	if err := checkRunID(runID); err != nil {
		return fmt.Errorf("sync run to %s: %w", s.ref, err)
	}
	rs := s.state(runID)
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if isZero(rs.digest) {
		if err := s.pull(ctx, rs); err != nil {
			return err
		}
	}
	return s.push(ctx, rs)
}

// List returns every run in the repository, newest first. It reads run.json and the journal of
// each from the registry and leaves the working copy alone. Tags that are not runs are skipped,
// and so are runs that cannot be decoded.
func (s *Store) List(ctx context.Context) ([]*pipeline.Run, error) {
	tags, err := s.puller.List(ctx, s.repo)
	if err != nil {
		if ocierr.NotFound(err) {
			return nil, nil // nothing pushed yet
		}
		return nil, fmt.Errorf("list runs in %s: %w", s.ref, err)
	}
	var ids []string
	for _, t := range tags {
		if checkRunID(t) == nil {
			ids = append(ids, t)
		}
	}
	runs := make([]*pipeline.Run, len(ids))
	errs := make([]error, len(ids))
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
				defer func() { <-sem }()
			case <-ctx.Done():
				errs[i] = ctx.Err()
				return
			}
			runs[i], errs[i] = s.readRun(ctx, id)
		}()
	}
	wg.Wait()
	var out []*pipeline.Run
	for i, r := range runs {
		switch {
		case errs[i] != nil:
			return nil, fmt.Errorf("list runs in %s: %w", s.ref, errs[i])
		case r != nil:
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID > out[j].ID })
	return out, nil
}

// readRun reads one tag as a run, nil when it is not one (or is gone, or undecodable).
func (s *Store) readRun(ctx context.Context, id string) (*pipeline.Run, error) {
	a, err := s.fetchRun(ctx, id)
	if err != nil {
		if ocierr.NotFound(err) || errors.Is(err, errNotRun) {
			return nil, nil
		}
		return nil, err
	}
	run, err := decodeRun(id, a.runJSON, a.journal)
	if err != nil {
		return nil, nil // like LocalStore.List: an unreadable run is skipped
	}
	return run, nil
}

// OpenLog opens a log from the working copy, or streams it from the registry when this machine
// does not have it.
func (s *Store) OpenLog(ctx context.Context, runID, rel string) (io.ReadCloser, error) {
	if err := checkRunID(runID); err != nil {
		return nil, fmt.Errorf("open log in %s: %w", s.ref, err)
	}
	title, err := cleanTitle(rel)
	if err != nil {
		return nil, err
	}
	f, err := s.local.OpenLog(ctx, runID, title)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return f, err
	}
	d, err := s.puller.Get(ctx, s.tag(runID))
	if err != nil {
		if ocierr.NotFound(err) {
			return nil, fmt.Errorf("open log %s of run %s in %s: %w", rel, runID, s.ref, pipeline.ErrRunNotFound)
		}
		return nil, fmt.Errorf("open log %s of run %s in %s: %w", rel, runID, s.ref, err)
	}
	var m v1.Manifest
	if err := json.Unmarshal(d.Manifest, &m); err != nil {
		return nil, fmt.Errorf("open log %s of run %s in %s: decode manifest: %w", rel, runID, s.ref, err)
	}
	for _, l := range m.Layers {
		if l.MediaType == LogMediaType && l.Annotations[v1TitleAnnotation] == title {
			rc, err := s.openBlob(ctx, l.Digest)
			if err != nil {
				return nil, fmt.Errorf("open log %s of run %s in %s: %w", rel, runID, s.ref, err)
			}
			return rc, nil
		}
	}
	return nil, fmt.Errorf("open log %s of run %s in %s: %w", rel, runID, s.ref, fs.ErrNotExist)
}

// cleanTitle checks a path relative to the run folder and returns it with '/'.
func cleanTitle(rel string) (string, error) {
	p := path.Clean(filepath.ToSlash(rel))
	if rel == "" || path.IsAbs(p) || p == "." || p == ".." || strings.HasPrefix(p, "../") || strings.Contains(p, "\\") {
		return "", fmt.Errorf("invalid log path %q", rel)
	}
	return p, nil
}

func decodeRun(id string, runJSON, journal []byte) (*pipeline.Run, error) {
	run := &pipeline.Run{}
	if err := json.Unmarshal(runJSON, run); err != nil {
		return nil, fmt.Errorf("decode run.json: %w", err)
	}
	if run.ID != id {
		return nil, fmt.Errorf("run.json is of run %q", run.ID)
	}
	if err := pipeline.ReplayJournal(run, bytes.NewReader(journal)); err != nil {
		return nil, err
	}
	return run, nil
}

func isZero(h v1.Hash) bool { return h == v1.Hash{} }
