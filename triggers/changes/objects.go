package changes

import (
	"bytes"
	"compress/zlib"
	"container/list"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
)

// objectReader reads objects from a repository's object directory: pack files first, then
// loose objects, then the object directories it borrows from (objects/info/alternates, as
// written by git clone --shared).
//
// It exists because go-git's own pack access is too slow for one short diff per process: its
// first lookup decodes the whole .idx into memory and builds an offset→hash map of every
// object in the pack (~376k entries in the benchmark monorepo), which alone costs tens of
// milliseconds. Here the .idx and .pack files are mapped and searched in place, as git does,
// so a process pays only for the handful of objects a diff touches.
type objectReader struct {
	objectsDir string
	packs      []*pack
	listed     bool
	zr         io.ReadCloser // reused zlib reader: its window is the expensive allocation
	br         bytes.Reader
	cache      *deltaCache
	depth      int             // how many alternates away from the repository this is
	alternates []*objectReader // nil until loaded
}

// maxAlternateDepth is git's limit on chains of alternates.
const maxAlternateDepth = 5

// Object types as stored in a pack; the first four are also plumbing.ObjectType values.
const (
	objCommit   = 1
	objTree     = 2
	objBlob     = 3
	objTag      = 4
	objOFSDelta = 6
	objREFDelta = 7
)

// errMissing is returned when an object is nowhere: in no pack, not loose, not in an alternate.
var errMissing = errors.New("object missing")

func newObjectReader(objectsDir string) *objectReader {
	return &objectReader{objectsDir: objectsDir, cache: newDeltaCache(64 << 20)}
}

// loadAlternates reads objects/info/alternates: one objects directory per line, relative to
// this one unless absolute; # starts a comment.
func (r *objectReader) loadAlternates() error {
	r.alternates = []*objectReader{}
	if r.depth >= maxAlternateDepth {
		return nil
	}
	data, err := os.ReadFile(filepath.Join(r.objectsDir, "info", "alternates"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for line := range strings.Lines(string(data)) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, `"`) {
			if line, err = strconv.Unquote(line); err != nil {
				return fmt.Errorf("objects/info/alternates: %q: %w", line, err)
			}
		}
		if !filepath.IsAbs(line) {
			line = filepath.Join(r.objectsDir, line)
		}
		alt := newObjectReader(line)
		alt.depth = r.depth + 1
		r.alternates = append(r.alternates, alt)
	}
	return nil
}

// pack is one mapped pack and its version 2 index.
type pack struct {
	name      string
	idx, data []byte
	unmapIdx  func() error
	unmapData func() error
	count     int
}

func (r *objectReader) listPacks() error {
	r.listed = true
	dir := filepath.Join(r.objectsDir, "pack")
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	known := map[string]bool{}
	for _, p := range r.packs {
		known[p.name] = true
	}
	for _, e := range entries {
		base, ok := strings.CutSuffix(e.Name(), ".idx")
		if !ok || !strings.HasPrefix(base, "pack-") || known[base] {
			continue
		}
		p, err := openPack(filepath.Join(dir, base))
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed by a concurrent repack between ReadDir and open
		}
		if err != nil {
			return err
		}
		r.packs = append(r.packs, p)
	}
	return nil
}

func openPack(base string) (p *pack, err error) {
	p = &pack{name: filepath.Base(base)}
	defer func() {
		if err != nil {
			err = errors.Join(err, p.close())
		}
	}()
	if p.idx, p.unmapIdx, err = mapFile(base + ".idx"); err != nil {
		return nil, err
	}
	if p.data, p.unmapData, err = mapFile(base + ".pack"); err != nil {
		return nil, err
	}
	idx := p.idx
	if len(idx) < 8+256*4+40 || !bytes.Equal(idx[:8], []byte{0xff, 't', 'O', 'c', 0, 0, 0, 2}) {
		return nil, fmt.Errorf("%s.idx: not a version 2 pack index", base)
	}
	p.count = int(binary.BigEndian.Uint32(idx[8+255*4:]))
	if len(idx) < 8+256*4+p.count*28+40 {
		return nil, fmt.Errorf("%s.idx: truncated", base)
	}
	if len(p.data) < 12 || string(p.data[:4]) != "PACK" {
		return nil, fmt.Errorf("%s.pack: not a pack file", base)
	}
	return p, nil
}

func (p *pack) close() error {
	var errs []error
	if p.unmapIdx != nil {
		errs = append(errs, p.unmapIdx())
	}
	if p.unmapData != nil {
		errs = append(errs, p.unmapData())
	}
	return errors.Join(errs...)
}

