// Package ocistore keeps Ferry's runs in an OCI registry (state: oci://host/repository), so
// that a run started in one CI job can be approved, resumed, cancelled and promoted from other
// jobs on other machines, several of them appending to the same run at once.
//
// # Layout in the registry
//
// A run is a root artifact, tagged with the run id, and the pages of its writers:
//
//	<run>                    root: written once by Create
//	  config   application/vnd.ferry.run.v1+json     run.json, byte for byte as LocalStore writes it
//	  layer    application/vnd.oci.empty.v1+json     (annotation vnd.ferry.layout: 2)
//	<run>_<writer>-<page>    one page of one writer's journal and logs (artifactType
//	                         application/vnd.ferry.run.page.v1, config the empty descriptor)
//	  layers   application/vnd.ferry.journal.v2+jsonl   a segment: the records of one push, one
//	                                                    {"seq","clock","record"} per line
//	           text/plain                               a log chunk: the bytes of a log file from
//	                                                    an offset (annotations
//	                                                    org.opencontainers.image.title: the path
//	                                                    relative to the run folder,
//	                                                    vnd.ferry.log.offset)
//
// A writer is one Store, that is one process: it picks a random 12-hex-digit id when it opens.
// Run ids never contain "_", so a run's tags are its id and the tags that start with "<id>_".
// Cached stage results are separate tags (cache-<stage>-<digest>); List ignores every tag that
// is not a run root.
//
// # Appending
//
// An Append uploads one new segment with the new records, one chunk per log that grew since the
// last push (the new bytes only), and puts ONE manifest: the writer's current page with those
// layers added. Blobs this Store uploaded or read are never asked about again; the registry is
// asked (HEAD) only about blobs it may already have. A page takes layers until it has 16; then
// it is marked full and never changes again, and the writer starts the next page. So an
// append's bytes and requests do not grow with the journal: a segment, its chunks, and a
// manifest of at most 16 layers. The manifest a push replaces is deleted by digest (the tag has
// moved on), so superseded manifests are not left behind; registries that refuse deletes
// (distribution without REGISTRY_STORAGE_DELETE_ENABLED=true) keep them untagged, which costs
// storage only. Sync, which the engine calls when a run stops, folds the writer's pages into one
// page with one segment holding all its records, then deletes the old pages: readers then fetch
// one blob per writer instead of one per append. Folding uploads the writer's records a second
// time, so the bytes uploaded stay linear in the journal.
//
// # Concurrent writers
//
// Registries have no compare-and-swap on tags, so no two processes ever write the same tag:
// each writes only its own pages. That makes Append safe across machines: concurrent jobs of a
// run (matrix entries appending for their services, an approval from a third machine) never
// overwrite each other's records, and there is no conflict to report.
//
// A read lists the repository's tags, reads the root and every page of every writer (full pages
// and segments are cached, so a reader that read before fetches only what is new), and merges
// the writers' records into one journal. Each writer's records are deduplicated by number (a
// fold leaves copies for a moment), then all are ordered by (clock, writer id, number). The
// clock is a Lamport clock: a writer stamps each push with one more than the highest clock it
// has read or written. So a record comes after every record its writer had seen when it wrote
// it (an approval after the stage that waited for it, a resume after the crash it continues),
// and records written concurrently are ordered by writer id: the same journal on every machine.
// A page deleted between listing and reading it (a fold) makes the read start again; a tag
// still listed after three tries whose manifest is gone is a page folded away and is skipped.
// (A delete racing another writer's push can fail on distribution after removing the manifest
// and before removing its tags; writers check that a deleted page's tag went and remove it by
// name or through a tombstone manifest.)
//
// Guarantees: an Append that returned nil is in the registry and every later read on any
// machine sees it, in the order above; records of one writer keep their order; a failed Append
// may or may not have reached the registry (its records stay pending and go out with the next
// push of this process; a Load drops them and shows the registry's state). Not guaranteed: two
// processes that execute the same stage of the same service at once both succeed, and the
// later record wins; the engine's run lock and owner record are there to prevent that.
//
// Logs are assembled from every writer's chunks: from offset 0, the chunk reaching furthest
// wins. Logs only grow, so chunks that overlap agree.
//
// Runs written by the first layout (one tag whose manifest had the whole journal as layer 0 and
// one layer per log file) still load: their journal comes first (clock 0) and their logs are
// chunks at offset 0; appends to them go to pages like any other. Ferry versions of the first
// layout cannot read runs of this one (they report 0 journal layers).
//
// # Local working copy
//
// Each Store has a working copy in Options.CacheDir laid out like a pipeline.LocalStore (which
// serves Dir, Lock, the local cache and log files). Locks are process-level, per machine.
// A run's work files (image layouts, reports under work/) are not part of the run artifact.
// The stage outputs a cache entry declares travel as that entry's layers instead (see
// cache.go), and a hit on another machine restores them, checked by digest. A stage resumed
// elsewhere whose files are neither here nor in a cache entry fails its Verifier, and the
// engine runs it again there.
//
// # Deleting runs
//
// DeleteRun deletes a run's pages and then its root by digest. Blobs are freed by the
// registry's garbage collection (distribution: registry garbage-collect, with the registry
// read-only), which keeps every blob a remaining manifest refers to.
//
// Transient registry errors are retried by go-containerregistry (WithRetryBackoff,
// WithRetryStatusCodes).
package ocistore

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
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
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/ferry-ci/ferry/internal/ocierr"
	"github.com/ferry-ci/ferry/pipeline"
)

