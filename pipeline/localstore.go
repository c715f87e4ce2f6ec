package pipeline

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gofrs/flock"
	"github.com/google/renameio/v2"
)

// LocalStore keeps runs in a folder (by default .ferry/ in the repository):
//
//	runs/<id>/run.json       the run as created, written once atomically
//	runs/<id>/journal.jsonl  one Record per line, appended and fsynced (group commit)
//	runs/<id>/logs/...       stage logs
//	runs/<id>/work/...       stage files (image layouts, reports)
//	cache/<stage>/<digest>.json
//	locks/<name>/<ticket>    first-come-first-served lock queues
//
// A crash at any moment leaves a readable journal: a torn last line is ignored on load and cut
// off before the next append.
type LocalStore struct {
	root string

	mu       sync.Mutex
	journals map[string]*journal
	// AfterAppend, when set, is called after each durable append with the number of appends
	// so far in this process. Crash tests use it to stop the process at every boundary.
	AfterAppend func(n int)
	// BeforeAppend, when set, sees each batch of records before it is written: the crash tests
	// kill the process there, between a stage's side effect and its journal record.
	BeforeAppend func(recs []Record)
	appends      int
}

var _ Store = (*LocalStore)(nil)

// NewLocalStore opens (creating) a store folder. The folder ignores itself in git.
func NewLocalStore(root string) (*LocalStore, error) {
	for _, d := range []string{"runs", "cache", "locks"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return nil, fmt.Errorf("create store %s: %w", root, err)
		}
	}
	if err := IgnoreInGit(root); err != nil {
		return nil, fmt.Errorf("create store %s: %w", root, err)
	}
	return &LocalStore{root: root, journals: map[string]*journal{}}, nil
}

// IgnoreInGit makes a folder of Ferry's (a store, .ferry) ignore itself in git: an untracked
// file would make the work tree dirty, which Go stamps into the binaries it builds.
func IgnoreInGit(dir string) error {
	ignore := filepath.Join(dir, ".gitignore")
	if _, err := os.Stat(ignore); !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return os.WriteFile(ignore, []byte("# Ferry's run store: not for version control\n*\n"), 0o644)
}

// Root is the store's folder.
func (s *LocalStore) Root() string { return s.root }

// Dir is the folder of a run.
func (s *LocalStore) Dir(runID string) string { return filepath.Join(s.root, "runs", runID) }