// fanout is the number of objects whose first byte is at most b.
func (p *pack) fanout(b int) int {
	if b < 0 {
		return 0
	}
	return int(binary.BigEndian.Uint32(p.idx[8+b*4:]))
}

func (p *pack) nameAt(i int) []byte {
	o := 8 + 256*4 + i*20
	return p.idx[o : o+20]
}

// find returns the pack offset of h, or -1.
func (p *pack) find(h plumbing.Hash) int64 {
	lo, hi := p.fanout(int(h[0])-1), p.fanout(int(h[0]))
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		switch c := bytes.Compare(p.nameAt(mid), h[:]); {
		case c == 0:
			return p.offsetAt(mid)
		case c < 0:
			lo = mid + 1
		default:
			hi = mid
		}
	}
	return -1
}

func (p *pack) offsetAt(i int) int64 {
	base := 8 + 256*4 + p.count*24
	o := binary.BigEndian.Uint32(p.idx[base+i*4:])
	if o&0x80000000 == 0 {
		return int64(o)
	}
	large := base + p.count*4 + int(o&0x7fffffff)*8
	if large+8 > len(p.idx)-40 {
		return -1
	}
	return int64(binary.BigEndian.Uint64(p.idx[large:]))
}

// withPrefix appends the names in the pack that start with the hex prefix.
func (p *pack) withPrefix(prefix string, out []plumbing.Hash) []plumbing.Hash {
	lo, hi := prefixRange(prefix)
	first := p.fanout(int(lo[0]) - 1)
	last := p.fanout(int(lo[0]))
	i := first + sort.Search(last-first, func(k int) bool { return bytes.Compare(p.nameAt(first+k), lo[:]) >= 0 })
	for ; i < last && bytes.Compare(p.nameAt(i), hi[:]) <= 0; i++ {
		var h plumbing.Hash
		copy(h[:], p.nameAt(i))
		out = append(out, h)
	}
	return out
}

// prefixRange returns the smallest and largest hash that start with the hex prefix.
func prefixRange(prefix string) (lo, hi plumbing.Hash) {
	full := func(pad byte) plumbing.Hash {
		var h plumbing.Hash
		s := prefix + strings.Repeat(string(pad), 40-len(prefix))
		hex.Decode(h[:], []byte(s))
		return h
	}
	return full('0'), full('f')
}

// read returns the type (objCommit...objTag) and content of an object; errMissing if absent.
func (r *objectReader) read(h plumbing.Hash) (int, []byte, error) {
	if !r.listed {
		if err := r.listPacks(); err != nil {
			return 0, nil, err
		}
	}
	for retried := false; ; retried = true {
		for i, p := range r.packs {
			if off := p.find(h); off >= 0 {
				if i > 0 {
					// Most-recently-used first: a diff reads its objects from one pack.
					copy(r.packs[1:i+1], r.packs[:i])
					r.packs[0] = p
				}
				return r.readPacked(p, off)
			}
		}
		typ, data, err := r.readLoose(h)
		if !errors.Is(err, errMissing) {
			return typ, data, err
		}
		if retried {
			return r.readAlternate(h)
		}
		// A concurrent gc may have packed the loose object since the packs were listed.
		if err := r.listPacks(); err != nil {
			return 0, nil, err
		}
	}
}

func (r *objectReader) readAlternate(h plumbing.Hash) (int, []byte, error) {
	if r.alternates == nil {
		if err := r.loadAlternates(); err != nil {
			return 0, nil, err
		}
	}
	for _, alt := range r.alternates {
		typ, data, err := alt.read(h)
		if !errors.Is(err, errMissing) {
			return typ, data, err
		}
	}
	return 0, nil, fmt.Errorf("%s: %w", h, errMissing)
}

// prefixed returns the objects whose hex name starts with prefix.
func (r *objectReader) prefixed(prefix string) ([]plumbing.Hash, error) {
	if !r.listed {
		if err := r.listPacks(); err != nil {
			return nil, err
		}
	}
	var out []plumbing.Hash
	for _, p := range r.packs {
		out = p.withPrefix(prefix, out)
	}
	entries, err := os.ReadDir(filepath.Join(r.objectsDir, prefix[:2]))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	for _, e := range entries {
		if name := prefix[:2] + e.Name(); len(name) == 40 && strings.HasPrefix(name, prefix) {
			out = append(out, plumbing.NewHash(name))
		}
	}
	if r.alternates == nil {
		if err := r.loadAlternates(); err != nil {
			return nil, err
		}
	}
	for _, alt := range r.alternates {
		more, err := alt.prefixed(prefix)
		if err != nil {
			return nil, err
		}
		out = append(out, more...)
	}
	slices.SortFunc(out, func(a, b plumbing.Hash) int { return bytes.Compare(a[:], b[:]) })
	return slices.Compact(out), nil
}