// ErrConflict is returned by Create when the registry already has a run with that id.
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

// pageLayers is how many layers a page takes before it is full.
const pageLayers = 16

// Store is a pipeline.Store backed by an OCI registry repository.
type Store struct {
	ref    string // oci://host/repository, for messages
	repo   name.Repository
	local  *pipeline.LocalStore
	puller *remote.Puller
	pusher *remote.Pusher
	writer string // this Store's writer id
	// pageLayers is pageLayers; tests lower it.
	pageLayers int
	noDelete   atomic.Bool // the registry refused a delete

	mu    sync.Mutex
	runs  map[string]*runState
	known map[v1.Hash]bool // blobs that exist in the repository
}

var _ pipeline.Store = (*Store)(nil)

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
		writer: newWriterID(), pageLayers: pageLayers,
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

// Writer is this Store's writer id: its pages are tagged <run>_<writer>-<page>.
func (s *Store) Writer() string { return s.writer }

var repoRE = regexp.MustCompile(`^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$`)

// tagRE is what registries accept as a tag.
var tagRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$`)

// runIDRE leaves room in a tag for a page suffix (_<12 hex>-<6 digits>) and no "_".
var runIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9.-]{0,99}$`)

const cachePrefix = "cache-"

func checkRunID(id string) error {
	if !runIDRE.MatchString(id) || strings.HasPrefix(id, cachePrefix) {
		return fmt.Errorf("invalid run id %q: not usable as a registry tag", id)
	}
	return nil
}

