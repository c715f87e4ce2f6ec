package ocistore

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/ferry-ci/ferry/internal/ocierr"
	"github.com/ferry-ci/ferry/pipeline"
)

// entry is one journal record as a writer stored it: its number in that writer's journal and
// the writer's logical clock when it was written.
type entry struct {
	Seq    int64           `json:"seq"`
	Clock  int64           `json:"clock"`
	Record json.RawMessage `json:"record"`
}

// chunk is a piece of a log file: size bytes at off.
type chunk struct {
	digest v1.Hash
	off    int64
	size   int64
}

// page is one page manifest of a writer as read from the registry.
type page struct {
	tag    string
	writer string
	num    int
	digest v1.Hash
	full   bool // the writer adds nothing more to it: cached copies stay valid
	layers []v1.Descriptor
}

// root is a run's root artifact: run.json, and in the first layout the whole journal and logs.
type root struct {
	runJSON []byte
	legacy  []entry
	logs    map[string][]chunk
}

// readCache keeps what does not change: the root, full pages and journal segments.
type readCache struct {
	root  *root
	pages map[string]*page
	segs  map[v1.Hash][]entry
}

func newReadCache() *readCache {
	return &readCache{pages: map[string]*page{}, segs: map[v1.Hash][]entry{}}
}

// remoteRun is a run as the registry has it, every writer merged.
type remoteRun struct {
	runJSON []byte
	journal []byte // records in merge order, one per line
	clock   int64  // the highest clock of any record
	logs    map[string][]chunk
	pages   []*page
}

// errPageGone is a page deleted between listing the tags and reading it (a writer folded its
// pages): the read starts again. A tag still listed after three such reads points at a deleted
// manifest (distribution can leave one behind when a delete races another writer's push): it
// is a page folded away, and the read goes on without it.
var errPageGone = errors.New("page deleted while reading")

// pageTag is the tag of page num of writer w of run id.
func pageTag(id, w string, num int) string { return fmt.Sprintf("%s_%s-%06d", id, w, num) }

// parsePageTag splits a tag into run id, writer and page number.
func parsePageTag(tag string) (id, w string, num int, ok bool) {
	id, rest, ok := strings.Cut(tag, "_")
	if !ok {
		return "", "", 0, false
	}
	w, n, ok := strings.Cut(rest, "-")
	if !ok || w == "" {
		return "", "", 0, false
	}
	num, err := strconv.Atoi(n)
	if err != nil || num < 0 {
		return "", "", 0, false
	}
	return id, w, num, true
}

// tagLister lists the repository's tags, again when asked to refresh.
type tagLister func(ctx context.Context, refresh bool) ([]string, error)

// lister lists tags once and again on refresh.
func (s *Store) lister() tagLister {
	var (
		mu   sync.Mutex
		tags []string
		done bool
	)
	return func(ctx context.Context, refresh bool) ([]string, error) {
		mu.Lock()
		defer mu.Unlock()
		if done && !refresh {
			return tags, nil
		}
		t, err := s.puller.List(ctx, s.repo)
		if err != nil && !ocierr.NotFound(err) {
			return nil, fmt.Errorf("list tags: %w", err)
		}
		tags, done = t, true
		return tags, nil
	}
}

// read reads a run from the registry: its root and every writer's pages, merged.
func (s *Store) read(ctx context.Context, id string, list tagLister, c *readCache) (*remoteRun, error) {
	for attempt := 0; ; attempt++ {
		tags, err := list(ctx, attempt > 0)
		if err != nil {
			return nil, err
		}
		r, err := s.readOnce(ctx, id, tags, c, attempt == 3)
		if errors.Is(err, errPageGone) && attempt < 3 {
			continue
		}
		return r, err
	}
}

func (s *Store) readOnce(ctx context.Context, id string, tags []string, c *readCache, skipGone bool) (*remoteRun, error) {
	found := false
	var pts []page
	for _, t := range tags {
		if t == id {
			found = true
		}
		if rid, w, num, ok := parsePageTag(t); ok && rid == id {
			pts = append(pts, page{tag: t, writer: w, num: num})
		}
	}
	if !found {
		return nil, fmt.Errorf("run %s in %s: %w", id, s.ref, pipeline.ErrRunNotFound)
	}
	if c.root == nil {
		rt, err := s.fetchRoot(ctx, id)
		if err != nil {
			return nil, err
		}
		c.root = rt
	}
	pages, err := s.fetchPages(ctx, pts, c, skipGone)
	if err != nil {
		return nil, err
	}
	if err := s.fetchSegments(ctx, pages, c); err != nil {
		return nil, err
	}
	return merge(c, pages), nil
}

