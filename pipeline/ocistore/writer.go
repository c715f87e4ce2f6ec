package ocistore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/renameio/v2"
)

// runState is what this process knows about one run, and its own writer's pages of it.
type runState struct {
	id string

	// mu serialises reads and pushes of the run in this process.
	mu sync.Mutex
	*readCache
	loaded  bool
	journal []byte           // the merged journal as last read
	since   []byte           // records this writer pushed since then
	clock   int64            // highest clock seen or written
	seq     int64            // last record number this writer gave out
	pending []entry          // records taken from the queue, not yet in a successful push
	sent    map[string]int64 // log title -> bytes of the local file the registry has

	// This writer's pages.
	page   int             // the page being filled
	layers []v1.Descriptor // its layers in the registry
	pages  map[int]v1.Hash // every page of this writer in the registry -> its manifest
	chunks []v1.Descriptor // every log chunk this writer pushed
	mine   []entry         // every record this writer pushed
	segs   int             // segment layers over this writer's pages

	// qmu guards the queue of records waiting for a push.
	qmu     sync.Mutex
	queue   []json.RawMessage
	queued  int64 // Appends queued so far
	taken   int64 // Appends moved into pending
	pushed  int64 // Appends included in a successful push
	dropped int64 // Appends dropped with the pending records by a Load
}

func newRunState(id string) *runState {
	return &runState{id: id, readCache: newReadCache(), sent: map[string]int64{}, pages: map[int]v1.Hash{}}
}

// dropPending forgets the records whose push failed: the registry's state wins. Their numbers
// are not given out again.
func (rs *runState) dropPending() {
	rs.pending = nil
	rs.dropped = rs.taken
}

// take moves the queued records into pending, numbered, with the next clock value.
func (rs *runState) take() {
	rs.qmu.Lock()
	batch, upto := rs.queue, rs.queued
	rs.queue = nil
	rs.qmu.Unlock()
	if len(batch) == 0 {
		rs.taken = upto
		return
	}
	rs.clock++
	for _, r := range batch {
		rs.seq++
		rs.pending = append(rs.pending, entry{Seq: rs.seq, Clock: rs.clock, Record: r})
	}
	rs.taken = upto
}

// writeJournal writes the working copy's journal: the merged journal, this writer's records
// since, and the pending ones.
func (s *Store) writeJournal(rs *runState) error {
	dir := s.Dir(rs.id)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write journal of run %s: %w", rs.id, err)
	}
	data := append(append([]byte(nil), rs.journal...), rs.since...)
	for _, e := range rs.pending {
		data = append(append(data, e.Record...), '\n')
	}
	if err := renameio.WriteFile(filepath.Join(dir, "journal.jsonl"), data, 0o644); err != nil {
		return fmt.Errorf("write journal of run %s: %w", rs.id, err)
	}
	return nil
}

// push uploads this writer's pending records as one segment and the new bytes of the working
// copy's logs as chunks, then puts the page manifest that adds them and deletes the one it
// replaces. With fold, the writer's pages are replaced by one page whose single segment holds
// all its records (readers then fetch one blob, not one per append). It does nothing when there
// is nothing new.
func (s *Store) push(ctx context.Context, rs *runState, fold bool) error {
	fail := func(err error) error { return fmt.Errorf("push run %s to %s: %w", rs.id, s.ref, err) }
	fold = fold && (len(rs.pages) > 1 || rs.segs > 1) && !s.noDelete.Load()
	chunks, sent, err := s.scanLogs(rs)
	if err != nil {
		return fail(err)
	}
	if len(rs.pending) == 0 && len(chunks) == 0 && !fold {
		return nil
	}
	records := rs.pending
	if fold {
		records = append(append([]entry(nil), rs.mine...), rs.pending...)
	}
	uploads := []blob{emptyBlob()}
	var add []v1.Descriptor // the segment, if any, then the chunks
	if len(records) > 0 {
		data, err := encodeEntries(records)
		if err != nil {
			return fail(err)
		}
		seg, err := newBlob(data, SegmentMediaType)
		if err != nil {
			return fail(err)
		}
		uploads, add = append(uploads, seg), append(add, seg.desc)
	}
	for _, c := range chunks {
		uploads, add = append(uploads, c), append(add, c.desc)
	}

	num, layers, old, folded := rs.page, rs.layers, []v1.Hash{}, map[string]v1.Hash{}
	switch {
	case fold:
		// One segment, then every chunk this writer pushed before and now.
		num, layers = rs.highestPage()+1, nil
		if len(records) > 0 {
			layers, add = append(layers, add[0]), add[1:]
		}
		layers = append(layers, rs.chunks...)
		for n, h := range rs.pages {
			folded[pageTag(rs.id, s.writer, n)] = h
		}
	case len(layers) >= s.pageLayers:
		num, layers = num+1, nil
	default:
		if h, ok := rs.pages[num]; ok {
			old = append(old, h)
		}
	}
	layers = append(append([]v1.Descriptor(nil), layers...), add...)
	raw, err := s.pageManifest(rs.id, num, layers)
	if err != nil {
		return fail(err)
	}
	if err := s.upload(ctx, uploads); err != nil {
		return fail(err)
	}
	digest, err := s.putManifest(ctx, pageTag(rs.id, s.writer, num), raw)
	if err != nil {
		return fail(err)
	}

	// The registry has the records and chunks now.
	for _, c := range chunks {
		rs.chunks = append(rs.chunks, c.desc)
	}
	for _, e := range rs.pending {
		rs.since = append(append(rs.since, e.Record...), '\n')
	}
	rs.mine = append(rs.mine, rs.pending...)
	rs.pending = nil
	for t, n := range sent {
		rs.sent[t] = n
	}
	if fold {
		rs.pages, rs.segs = map[int]v1.Hash{}, 0
	}
	if len(records) > 0 {
		rs.segs++
	}
	rs.page, rs.layers, rs.pages[num] = num, layers, digest
	if err := s.deleteReplaced(ctx, old, digest); err != nil {
		return err
	}
	var gone []string
	for tag, h := range folded {
		if err := s.deleteManifest(ctx, h); err != nil {
			if errors.Is(err, errDeleteRefused) {
				return nil
			}
			return fmt.Errorf("delete folded page: %w", err)
		}
		gone = append(gone, tag)
	}
	if err := s.removeLeftoverTags(ctx, gone); err != nil {
		return fmt.Errorf("delete folded pages: %w", err)
	}
	return nil
}

