package registrytest

import (
	"encoding/binary"
	"hash/fnv"
	"io"
	"log"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// Fault is a kind of failure the proxy injects instead of forwarding a request.
type Fault int

const (
	// Unavailable answers 503 with a registry UNAVAILABLE error.
	Unavailable Fault = iota + 1
	// TooManyRequests answers 429 with a Retry-After header and a TOOMANYREQUESTS error.
	TooManyRequests
	// Drop closes the connection without answering.
	Drop
)

func (f Fault) String() string {
	switch f {
	case Unavailable:
		return "503"
	case TooManyRequests:
		return "429"
	case Drop:
		return "drop"
	}
	return "none"
}

// Faults configures the failures a Proxy injects. The zero value injects none.
//
// Whether a request fails is a pure function of Seed, the request's method and path (upload
// session IDs removed) and how many times that method and path were seen before, so the same
// sequence of requests meets the same faults on every run.
type Faults struct {
	Rate float64 // fraction of requests that fail, 0 to 1
	Seed uint64
	// MaxInARow bounds how many times in a row the same method and path fail, so that a
	// client that retries enough always gets through; 0 means 2.
	MaxInARow int
	Kinds     []Fault // the faults to pick from; empty means all of them
}

// Stats counts what went through a Proxy since it started or was last Reset.
type Stats struct {
	Requests      int              // requests received, failed ones included
	Faults        map[Fault]int    // injected faults by kind
	BlobBytes     int64            // request body bytes of blob uploads forwarded upstream
	ManifestBytes int64            // request body bytes of manifest PUTs forwarded upstream
	Uploaded      map[string]int64 // committed blob digest → body bytes uploaded for it
	Mounted       []string         // blob digests mounted from another repository
	// BlobBytesTo and ManifestBytesTo split BlobBytes and ManifestBytes by repository
	// (shipping/prod/delivery), to tell a promotion's bytes from a run store's.
	BlobBytesTo, ManifestBytesTo map[string]int64
}

// UploadedExcept sums Uploaded over the digests not listed, for example to leave the config
// blob out of a count of layer bytes.
func (s Stats) UploadedExcept(digests ...string) int64 {
	var n int64
	for d, b := range s.Uploaded {
		skip := false
		for _, x := range digests {
			if d == x {
				skip = true
			}
		}
		if !skip {
			n += b
		}
	}
	return n
}

// Proxy is a reverse proxy in front of a registry that injects faults and counts bytes.
type Proxy struct {
	upstream *url.URL
	faults   Faults
	rp       *httputil.ReverseProxy
	host     string

	mu       sync.Mutex
	seen     map[string]uint64 // method+path → requests so far
	inARow   map[string]int    // method+path → consecutive faults
	sessions map[string]int64  // upload session → body bytes so far
	stats    Stats
}

// NewProxy starts a proxy on a loopback port in front of the registry at upstream (host:port,
// plain HTTP). It is stopped when the test ends.
func NewProxy(t testing.TB, upstream string, f Faults) *Proxy {
	t.Helper()
	if f.MaxInARow == 0 {
		f.MaxInARow = 2
	}
	if len(f.Kinds) == 0 {
		f.Kinds = []Fault{Unavailable, TooManyRequests, Drop}
	}
	target := &url.URL{Scheme: "http", Host: upstream}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	p := &Proxy{upstream: target, faults: f}
	p.Reset()
	p.rp = &httputil.ReverseProxy{
		Rewrite:        func(r *httputil.ProxyRequest) { r.SetURL(target) },
		Transport:      tr,
		ModifyResponse: p.modifyResponse,
		ErrorLog:       log.New(io.Discard, "", 0),
	}
	srv := httptest.NewServer(p)
	t.Cleanup(func() {
		srv.Close()
		tr.CloseIdleConnections()
	})
	p.host = strings.TrimPrefix(srv.URL, "http://")
	return p
}

// Host returns the proxy's host:port; references to images through the proxy use it as
// their registry.
func (p *Proxy) Host() string { return p.host }

// Stats returns a copy of the counters.
func (p *Proxy) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.stats
	s.Faults = maps.Clone(p.stats.Faults)
	s.Uploaded = maps.Clone(p.stats.Uploaded)
	s.Mounted = append([]string(nil), p.stats.Mounted...)
	s.BlobBytesTo, s.ManifestBytesTo = maps.Clone(p.stats.BlobBytesTo), maps.Clone(p.stats.ManifestBytesTo)
	return s
}