// fetchRoot reads the root artifact (tag id): run.json, and the journal and logs of a run
// written in the first layout.
func (s *Store) fetchRoot(ctx context.Context, id string) (*root, error) {
	d, err := s.puller.Get(ctx, s.tag(id))
	if err != nil {
		if ocierr.NotFound(err) {
			return nil, fmt.Errorf("run %s in %s: %w", id, s.ref, pipeline.ErrRunNotFound)
		}
		return nil, fmt.Errorf("read run %s from %s: %w", id, s.ref, err)
	}
	var m v1.Manifest
	if err := json.Unmarshal(d.Manifest, &m); err != nil {
		return nil, fmt.Errorf("decode manifest of %s: %w", id, err)
	}
	if m.Config.MediaType != RunMediaType {
		return nil, fmt.Errorf("tag %s: %w (config media type %q)", id, errNotRun, m.Config.MediaType)
	}
	rt := &root{logs: map[string][]chunk{}}
	if rt.runJSON, err = s.readBlob(ctx, m.Config); err != nil {
		return nil, fmt.Errorf("read run.json of %s: %w", id, err)
	}
	s.markKnown(m.Config.Digest)
	journals := 0
	for _, l := range m.Layers {
		switch l.MediaType {
		case JournalMediaType:
			journals++
			data, err := s.readBlob(ctx, l)
			if err != nil {
				return nil, fmt.Errorf("read journal of %s: %w", id, err)
			}
			rt.legacy = legacyEntries(data)
		case LogMediaType:
			title, err := logTitle(l)
			if err != nil {
				return nil, fmt.Errorf("run %s: %w", id, err)
			}
			rt.logs[title] = append(rt.logs[title], chunk{digest: l.Digest, size: l.Size})
		}
		s.markKnown(l.Digest)
	}
	if journals > 1 || (journals == 0 && m.Annotations[layoutAnnotation] == "") {
		return nil, fmt.Errorf("run %s: %d journal layers in a run of the first layout, want 1", id, journals)
	}
	return rt, nil
}

// legacyEntries are the records of a first-layout journal: before every writer's (clock 0).
// A torn last line is dropped, as pipeline.ReplayJournal does.
func legacyEntries(data []byte) []entry {
	var out []entry
	for i := int64(1); ; i++ {
		line, rest, ok := bytes.Cut(data, []byte{'\n'})
		if !ok {
			return out
		}
		out = append(out, entry{Seq: i, Record: line})
		data = rest
	}
}

func logTitle(l v1.Descriptor) (string, error) {
	title, err := cleanTitle(l.Annotations[v1TitleAnnotation])
	if err != nil || !strings.HasPrefix(title, "logs/") {
		return "", fmt.Errorf("log layer %s has a bad title %q", l.Digest, l.Annotations[v1TitleAnnotation])
	}
	return title, nil
}

// fetchPages reads the page manifests that are not cached as full, four at a time.
func (s *Store) fetchPages(ctx context.Context, pts []page, c *readCache, skipGone bool) ([]*page, error) {
	out := make([]*page, len(pts))
	var todo []int
	for i := range pts {
		if p := c.pages[pts[i].tag]; p != nil && p.full {
			out[i] = p
		} else {
			todo = append(todo, i)
		}
	}
	err := parallel(ctx, len(todo), func(k int) error {
		p := pts[todo[k]]
		d, err := s.puller.Get(ctx, s.tag(p.tag))
		if err != nil {
			switch {
			case ocierr.NotFound(err) && skipGone:
				return nil
			case ocierr.NotFound(err):
				return errPageGone
			}
			return fmt.Errorf("read %s from %s: %w", p.tag, s.ref, err)
		}
		var m v1.Manifest
		if err := json.Unmarshal(d.Manifest, &m); err != nil || m.ArtifactType != PageArtifactType {
			return fmt.Errorf("read %s from %s: not a page of a ferry run", p.tag, s.ref)
		}
		p.digest, p.layers, p.full = d.Digest, m.Layers, m.Annotations[fullAnnotation] == "true"
		out[todo[k]] = &p
		return nil
	})
	if err != nil {
		return nil, err
	}
	kept := out[:0]
	for _, p := range out {
		if p != nil {
			kept = append(kept, p)
			c.pages[p.tag] = p
		}
	}
	return kept, nil
}

// fetchSegments reads the journal segments of the pages that are not cached.
func (s *Store) fetchSegments(ctx context.Context, pages []*page, c *readCache) error {
	var todo []v1.Descriptor
	seen := map[v1.Hash]bool{}
	for _, p := range pages {
		for _, l := range p.layers {
			if l.MediaType == SegmentMediaType && c.segs[l.Digest] == nil && !seen[l.Digest] {
				seen[l.Digest] = true
				todo = append(todo, l)
			}
		}
	}
	got := make([][]entry, len(todo))
	err := parallel(ctx, len(todo), func(k int) error {
		data, err := s.readBlob(ctx, todo[k])
		if err != nil {
			return fmt.Errorf("read journal segment %s from %s: %w", short(todo[k].Digest), s.ref, err)
		}
		es, err := decodeEntries(data)
		if err != nil {
			return fmt.Errorf("journal segment %s in %s: %w", short(todo[k].Digest), s.ref, err)
		}
		got[k] = es
		return nil
	})
	if err != nil {
		return err
	}
	for k, l := range todo {
		c.segs[l.Digest] = got[k]
		s.markKnown(l.Digest)
	}
	return nil
}

