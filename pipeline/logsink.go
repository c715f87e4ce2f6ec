package pipeline

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// logSink is a log file that everything is written to masked; a stage's sink also reports
// each line as it is completed.
type logSink struct {
	file  *os.File
	w     io.WriteCloser
	lines *lineReporter // nil when lines are not reported
	// closeMask flushes the masker's held-back bytes into the file, once.
	closeMask func() error
}

// createLog opens (appending, creating its folder) the log at path. When lines is set, what is
// written also goes, masked, to it.
func (e *Engine) createLog(path string, lines *lineReporter) (*logSink, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	var to io.Writer = f
	if lines != nil {
		to = io.MultiWriter(f, lines)
	}
	var w io.WriteCloser = nopCloser{to}
	if e.Masker != nil {
		w = e.Masker.Writer(to)
	}
	return &logSink{file: f, w: w, lines: lines, closeMask: sync.OnceValue(w.Close)}, nil
}

func (l *logSink) Write(p []byte) (int, error) { return l.w.Write(p) }

// flush makes everything written so far visible in the file and as reported lines: renderers
// read the log file when a stage finishes. Nothing may be written after it.
func (l *logSink) flush() error {
	err := l.closeMask()
	if l.lines != nil {
		l.lines.flush()
	}
	return err
}

// Close flushes the sink and closes the file.
func (l *logSink) Close() error {
	return errors.Join(l.flush(), l.file.Close())
}

// lineReporter turns a byte stream into one call per line.
type lineReporter struct {
	mu   sync.Mutex
	buf  []byte
	emit func(string)
}

func (l *lineReporter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		l.emit(strings.TrimRight(string(l.buf[:i]), "\r"))
		l.buf = l.buf[i+1:]
	}
	return len(p), nil
}

func (l *lineReporter) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) > 0 {
		l.emit(string(l.buf))
		l.buf = nil
	}
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }
