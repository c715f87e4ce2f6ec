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
	"sort"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/renameio/v2"

	"github.com/ferry-ci/ferry/internal/ocierr"
	"github.com/ferry-ci/ferry/pipeline"
)

// Media types of Ferry's artifacts.
const (
	RunMediaType     types.MediaType = "application/vnd.ferry.run.v1+json"
	JournalMediaType types.MediaType = "application/vnd.ferry.journal.v1+jsonl"
	LogMediaType     types.MediaType = "text/plain"
	CacheMediaType   types.MediaType = "application/vnd.ferry.cache.v1+json"
	// emptyMediaType is the OCI empty descriptor ({}), the layer of artifacts that need none.
	emptyMediaType types.MediaType = "application/vnd.oci.empty.v1+json"
)

const v1TitleAnnotation = "org.opencontainers.image.title"

// maxBlob bounds the run.json, journal and cache blobs read into memory.
const maxBlob = 64 << 20

var errNotRun = errors.New("not a ferry run")

// rawManifest is a manifest to PUT as is.
type rawManifest struct {
	data []byte
	mt   types.MediaType
}

func (m rawManifest) RawManifest() ([]byte, error)        { return m.data, nil }
func (m rawManifest) MediaType() (types.MediaType, error) { return m.mt, nil }

// blob is content to upload with its descriptor.
type blob struct {
	desc v1.Descriptor
	data []byte
}

func newBlob(data []byte, mt types.MediaType) (blob, error) {
	h, n, err := v1.SHA256(bytes.NewReader(data))
	if err != nil {
		return blob{}, err
	}
	return blob{desc: v1.Descriptor{MediaType: mt, Size: n, Digest: h}, data: data}, nil
}

// artifact is a run as stored in the registry.
type artifact struct {
	digest  v1.Hash
	runJSON []byte
	journal []byte
	logs    map[string]v1.Descriptor
	blobs   []v1.Hash // every blob the manifest refers to
}

// writeJournal writes the working copy's journal: the registry's journal and the pending records.
func (s *Store) writeJournal(rs *runState) error {
	dir := s.Dir(rs.id)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write journal of run %s: %w", rs.id, err)
	}
	data := append(append([]byte(nil), rs.journal...), rs.pending...)
	if err := renameio.WriteFile(filepath.Join(dir, "journal.jsonl"), data, 0o644); err != nil {
		return fmt.Errorf("write journal of run %s: %w", rs.id, err)
	}
	return nil
}

// push uploads the run's current state (run.json, journal with pending records, logs of the
// working copy) and moves the tag, after checking that the tag is still where this process last
// saw it (absent when rs.digest is zero). It does nothing when the registry is up to date.
func (s *Store) push(ctx context.Context, rs *runState) error {
	fail := func(err error) error { return fmt.Errorf("push run %s to %s: %w", rs.id, s.ref, err) }
	cfg, err := newBlob(rs.runJSON, RunMediaType)
	if err != nil {
		return fail(err)
	}
	journal, err := newBlob(append(append([]byte(nil), rs.journal...), rs.pending...), JournalMediaType)
	if err != nil {
		return fail(err)
	}
	uploads := []blob{cfg, journal}
	logs, logUploads, stamps, err := s.scanLogs(rs)
	if err != nil {
		return fail(err)
	}
	uploads = append(uploads, logUploads...)

	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		ArtifactType:  string(RunMediaType),
		Config:        cfg.desc,
		Layers:        []v1.Descriptor{journal.desc},
	}
	titles := make([]string, 0, len(logs))
	for t := range logs {
		titles = append(titles, t)
	}
	sort.Strings(titles)
	for _, t := range titles {
		m.Layers = append(m.Layers, logs[t])
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return fail(err)
	}
	digest, _, err := v1.SHA256(bytes.NewReader(raw))
	if err != nil {
		return fail(err)
	}
	commit := func() {
		rs.digest = digest
		rs.journal = append(rs.journal, rs.pending...)
		rs.pending = nil
		rs.logs = logs
		rs.stamps = stamps
	}
	if digest == rs.digest {
		commit()
		return nil
	}

	tag := s.tag(rs.id)
	head, err := s.puller.Head(ctx, tag)
	switch {
	case err != nil && !ocierr.NotFound(err):
		return fail(err)
	case err != nil && !isZero(rs.digest):
		return fail(fmt.Errorf("%w: the run is no longer in the registry", ErrConflict))
	case err == nil && head.Digest != rs.digest:
		seen := "nothing"
		if !isZero(rs.digest) {
			seen = short(rs.digest)
		}
		return fail(fmt.Errorf("%w: the registry has %s, this process last saw %s; load the run again",
			ErrConflict, short(head.Digest), seen))
	}
	if err := s.upload(ctx, uploads); err != nil {
		return fail(err)
	}
	if err := s.pusher.Put(ctx, tag, rawManifest{raw, types.OCIManifestSchema1}); err != nil {
		return fail(err)
	}
	commit()
	return nil
}