// deleteReplaced deletes manifests this writer replaced. Registries that refuse deletes keep
// them untagged, which costs storage only.
func (s *Store) deleteReplaced(ctx context.Context, old []v1.Hash, current v1.Hash) error {
	for _, h := range old {
		if h == current {
			continue
		}
		if err := s.deleteManifest(ctx, h); err != nil && !errors.Is(err, errDeleteRefused) {
			return fmt.Errorf("delete replaced page: %w", err)
		}
	}
	return nil
}

func (rs *runState) highestPage() int {
	n := rs.page
	for k := range rs.pages {
		n = max(n, k)
	}
	return n
}

// pageManifest is the manifest of page num of this writer.
func (s *Store) pageManifest(id string, num int, layers []v1.Descriptor) ([]byte, error) {
	ann := map[string]string{runAnnotation: id, writerAnnotation: s.writer, pageAnnotation: strconv.Itoa(num)}
	if len(layers) >= s.pageLayers {
		ann[fullAnnotation] = "true"
	}
	return json.Marshal(v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		ArtifactType:  PageArtifactType,
		Config:        emptyBlob().desc,
		Layers:        layers,
		Annotations:   ann,
	})
}

// scanLogs finds what the logs of the working copy have beyond what the registry has: one chunk
// per grown log, and the new sizes. Logs only grow (the engine appends to them).
func (s *Store) scanLogs(rs *runState) ([]blob, map[string]int64, error) {
	var chunks []blob
	sent := map[string]int64{}
	dir := s.Dir(rs.id)
	err := filepath.WalkDir(filepath.Join(dir, "logs"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		title := filepath.ToSlash(rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		from := rs.sent[title]
		if info.Size() <= from {
			return nil
		}
		data, err := readRange(p, from, info.Size()-from)
		if err != nil {
			return err
		}
		b, err := newBlob(data, LogMediaType)
		if err != nil {
			return err
		}
		b.desc.Annotations = map[string]string{v1TitleAnnotation: title, offsetAnnotation: strconv.FormatInt(from, 10)}
		chunks = append(chunks, b)
		sent[title] = from + int64(len(data))
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("read logs: %w", err)
	}
	return chunks, sent, nil
}

func readRange(path string, off, n int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data := make([]byte, n)
	k, err := f.ReadAt(data, off)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return data[:k], nil
}

// applyRemote makes the working copy match what was read: run.json, the merged journal, and
// logs this machine lacks or has a shorter copy of (a log being written here is never replaced).
func (s *Store) applyRemote(ctx context.Context, rs *runState, r *remoteRun) error {
	dir := s.Dir(rs.id)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("pull run %s: %w", rs.id, err)
	}
	runPath := filepath.Join(dir, "run.json")
	if old, err := os.ReadFile(runPath); err != nil || !bytes.Equal(old, r.runJSON) {
		if err := renameio.WriteFile(runPath, r.runJSON, 0o644); err != nil {
			return fmt.Errorf("pull run %s: %w", rs.id, err)
		}
	}
	rs.journal, rs.since, rs.loaded = r.journal, nil, true
	rs.clock = max(rs.clock, r.clock)
	if err := s.writeJournal(rs); err != nil {
		return err
	}
	for title, cs := range r.logs {
		pieces, size := assemble(cs)
		p := filepath.Join(dir, filepath.FromSlash(title))
		if info, err := os.Stat(p); err == nil && info.Size() >= size {
			rs.sent[title] = max(rs.sent[title], size)
			continue
		}
		if err := s.download(ctx, pieces, p); err != nil {
			return fmt.Errorf("pull log %s of run %s from %s: %w", title, rs.id, s.ref, err)
		}
		rs.sent[title] = max(rs.sent[title], size)
	}
	return nil
}

// download writes an assembled log to a file atomically.
func (s *Store) download(ctx context.Context, pieces []piece, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	rc := s.openPieces(ctx, pieces)
	defer rc.Close()
	f, err := renameio.NewPendingFile(dst, renameio.WithPermissions(0o644))
	if err != nil {
		return err
	}
	defer f.Cleanup()
	if _, err := io.Copy(f, rc); err != nil {
		return err
	}
	return f.CloseAtomicallyReplace()
}