func validRunID(id string) error {
	if id == "" || strings.ContainsAny(id, `/\`) || id == "." || id == ".." {
		return fmt.Errorf("invalid run id %q", id)
	}
	return nil
}

// Create writes the run's record atomically and an empty journal.
func (s *LocalStore) Create(ctx context.Context, run *Run) error {
	if err := validRunID(run.ID); err != nil {
		return err
	}
	dir := s.Dir(run.ID)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create run %s: %w", run.ID, err)
	}
	data, err := json.MarshalIndent(run, "", "  ")
	if err != nil {
		return fmt.Errorf("encode run %s: %w", run.ID, err)
	}
	if err := renameio.WriteFile(filepath.Join(dir, "run.json"), append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("write run %s: %w", run.ID, err)
	}
	return nil
}

// Append adds records to the run's journal and returns once they are on disk.
func (s *LocalStore) Append(ctx context.Context, runID string, recs ...Record) error {
	if s.BeforeAppend != nil {
		s.BeforeAppend(recs)
	}
	j, err := s.journal(runID)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	for _, r := range recs {
		line, err := json.Marshal(r)
		if err != nil {
			return fmt.Errorf("encode journal record: %w", err)
		}
		buf.Write(line)
		buf.WriteByte('\n')
	}
	if err := j.append(buf.Bytes()); err != nil {
		return fmt.Errorf("append to journal of run %s: %w", runID, err)
	}
	if recs[len(recs)-1].Released {
		s.forget(runID, j) // the run stopped executing: no more appends from this process
	}
	if s.AfterAppend != nil {
		s.mu.Lock()
		s.appends++
		n := s.appends
		s.mu.Unlock()
		s.AfterAppend(n)
	}
	return nil
}

func (s *LocalStore) journal(runID string) (*journal, error) {
	if err := validRunID(runID); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if j := s.journals[runID]; j != nil {
		return j, nil
	}
	path := filepath.Join(s.Dir(runID), "journal.jsonl")
	if _, err := os.Stat(filepath.Join(s.Dir(runID), "run.json")); err != nil {
		return nil, fmt.Errorf("run %s: %w", runID, ErrRunNotFound)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open journal of run %s: %w", runID, err)
	}
	if err := cutTornTail(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("repair journal of run %s: %w", runID, err)
	}
	j := &journal{f: f}
	j.cond = sync.NewCond(&j.mu)
	s.journals[runID] = j
	return j, nil
}

// forget closes a run's journal file.
func (s *LocalStore) forget(runID string, j *journal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.journals[runID] == j {
		delete(s.journals, runID)
		j.mu.Lock()
		j.f.Close()
		j.mu.Unlock()
	}
}

// cutTornTail truncates a journal after its last complete line (a crash during a write can
// leave half a line) and positions the file for appending.
func cutTornTail(f *os.File) error {
	data, err := io.ReadAll(f)
	if err != nil {
		return err
	}
	good := int64(bytes.LastIndexByte(data, '\n') + 1)
	if good != int64(len(data)) {
		if err := f.Truncate(good); err != nil {
			return err
		}
		if err := f.Sync(); err != nil {
			return err
		}
	}
	_, err = f.Seek(good, io.SeekStart)
	return err
}

// journal appends with group commit: concurrent appenders share one write and one fsync.
type journal struct {
	mu      sync.Mutex
	cond    *sync.Cond
	f       *os.File
	pending []byte
	queued  int64 // appends queued so far
	synced  int64 // appends on disk
	busy    bool
	err     error
}

func (j *journal) append(data []byte) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.pending = append(j.pending, data...)
	j.queued++
	mine := j.queued
	for j.synced < mine {
		if j.err != nil {
			return j.err
		}
		if j.busy {
			j.cond.Wait()
			continue
		}
		j.busy = true
		batch, upto := j.pending, j.queued
		j.pending = nil
		j.mu.Unlock()
		_, err := j.f.Write(batch)
		if err == nil {
			err = j.f.Sync()
		}
		j.mu.Lock()
		j.busy = false
		if err != nil {
			j.err = err
		} else {
			j.synced = upto
		}
		j.cond.Broadcast()
	}
	return j.err
}

// Load reads a run's record and replays its journal.
func (s *LocalStore) Load(ctx context.Context, runID string) (*Run, error) {
	if err := validRunID(runID); err != nil {
		return nil, err
	}
	dir := s.Dir(runID)
	data, err := os.ReadFile(filepath.Join(dir, "run.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("run %s: %w", runID, ErrRunNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read run %s: %w", runID, err)
	}
	run := &Run{}
	if err := json.Unmarshal(data, run); err != nil {
		return nil, fmt.Errorf("decode run %s: %w", runID, err)
	}
	f, err := os.Open(filepath.Join(dir, "journal.jsonl"))
	if errors.Is(err, os.ErrNotExist) {
		return run, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read journal of run %s: %w", runID, err)
	}
	defer f.Close()
	if err := ReplayJournal(run, f); err != nil {
		return nil, fmt.Errorf("run %s: %w", runID, err)
	}
	return run, nil
}

// ReplayJournal applies every complete line of a journal to the run. A torn last line (no
// newline) is what a crash during an append leaves and is ignored; a bad line elsewhere is
// corruption and an error.
func ReplayJournal(run *Run, r io.Reader) error {
	br := bufio.NewReader(r)
	for n := 1; ; n++ {
		line, err := br.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			return nil // a partial last line is dropped
		}
		if err != nil {
			return fmt.Errorf("read journal: %w", err)
		}
		var rec Record
		if err := json.Unmarshal(line, &rec); err != nil {
			return fmt.Errorf("journal line %d: %w", n, err)
		}
		if err := run.Apply(rec); err != nil {
			return fmt.Errorf("journal line %d: %w", n, err)
		}
	}
}

// List loads every run, newest first. Runs that cannot be read are skipped.
func (s *LocalStore) List(ctx context.Context) ([]*Run, error) {
	entries, err := os.ReadDir(filepath.Join(s.root, "runs"))
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	var runs []*Run
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		run, err := s.Load(ctx, e.Name())
		if err != nil {
			continue
		}
		runs = append(runs, run)
	}
	sort.Slice(runs, func(i, j int) bool { return runs[i].ID > runs[j].ID })
	return runs, nil
}

// Sync is a no-op: everything is on local disk already.
func (s *LocalStore) Sync(ctx context.Context, runID string) error { return nil }

// OpenLog opens a log inside the run's folder.
func (s *LocalStore) OpenLog(ctx context.Context, runID, rel string) (io.ReadCloser, error) {
	if err := validRunID(runID); err != nil {
		return nil, err
	}
	clean := filepath.Clean(filepath.FromSlash(rel))
	if filepath.IsAbs(clean) || strings.HasPrefix(clean, "..") {
		return nil, fmt.Errorf("invalid log path %q", rel)
	}
	return os.Open(filepath.Join(s.Dir(runID), clean))
}

// LookupCache reads a cache entry.
func (s *LocalStore) LookupCache(ctx context.Context, stage, digest string) (*CacheEntry, error) {
	data, err := os.ReadFile(s.cachePath(stage, digest))
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrCacheMiss
	}
	if err != nil {
		return nil, fmt.Errorf("read cache: %w", err)
	}
	var e CacheEntry
	if err := json.Unmarshal(data, &e); err != nil {
		return nil, ErrCacheMiss // a damaged entry is only a miss
	}
	return &e, nil
}

// SaveCache writes a cache entry atomically.
func (s *LocalStore) SaveCache(ctx context.Context, e CacheEntry) error {
	path := s.cachePath(e.Stage, e.Digest)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("write cache: %w", err)
	}
	data, err := json.Marshal(e)
	if err != nil {
		return err
	}
	if err := renameio.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("write cache: %w", err)
	}
	return s.saveLatest(e, data)
}

func (s *LocalStore) cachePath(stage, digest string) string {
	return filepath.Join(s.root, "cache", stage, strings.TrimPrefix(digest, "sha256:")+".json")
}

// Lock takes a named lock with a first-come-first-served queue of ticket files. Each waiter
// holds an flock on its own ticket for as long as it lives, so a ticket whose flock can be
// taken belongs to a process that died and is removed.
func (s *LocalStore) Lock(ctx context.Context, name, holder string, onWait func(heldBy string)) (func() error, error) {
	dir := filepath.Join(s.root, "locks", name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("lock %s: %w", name, err)
	}
	ticket, mine, err := newTicket(dir, holder)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", name, err)
	}
	path := filepath.Join(dir, ticket)
	release := func() error {
		rmErr := os.Remove(path)
		return errors.Join(rmErr, mine.Close())
	}
	waitedFor := ""
	for {
		ahead, err := liveTicketAhead(dir, ticket)
		if err != nil {
			release()
			return nil, fmt.Errorf("lock %s: %w", name, err)
		}
		if ahead == "" {
			return release, nil
		}
		if ahead != waitedFor && onWait != nil {
			heldBy, _ := os.ReadFile(filepath.Join(dir, ahead))
			onWait(string(heldBy))
		}
		waitedFor = ahead
		select {
		case <-ctx.Done():
			release()
			return nil, fmt.Errorf("waiting for lock %s: %w", name, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// newTicket adds the next ticket to a queue and returns it locked. Tickets are numbered and
// created under the queue's own flock, and locked before that flock is released, so a ticket
// is never seen unlocked while its owner lives, and no later ticket can get a smaller number.
func newTicket(dir, holder string) (string, *flock.Flock, error) {
	q := flock.New(filepath.Join(dir, ".queue"))
	if err := q.Lock(); err != nil {
		return "", nil, err
	}
	defer q.Close()
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", nil, err
	}
	var last uint64
	for _, e := range entries {
		var n uint64
		if _, err := fmt.Sscanf(e.Name(), "%d", &n); err == nil && n > last {
			last = n
		}
	}
	ticket := fmt.Sprintf("%020d", last+1)
	path := filepath.Join(dir, ticket)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return "", nil, err
	}
	_, werr := f.WriteString(holder)
	if err := errors.Join(werr, f.Close()); err != nil {
		os.Remove(path)
		return "", nil, err
	}
	lock := flock.New(path)
	if ok, err := lock.TryLock(); err != nil || !ok {
		os.Remove(path)
		return "", nil, fmt.Errorf("cannot lock ticket %s: %v", path, err)
	}
	return ticket, lock, nil
}

// ticketAlive reports whether a ticket's owner still holds it; the ticket of a dead owner is
// removed. The removal happens under the queue's flock, when no ticket can be between its
// creation and its locking.
func ticketAlive(dir, name string) (bool, error) {
	other := flock.New(filepath.Join(dir, name), flock.SetFlag(os.O_RDONLY))
	defer other.Close()
	held := func() (bool, error) {
		ok, err := other.TryLock()
		switch {
		case errors.Is(err, os.ErrNotExist):
			return false, nil // released meanwhile
		case err != nil:
			return false, err
		case ok:
			return false, other.Unlock()
		}
		return true, nil
	}
	if alive, err := held(); alive || err != nil {
		return alive, err
	}
	// Unlocked: its owner is dead, or is creating it right now under the queue's flock.
	q := flock.New(filepath.Join(dir, ".queue"))
	if err := q.Lock(); err != nil {
		return false, err
	}
	defer q.Close()
	if alive, err := held(); alive || err != nil {
		return alive, err
	}
	if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return false, err
	}
	return false, nil
}

// liveTicketAhead returns the oldest ticket before mine whose owner is alive, removing the
// tickets of dead owners on the way.
func liveTicketAhead(dir, mine string) (string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	for _, n := range names {
		if strings.HasPrefix(n, ".") {
			continue
		}
		if n >= mine {
			return "", nil
		}
		alive, err := ticketAlive(dir, n)
		if err != nil {
			return "", err
		}
		if alive {
			return n, nil
		}
	}
	return "", nil
}

// DeleteRun removes a run's folder: its record, journal, logs and work files.
func (s *LocalStore) DeleteRun(ctx context.Context, runID string) error {
	if err := validRunID(runID); err != nil {
		return err
	}
	dir := s.Dir(runID)
	if _, err := os.Stat(filepath.Join(dir, "run.json")); errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("run %s: %w", runID, ErrRunNotFound)
	}
	s.mu.Lock()
	if j := s.journals[runID]; j != nil {
		delete(s.journals, runID)
		j.mu.Lock()
		j.f.Close()
		j.mu.Unlock()
	}
	s.mu.Unlock()
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("delete run %s: %w", runID, err)
	}
	return nil
}