func (r *objectReader) readLoose(h plumbing.Hash) (int, []byte, error) {
	s := h.String()
	raw, err := os.ReadFile(filepath.Join(r.objectsDir, s[:2], s[2:]))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil, errMissing
	}
	if err != nil {
		return 0, nil, err
	}
	data, err := r.inflate(raw, -1)
	if err != nil {
		return 0, nil, fmt.Errorf("loose object %s: %w", s, err)
	}
	hdr, body, ok := bytes.Cut(data, []byte{0})
	if !ok {
		return 0, nil, fmt.Errorf("loose object %s: no header", s)
	}
	typName, size, _ := strings.Cut(string(hdr), " ")
	typ := map[string]int{"commit": objCommit, "tree": objTree, "blob": objBlob, "tag": objTag}[typName]
	if n, err := strconv.Atoi(size); err != nil || n != len(body) || typ == 0 {
		return 0, nil, fmt.Errorf("loose object %s: bad header %q", s, hdr)
	}
	return typ, body, nil
}

// inflate decompresses a zlib stream; size is the expected length, or -1 when unknown.
func (r *objectReader) inflate(src []byte, size int64) ([]byte, error) {
	r.br.Reset(src)
	if r.zr == nil {
		zr, err := zlib.NewReader(&r.br)
		if err != nil {
			return nil, err
		}
		r.zr = zr
	} else if err := r.zr.(zlib.Resetter).Reset(&r.br, nil); err != nil {
		return nil, err
	}
	if size < 0 {
		return io.ReadAll(r.zr)
	}
	out := make([]byte, size)
	if _, err := io.ReadFull(r.zr, out); err != nil {
		return nil, err
	}
	return out, nil
}

// header decodes the object header at off: type, inflated size, where the zlib data starts
// and, for deltas, the base.
func (p *pack) header(off int64) (typ int, size int64, dataOff int64, baseOff int64, baseRef plumbing.Hash, err error) {
	d := p.data
	if off < 12 || off >= int64(len(d)) {
		return 0, 0, 0, 0, baseRef, fmt.Errorf("offset %d outside pack", off)
	}
	i := off
	c := d[i]
	i++
	typ = int(c>>4) & 7
	size = int64(c & 15)
	for shift := 4; c&0x80 != 0; shift += 7 {
		if i >= int64(len(d)) || shift > 60 {
			return 0, 0, 0, 0, baseRef, fmt.Errorf("bad object header at %d", off)
		}
		c = d[i]
		i++
		size |= int64(c&0x7f) << shift
	}
	switch typ {
	case objOFSDelta:
		if i >= int64(len(d)) {
			return 0, 0, 0, 0, baseRef, fmt.Errorf("bad delta header at %d", off)
		}
		c = d[i]
		i++
		rel := int64(c & 0x7f)
		for c&0x80 != 0 {
			if i >= int64(len(d)) || rel > 1<<55 {
				return 0, 0, 0, 0, baseRef, fmt.Errorf("bad delta offset at %d", off)
			}
			c = d[i]
			i++
			rel = (rel+1)<<7 | int64(c&0x7f)
		}
		baseOff = off - rel
		if baseOff < 12 || rel == 0 {
			return 0, 0, 0, 0, baseRef, fmt.Errorf("bad delta base at %d", off)
		}
	case objREFDelta:
		if i+20 > int64(len(d)) {
			return 0, 0, 0, 0, baseRef, fmt.Errorf("bad delta header at %d", off)
		}
		copy(baseRef[:], d[i:i+20])
		i += 20
	case objCommit, objTree, objBlob, objTag:
	default:
		return 0, 0, 0, 0, baseRef, fmt.Errorf("bad object type %d at %d", typ, off)
	}
	return typ, size, i, baseOff, baseRef, nil
}