// upload sends the blobs the repository does not have yet.
func (s *Store) upload(ctx context.Context, blobs []blob) error {
	for _, b := range blobs {
		s.mu.Lock()
		known := s.known[b.desc.Digest]
		s.mu.Unlock()
		if known {
			continue
		}
		if b.data == nil && b.desc.Size > 0 {
			return fmt.Errorf("blob %s: content not available here", b.desc.Digest)
		}
		// Upload checks whether the registry has the blob before sending it.
		if err := s.pusher.Upload(ctx, s.repo, static.NewLayer(b.data, b.desc.MediaType)); err != nil {
			return fmt.Errorf("upload %s: %w", b.desc.Digest, err)
		}
		s.markKnown(b.desc.Digest)
	}
	return nil
}

func (s *Store) markKnown(hs ...v1.Hash) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, h := range hs {
		s.known[h] = true
	}
}

// scanLogs lists the run's logs for the next manifest: every file under logs/ in the working
// copy, and the layers of the registry's manifest that this machine does not have. It returns
// the layers by title, the blobs that may need uploading and the new file stamps.
func (s *Store) scanLogs(rs *runState) (map[string]v1.Descriptor, []blob, map[string]fileStamp, error) {
	logs := map[string]v1.Descriptor{}
	for t, d := range rs.logs {
		logs[t] = d
	}
	stamps := map[string]fileStamp{}
	var uploads []blob
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
		if st, ok := rs.stamps[title]; ok && st.size == info.Size() && st.mod.Equal(info.ModTime()) {
			logs[title], stamps[title] = st.desc, st
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		b, err := newBlob(data, LogMediaType)
		if err != nil {
			return err
		}
		b.desc.Annotations = map[string]string{v1TitleAnnotation: title}
		logs[title] = b.desc
		if int64(len(data)) == info.Size() {
			stamps[title] = fileStamp{size: info.Size(), mod: info.ModTime(), desc: b.desc}
		}
		uploads = append(uploads, b)
		return nil
	})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("read logs: %w", err)
	}
	return logs, uploads, stamps, nil
}

// fetchRun reads a run's artifact: manifest, run.json and journal (not the logs).
func (s *Store) fetchRun(ctx context.Context, id string) (*artifact, error) {
	d, err := s.puller.Get(ctx, s.tag(id))
	if err != nil {
		return nil, err
	}
	var m v1.Manifest
	if err := json.Unmarshal(d.Manifest, &m); err != nil {
		return nil, fmt.Errorf("decode manifest of %s: %w", id, err)
	}
	if m.Config.MediaType != RunMediaType {
		return nil, fmt.Errorf("tag %s: %w (config media type %q)", id, errNotRun, m.Config.MediaType)
	}
	a := &artifact{digest: d.Digest, logs: map[string]v1.Descriptor{}, blobs: []v1.Hash{m.Config.Digest}}
	if a.runJSON, err = s.readBlob(ctx, m.Config); err != nil {
		return nil, fmt.Errorf("read run.json of %s: %w", id, err)
	}
	journals := 0
	for _, l := range m.Layers {
		a.blobs = append(a.blobs, l.Digest)
		switch l.MediaType {
		case JournalMediaType:
			journals++
			if a.journal, err = s.readBlob(ctx, l); err != nil {
				return nil, fmt.Errorf("read journal of %s: %w", id, err)
			}
		case LogMediaType:
			title, err := cleanTitle(l.Annotations[v1TitleAnnotation])
			if err != nil || !strings.HasPrefix(title, "logs/") {
				return nil, fmt.Errorf("run %s: log layer %s has a bad title %q", id, l.Digest, l.Annotations[v1TitleAnnotation])
			}
			a.logs[title] = l
		}
	}
	if journals != 1 {
		return nil, fmt.Errorf("run %s: %d journal layers, want 1", id, journals)
	}
	return a, nil
}