func newWriterID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (s *Store) state(id string) *runState {
	s.mu.Lock()
	defer s.mu.Unlock()
	rs := s.runs[id]
	if rs == nil {
		rs = newRunState(id)
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

// Create stores a new run in the working copy, then its root in the registry. It fails with
// ErrConflict when the registry already has a run with that id.
func (s *Store) Create(ctx context.Context, run *pipeline.Run) error {
	if err := checkRunID(run.ID); err != nil {
		return fmt.Errorf("create run in %s: %w", s.ref, err)
	}
	rs := s.state(run.ID)
	rs.mu.Lock()
	defer rs.mu.Unlock()
	exists := fmt.Errorf("create run %s in %s: already exists: %w", run.ID, s.ref, ErrConflict)
	if rs.root != nil {
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
	if err := s.writeJournal(rs); err != nil {
		return err
	}
	if err := s.putRoot(ctx, run.ID, data); err != nil {
		return fmt.Errorf("create run %s in %s: %w", run.ID, s.ref, err)
	}
	rs.root, rs.loaded = &root{runJSON: data, logs: map[string][]chunk{}}, true
	return nil
}

func (s *Store) putRoot(ctx context.Context, id string, runJSON []byte) error {
	cfg, err := newBlob(runJSON, RunMediaType)
	if err != nil {
		return err
	}
	empty := emptyBlob()
	raw, err := json.Marshal(v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		ArtifactType:  string(RunMediaType),
		Config:        cfg.desc,
		Layers:        []v1.Descriptor{empty.desc},
		Annotations:   map[string]string{layoutAnnotation: "2"},
	})
	if err != nil {
		return err
	}
	if err := s.upload(ctx, []blob{cfg, empty}); err != nil {
		return err
	}
	_, err = s.putManifest(ctx, id, raw)
	return err
}

// Append writes records to the working copy's journal and returns once the registry has them
// in this writer's pages. Concurrent Appends of this process share pushes.
func (s *Store) Append(ctx context.Context, runID string, recs ...pipeline.Record) error {
	if err := checkRunID(runID); err != nil {
		return fmt.Errorf("append to run in %s: %w", s.ref, err)
	}
	lines := make([]json.RawMessage, 0, len(recs))
	for _, r := range recs {
		line, err := json.Marshal(r)
		if err != nil {
			return fmt.Errorf("encode journal record of run %s: %w", runID, err)
		}
		lines = append(lines, line)
	}
	rs := s.state(runID)
	rs.qmu.Lock()
	rs.queue = append(rs.queue, lines...)
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
		return fmt.Errorf("append to run %s in %s: the push failed and the run was loaded again", runID, s.ref)
	}
	if !rs.loaded {
		// Neither created nor loaded by this process: start from the registry's state.
		if err := s.pull(ctx, rs); err != nil {
			return err
		}
	}
	rs.take()
	upto := rs.taken
	if err := s.writeJournal(rs); err != nil {
		return err
	}
	if err := s.push(ctx, rs, false); err != nil {
		return err
	}
	rs.pushed = upto
	return nil
}

// pull reads the run from the registry into rs and the working copy.
func (s *Store) pull(ctx context.Context, rs *runState) error {
	r, err := s.read(ctx, rs.id, s.lister(), rs.readCache)
	if err != nil {
		return err
	}
	if _, err := decodeRun(rs.id, r.runJSON, r.journal); err != nil {
		return fmt.Errorf("pull run %s from %s: %w", rs.id, s.ref, err)
	}
	return s.applyRemote(ctx, rs, r)
}

// Load reads the run from the registry (every writer's records, merged), brings the working
// copy up to date and replays the journal. Records of a failed Append of this process are
// dropped.
func (s *Store) Load(ctx context.Context, runID string) (*pipeline.Run, error) {
	if err := checkRunID(runID); err != nil {
		return nil, fmt.Errorf("load run from %s: %w", s.ref, err)
	}
	rs := s.state(runID)
	rs.mu.Lock()
	defer rs.mu.Unlock()
	r, err := s.read(ctx, runID, s.lister(), rs.readCache)
	if err != nil {
		return nil, fmt.Errorf("load run %s: %w", runID, err)
	}
	run, err := decodeRun(runID, r.runJSON, r.journal)
	if err != nil {
		return nil, fmt.Errorf("load run %s from %s: %w", runID, s.ref, err)
	}
	rs.dropPending()
	if err := s.applyRemote(ctx, rs, r); err != nil {
		return nil, err
	}
	return run, nil
}

// Sync pushes the run's logs (and any records whose push failed) to the registry, and folds
// this writer's pages into one. It pushes nothing when the registry is up to date.
func (s *Store) Sync(ctx context.Context, runID string) error {
	if err := checkRunID(runID); err != nil {
		return fmt.Errorf("sync run to %s: %w", s.ref, err)
	}
	rs := s.state(runID)
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if !rs.loaded {
		if err := s.pull(ctx, rs); err != nil {
			return err
		}
	}
	return s.push(ctx, rs, true)
}

// List returns every run in the repository, newest first. It reads each from the registry and
// leaves the working copy alone. Tags that are not run roots are skipped, and so are runs that
// cannot be decoded.
func (s *Store) List(ctx context.Context) ([]*pipeline.Run, error) {
	list := s.lister()
	tags, err := list(ctx, false)
	if err != nil {
		return nil, fmt.Errorf("list runs in %s: %w", s.ref, err)
	}
	var ids []string
	for _, t := range tags {
		if checkRunID(t) == nil {
			ids = append(ids, t)
		}
	}
	runs := make([]*pipeline.Run, len(ids))
	err = parallel(ctx, len(ids), func(i int) error {
		r, err := s.read(ctx, ids[i], list, newReadCache())
		switch {
		case ocierr.NotFound(err), errors.Is(err, pipeline.ErrRunNotFound), errors.Is(err, errNotRun):
			return nil
		case err != nil:
			return err
		}
		if run, err := decodeRun(ids[i], r.runJSON, r.journal); err == nil {
			runs[i] = run // like LocalStore.List: an unreadable run is skipped
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list runs in %s: %w", s.ref, err)
	}
	var out []*pipeline.Run
	for _, r := range runs {
		if r != nil {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID > out[j].ID })
	return out, nil
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
	rs := s.state(runID)
	rs.mu.Lock()
	r, err := s.read(ctx, runID, s.lister(), rs.readCache)
	rs.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("open log %s of run %s: %w", rel, runID, err)
	}
	chunks := r.logs[title]
	if len(chunks) == 0 {
		return nil, fmt.Errorf("open log %s of run %s in %s: %w", rel, runID, s.ref, fs.ErrNotExist)
	}
	pieces, _ := assemble(chunks)
	return s.openPieces(ctx, pieces), nil
}

// DeleteRun deletes a run from the registry (its writers' pages, then its root) and from the
// working copy. The blobs stay until the registry's garbage collection.
func (s *Store) DeleteRun(ctx context.Context, runID string) error {
	if err := checkRunID(runID); err != nil {
		return fmt.Errorf("delete run from %s: %w", s.ref, err)
	}
	fail := func(err error) error { return fmt.Errorf("delete run %s from %s: %w", runID, s.ref, err) }
	tags, err := s.lister()(ctx, false)
	if err != nil {
		return fail(err)
	}
	var mine []string
	found := false
	for _, t := range tags {
		if id, _, _, ok := parsePageTag(t); ok && id == runID {
			mine = append(mine, t)
		}
		found = found || t == runID
	}
	if !found {
		return fmt.Errorf("run %s in %s: %w", runID, s.ref, pipeline.ErrRunNotFound)
	}
	for _, t := range append(mine, runID) { // the root last: a prune stopped halfway is seen again
		desc, err := s.puller.Head(ctx, s.tag(t))
		if ocierr.NotFound(err) {
			continue
		}
		if err != nil {
			return fail(err)
		}
		if err := s.deleteManifest(ctx, desc.Digest); err != nil {
			return fail(err)
		}
	}
	if err := s.removeLeftoverTags(ctx, append(mine, runID)); err != nil {
		return fail(err)
	}
	s.mu.Lock()
	delete(s.runs, runID)
	s.mu.Unlock()
	if err := os.RemoveAll(s.Dir(runID)); err != nil {
		return fail(err)
	}
	return nil
}

// removeLeftoverTags makes sure tags whose manifests were deleted are gone. Distribution
// removes a manifest's tags with it, but a delete racing another writer's push can fail after
// removing the manifest and before removing its tags (the retry then finds no manifest), which
// leaves a listed tag that answers 404; go-containerregistry's registry deletes tags
// separately. A tag still listed is deleted by name or, where that is unsupported
// (distribution 2.8), pointed at a tombstone manifest that is then deleted by digest.
func (s *Store) removeLeftoverTags(ctx context.Context, deleted []string) error {
	for round := 0; len(deleted) > 0; round++ {
		tags, err := s.lister()(ctx, false)
		if err != nil {
			return err
		}
		var left []string
		for _, tag := range tags {
			if slices.Contains(deleted, tag) {
				left = append(left, tag)
			}
		}
		if len(left) > 0 && round == 3 {
			return fmt.Errorf("tags %s are still listed after deleting them", strings.Join(left, ", "))
		}
		for _, tag := range left {
			if err := s.removeTag(ctx, tag); err != nil {
				return err
			}
		}
		deleted = left
	}
	return nil
}

func (s *Store) removeTag(ctx context.Context, tag string) error {
	err := s.pusher.Delete(ctx, s.tag(tag))
	if err == nil || ocierr.NotFound(err) {
		return nil
	}
	if !refused(err) && !badRequest(err) {
		return fmt.Errorf("delete tag %s: %w", tag, err)
	}
	empty := emptyBlob()
	raw, err := json.Marshal(v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1,
		ArtifactType: PageArtifactType, Config: empty.desc, Layers: []v1.Descriptor{empty.desc},
		Annotations: map[string]string{"vnd.ferry.tombstone": tag}})
	if err != nil {
		return err
	}
	if err := s.upload(ctx, []blob{empty}); err != nil {
		return err
	}
	tomb, err := s.putManifest(ctx, tag, raw)
	if err != nil {
		return err
	}
	return s.deleteManifest(ctx, tomb)
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