// Reset zeroes the counters. The fault sequence goes on where it was.
func (p *Proxy) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.seen == nil {
		p.seen, p.inARow = map[string]uint64{}, map[string]int{}
	}
	p.sessions = map[string]int64{}
	p.stats = Stats{Faults: map[Fault]int{}, Uploaded: map[string]int64{},
		BlobBytesTo: map[string]int64{}, ManifestBytesTo: map[string]int64{}}
}

var uploadSession = regexp.MustCompile(`(/blobs/uploads/)([^/?]+)$`)

// decide reports which fault, if any, the request gets.
func (p *Proxy) decide(r *http.Request) Fault {
	key := r.Method + " " + uploadSession.ReplaceAllString(r.URL.Path, "${1}*")
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stats.Requests++
	n := p.seen[key]
	p.seen[key] = n + 1
	h := fnv.New64a()
	var buf [16]byte
	binary.LittleEndian.PutUint64(buf[:8], p.faults.Seed)
	binary.LittleEndian.PutUint64(buf[8:], n)
	h.Write(buf[:])
	h.Write([]byte(key))
	x := mix(h.Sum64())
	if float64(x>>11)/(1<<53) >= p.faults.Rate || p.inARow[key] >= p.faults.MaxInARow {
		p.inARow[key] = 0
		return 0
	}
	p.inARow[key]++
	f := p.faults.Kinds[mix(x)%uint64(len(p.faults.Kinds))]
	p.stats.Faults[f]++
	return f
}

// mix is splitmix64's finaliser.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch p.decide(r) {
	case Unavailable:
		writeError(w, http.StatusServiceUnavailable, "UNAVAILABLE")
		return
	case TooManyRequests:
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusTooManyRequests, "TOOMANYREQUESTS")
		return
	case Drop:
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler)
	}

	var body *countingReader
	if r.Body != nil && r.Body != http.NoBody {
		body = &countingReader{r: r.Body}
		r.Body = body
	}
	p.rp.ServeHTTP(w, r)
	var n int64
	if body != nil {
		n = body.n.Load()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case strings.Contains(r.URL.Path, "/blobs/uploads/"):
		p.stats.BlobBytes += n
		p.stats.BlobBytesTo[repository(r.URL.Path, "/blobs/uploads/")] += n
		if m := uploadSession.FindStringSubmatch(r.URL.Path); m != nil {
			p.sessions[m[2]] += n
			n = p.sessions[m[2]]
		}
		if d := r.URL.Query().Get("digest"); d != "" && r.Method != http.MethodPatch {
			p.stats.Uploaded[d] += n
		}
	case strings.Contains(r.URL.Path, "/manifests/") && r.Method == http.MethodPut:
		p.stats.ManifestBytes += n
		p.stats.ManifestBytesTo[repository(r.URL.Path, "/manifests/")] += n
	}
}

// repository is the repository of a registry API path: /v2/<repository><kind>….
func repository(path, kind string) string {
	repo, _, _ := strings.Cut(strings.TrimPrefix(path, "/v2/"), kind)
	return repo
}

func (p *Proxy) modifyResponse(resp *http.Response) error {
	if loc := resp.Header.Get("Location"); loc != "" {
		if u, err := url.Parse(loc); err == nil && u.Host == p.upstream.Host {
			u.Host = p.host
			resp.Header.Set("Location", u.String())
		}
	}
	q := resp.Request.URL.Query()
	if resp.Request.Method == http.MethodPost && resp.StatusCode == http.StatusCreated && q.Get("mount") != "" {
		p.mu.Lock()
		p.stats.Mounted = append(p.stats.Mounted, q.Get("mount"))
		p.mu.Unlock()
	}
	return nil
}

func writeError(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, `{"errors":[{"code":"`+code+`","message":"injected by registrytest.Proxy"}]}`)
}

type countingReader struct {
	r io.ReadCloser
	n atomic.Int64
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n.Add(int64(n))
	return n, err
}

func (c *countingReader) Close() error { return c.r.Close() }