// pull downloads the registry's state of a run into the working copy and into rs; pending
// records are dropped. Logs are downloaded when this machine lacks them or has a shorter copy
// (logs only grow), so a log being written here is never replaced.
func (s *Store) pull(ctx context.Context, rs *runState) error {
	a, err := s.fetchRun(ctx, rs.id)
	if err != nil {
		if ocierr.NotFound(err) {
			return fmt.Errorf("run %s in %s: %w", rs.id, s.ref, pipeline.ErrRunNotFound)
		}
		return fmt.Errorf("pull run %s from %s: %w", rs.id, s.ref, err)
	}
	if _, err := decodeRun(rs.id, a.runJSON, a.journal); err != nil {
		return fmt.Errorf("pull run %s from %s: %w", rs.id, s.ref, err)
	}
	s.markKnown(a.blobs...)
	dir := s.Dir(rs.id)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("pull run %s: %w", rs.id, err)
	}
	runPath := filepath.Join(dir, "run.json")
	if old, err := os.ReadFile(runPath); err != nil || !bytes.Equal(old, a.runJSON) {
		if err := renameio.WriteFile(runPath, a.runJSON, 0o644); err != nil {
			return fmt.Errorf("pull run %s: %w", rs.id, err)
		}
	}
	rs.dropPending()
	rs.digest, rs.runJSON, rs.journal, rs.logs = a.digest, a.runJSON, a.journal, a.logs
	if err := s.writeJournal(rs); err != nil {
		return err
	}
	if rs.stamps == nil {
		rs.stamps = map[string]fileStamp{}
	}
	for title, l := range a.logs {
		p := filepath.Join(dir, filepath.FromSlash(title))
		if info, err := os.Stat(p); err == nil && info.Size() >= l.Size {
			continue
		}
		if err := s.download(ctx, l.Digest, p); err != nil {
			return fmt.Errorf("pull log %s of run %s from %s: %w", title, rs.id, s.ref, err)
		}
		if info, err := os.Stat(p); err == nil {
			rs.stamps[title] = fileStamp{size: info.Size(), mod: info.ModTime(), desc: l}
		}
	}
	return nil
}

// download writes a blob to a file atomically.
func (s *Store) download(ctx context.Context, h v1.Hash, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	rc, err := s.openBlob(ctx, h)
	if err != nil {
		return err
	}
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

// openBlob streams a blob, verifying its digest at the end.
func (s *Store) openBlob(ctx context.Context, h v1.Hash) (io.ReadCloser, error) {
	l, err := s.puller.Layer(ctx, s.repo.Digest(h.String()))
	if err != nil {
		return nil, err
	}
	return l.Compressed()
}

// readBlob reads a small blob into memory.
func (s *Store) readBlob(ctx context.Context, d v1.Descriptor) ([]byte, error) {
	if d.Size > maxBlob {
		return nil, fmt.Errorf("blob %s is %d bytes, more than %d", d.Digest, d.Size, maxBlob)
	}
	rc, err := s.openBlob(ctx, d.Digest)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, maxBlob+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxBlob {
		return nil, fmt.Errorf("blob %s is more than %d bytes", d.Digest, maxBlob)
	}
	return data, nil
}

func short(h v1.Hash) string {
	if len(h.Hex) > 12 {
		return h.Algorithm + ":" + h.Hex[:12]
	}
	return h.String()
}