// parallel calls f(0..n-1), four at a time, and returns the first error.
func parallel(ctx context.Context, n int, f func(int) error) error {
	errs := make([]error, n)
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	for i := range n {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			errs[i] = ctx.Err()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			errs[i] = f(i)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if errors.Is(err, errPageGone) {
			return err
		}
	}
	return errors.Join(errs...)
}

func decodeEntries(data []byte) ([]entry, error) {
	var out []entry
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, maxBlob)
	for n := 1; sc.Scan(); n++ {
		var e entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil || e.Seq <= 0 || len(e.Record) == 0 {
			return nil, fmt.Errorf("line %d is not a journal entry", n)
		}
		out = append(out, e)
	}
	return out, sc.Err()
}

func encodeEntries(es []entry) ([]byte, error) {
	var buf bytes.Buffer
	for _, e := range es {
		line, err := json.Marshal(e)
		if err != nil {
			return nil, err
		}
		buf.Write(line)
		buf.WriteByte('\n')
	}
	return buf.Bytes(), nil
}

// merge puts every writer's records into one journal: each writer's records deduplicated by
// number (a writer folding its pages leaves copies for a moment), then all of them ordered by
// (clock, writer, number). The clock is causal, so a record comes after every record its writer
// had read; concurrent records are ordered by writer id, the same way on every machine.
func merge(c *readCache, pages []*page) *remoteRun {
	type keyed struct {
		writer string
		e      entry
	}
	byWriter := map[string]map[int64]entry{"": {}}
	for _, e := range c.root.legacy {
		byWriter[""][e.Seq] = e
	}
	r := &remoteRun{runJSON: c.root.runJSON, logs: map[string][]chunk{}, pages: pages}
	for t, cs := range c.root.logs {
		r.logs[t] = append(r.logs[t], cs...)
	}
	for _, p := range pages {
		if byWriter[p.writer] == nil {
			byWriter[p.writer] = map[int64]entry{}
		}
		for _, l := range p.layers {
			switch l.MediaType {
			case SegmentMediaType:
				for _, e := range c.segs[l.Digest] {
					byWriter[p.writer][e.Seq] = e
				}
			case LogMediaType:
				title, err := logTitle(l)
				if err != nil {
					continue
				}
				off, err := strconv.ParseInt(l.Annotations[offsetAnnotation], 10, 64)
				if err != nil || off < 0 {
					continue
				}
				r.logs[title] = append(r.logs[title], chunk{digest: l.Digest, off: off, size: l.Size})
			}
		}
	}
	var all []keyed
	for w, es := range byWriter {
		for _, e := range es {
			all = append(all, keyed{w, e})
			r.clock = max(r.clock, e.Clock)
		}
	}
	sort.Slice(all, func(i, j int) bool {
		a, b := all[i], all[j]
		if a.e.Clock != b.e.Clock {
			return a.e.Clock < b.e.Clock
		}
		if a.writer != b.writer {
			return a.writer < b.writer
		}
		return a.e.Seq < b.e.Seq
	})
	var buf bytes.Buffer
	for _, k := range all {
		buf.Write(k.e.Record)
		buf.WriteByte('\n')
	}
	r.journal = buf.Bytes()
	return r
}

// piece is part of a chunk that goes into an assembled log.
type piece struct {
	digest     v1.Hash
	skip, size int64
}

// assemble lays a log's chunks end to end from offset 0: at each position the chunk reaching
// furthest wins (logs only grow, so chunks that overlap agree). It stops at a gap.
func assemble(chunks []chunk) ([]piece, int64) {
	var out []piece
	var pos int64
	for {
		best := -1
		for i, c := range chunks {
			if c.off > pos || c.off+c.size <= pos {
				continue
			}
			if best < 0 || c.off+c.size > chunks[best].off+chunks[best].size ||
				(c.off+c.size == chunks[best].off+chunks[best].size && c.digest.String() < chunks[best].digest.String()) {
				best = i
			}
		}
		if best < 0 {
			return out, pos
		}
		c := chunks[best]
		out = append(out, piece{digest: c.digest, skip: pos - c.off, size: c.off + c.size - pos})
		pos = c.off + c.size
	}
}

// openPieces streams an assembled log.
func (s *Store) openPieces(ctx context.Context, pieces []piece) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() {
		for _, p := range pieces {
			rc, err := s.openBlob(ctx, p.digest)
			if err != nil {
				pw.CloseWithError(err)
				return
			}
			_, err = io.CopyN(io.Discard, rc, p.skip)
			if err == nil {
				_, err = io.CopyN(pw, rc, p.size)
			}
			rc.Close()
			if err != nil {
				pw.CloseWithError(err)
				return
			}
		}
		pw.Close()
	}()
	return pr
}
