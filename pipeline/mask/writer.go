package mask

import (
	"bytes"
	"fmt"
	"io"
	"sync"
)

// MaxBuffer is how much a Writer holds while it waits for the end of a line. A tool that
// prints megabytes without a newline (a progress bar, minified JSON) is cut at this bound.
const MaxBuffer = 64 << 10

// Writer returns a streaming masker in front of w. It masks whole lines, so a secret split
// across Write calls is still caught: it writes on each newline, on Close, and when more than
// MaxBuffer bytes wait without a newline; then it keeps the last bytes that could begin a
// secret (the longest form's length minus one) for the next write. Close does not close w.
// Secrets added to the Masker later apply to what has not been written yet. A multi-line
// secret is masked line by line, as each line is written.
func (m *Masker) Writer(w io.Writer) io.WriteCloser {
	return &writer{m: m, w: w}
}

type writer struct {
	m   *Masker
	w   io.Writer
	mu  sync.Mutex
	buf []byte
	out []byte
	err error // the first write error of w; later writes return it
}

func (w *writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return 0, w.err
	}
	w.buf = append(w.buf, p...)
	if err := w.flush(false); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Close writes what is left, masked.
func (w *writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	return w.flush(true)
}

// flush writes the part of the buffer that no later write can change.
func (w *writer) flush(all bool) error {
	mt := w.m.matcher()
	cut := len(w.buf)
	if !all {
		cut = bytes.LastIndexByte(w.buf, '\n') + 1
		if len(w.buf) > MaxBuffer {
			cut = max(cut, len(w.buf)-max(mt.maxLen-1, 0))
		}
		if cut == 0 {
			return nil
		}
	}
	spans := find(mt, w.buf)
	// A match that runs across the cut is kept whole for the next write, unless it is all
	// there is (a very long run of secrets): then it is written masked.
	for _, sp := range spans {
		if sp.start < cut && sp.end > cut {
			if sp.start > 0 {
				cut = sp.start
			} else {
				cut = sp.end
			}
			break
		}
	}
	if cut == 0 {
		return nil
	}
	n := 0
	for n < len(spans) && spans[n].end <= cut {
		n++
	}
	w.out = maskBytes(w.out[:0], w.buf[:cut], spans[:n])
	if _, err := w.w.Write(w.out); err != nil {
		w.err = fmt.Errorf("writing masked output: %w", err)
		return w.err
	}
	w.buf = append(w.buf[:0], w.buf[cut:]...)
	return nil
}