// readPacked reads the object at off, applying its chain of deltas. The chain is followed
// down to a base that is whole or cached, then the deltas are applied on the way back up;
// every intermediate result is cached because neighbouring commits share their chains.
func (r *objectReader) readPacked(p *pack, off int64) (int, []byte, error) {
	type link struct {
		off   int64
		delta []byte
	}
	var chain []link
	var typ int
	var data []byte
	for {
		if t, d, ok := r.cache.get(p, off); ok {
			typ, data = t, d
			break
		}
		t, size, dataOff, baseOff, baseRef, err := p.header(off)
		if err != nil {
			return 0, nil, fmt.Errorf("%s: %w", p.name, err)
		}
		raw, err := r.inflate(p.data[dataOff:], size)
		if err != nil {
			return 0, nil, fmt.Errorf("%s: object at %d: %w", p.name, off, err)
		}
		if t == objOFSDelta || t == objREFDelta {
			chain = append(chain, link{off, raw})
		}
		if t == objOFSDelta {
			off = baseOff
			continue
		}
		if t == objREFDelta {
			// The base may be anywhere, even in another pack (a thin pack made whole).
			if typ, data, err = r.read(baseRef); err != nil {
				return 0, nil, fmt.Errorf("%s: delta base %s: %w", p.name, baseRef, err)
			}
			break
		}
		typ, data = t, raw
		if len(chain) > 0 {
			r.cache.put(p, off, typ, data)
		}
		break
	}
	for i := len(chain) - 1; i >= 0; i-- {
		var err error
		if data, err = applyDelta(data, chain[i].delta); err != nil {
			return 0, nil, fmt.Errorf("%s: object at %d: %w", p.name, chain[i].off, err)
		}
		if i > 0 {
			r.cache.put(p, chain[i].off, typ, data)
		}
	}
	return typ, data, nil
}

// errBadDelta is shared: applyDelta runs for every object in a chain, and allocating its
// error up front showed in profiles.
var errBadDelta = errors.New("corrupt delta")

// applyDelta applies a git delta (copy and insert instructions) to base.
func applyDelta(base, delta []byte) ([]byte, error) {
	errBad := errBadDelta
	varint := func() (int, bool) {
		v, shift := 0, 0
		for len(delta) > 0 && shift < 63 {
			c := delta[0]
			delta = delta[1:]
			v |= int(c&0x7f) << shift
			if c&0x80 == 0 {
				return v, true
			}
			shift += 7
		}
		return 0, false
	}
	srcSize, ok1 := varint()
	dstSize, ok2 := varint()
	if !ok1 || !ok2 || srcSize != len(base) {
		return nil, errBad
	}
	out := make([]byte, 0, dstSize)
	for len(delta) > 0 {
		op := delta[0]
		delta = delta[1:]
		switch {
		case op&0x80 != 0: // copy from base
			var off, n int
			for i := range 4 {
				if op&(1<<i) != 0 {
					if len(delta) == 0 {
						return nil, errBad
					}
					off |= int(delta[0]) << (8 * i)
					delta = delta[1:]
				}
			}
			for i := range 3 {
				if op&(0x10<<i) != 0 {
					if len(delta) == 0 {
						return nil, errBad
					}
					n |= int(delta[0]) << (8 * i)
					delta = delta[1:]
				}
			}
			if n == 0 {
				n = 0x10000
			}
			if off+n > len(base) || len(out)+n > dstSize {
				return nil, errBad
			}
			out = append(out, base[off:off+n]...)
		case op != 0: // insert the next op bytes
			n := int(op)
			if n > len(delta) || len(out)+n > dstSize {
				return nil, errBad
			}
			out = append(out, delta[:n]...)
			delta = delta[n:]
		default:
			return nil, errBad
		}
	}
	if len(out) != dstSize {
		return nil, errBad
	}
	return out, nil
}

func (r *objectReader) close() error {
	var errs []error
	for _, p := range r.packs {
		errs = append(errs, p.close())
	}
	for _, alt := range r.alternates {
		errs = append(errs, alt.close())
	}
	r.packs = nil
	if r.zr != nil {
		errs = append(errs, r.zr.Close())
		r.zr = nil
	}
	return errors.Join(errs...)
}

// deltaCache keeps inflated delta bases, least recently used first out, up to a byte budget.
type deltaCache struct {
	budget, used int
	order        *list.List
	items        map[cacheKey]*list.Element
}

type cacheKey struct {
	p   *pack
	off int64
}

type cacheItem struct {
	key  cacheKey
	typ  int
	data []byte
}

func newDeltaCache(budget int) *deltaCache {
	return &deltaCache{budget: budget, order: list.New(), items: map[cacheKey]*list.Element{}}
}

func (c *deltaCache) get(p *pack, off int64) (int, []byte, bool) {
	e, ok := c.items[cacheKey{p, off}]
	if !ok {
		return 0, nil, false
	}
	c.order.MoveToFront(e)
	it := e.Value.(*cacheItem)
	return it.typ, it.data, true
}

func (c *deltaCache) put(p *pack, off int64, typ int, data []byte) {
	k := cacheKey{p, off}
	if _, ok := c.items[k]; ok || len(data) > c.budget/4 {
		return
	}
	c.items[k] = c.order.PushFront(&cacheItem{k, typ, data})
	c.used += len(data)
	for c.used > c.budget {
		e := c.order.Back()
		it := e.Value.(*cacheItem)
		c.order.Remove(e)
		delete(c.items, it.key)
		c.used -= len(it.data)
	}
}
