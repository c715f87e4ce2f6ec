package cigen

import (
	"fmt"
	"strings"
)

// Diff compares a file as it is with what ferry ci generate would write and returns a
// unified diff with three lines of context ("" when they are equal) and how many lines it
// removes and adds. The common start and end
// are set aside first, so that a local drift in a long file stays cheap; a middle too large
// for the line-by-line comparison is shown as removed and added whole.
func Diff(name string, have, want []byte) (diff string, removed, added int) {
	if string(have) == string(want) {
		return "", 0, 0
	}
	a, b := splitLines(string(have)), splitLines(string(want))
	ops := editScript(a, b)
	for _, o := range ops {
		switch o.kind {
		case '-':
			removed++
		case '+':
			added++
		}
	}
	var out strings.Builder
	fmt.Fprintf(&out, "--- %s (as it is)\n+++ %s (generated from the config)\n", name, name)
	for _, h := range hunks(ops, 3) {
		writeHunk(&out, h)
	}
	return out.String(), removed, added
}

func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	lines := strings.SplitAfter(s, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

// op is one line of the edit script: ' ' kept, '-' only in the file, '+' only generated,
// with its line numbers (1-based) in each.
type op struct {
	kind   byte
	line   string
	aN, bN int
}

// maxCells bounds the comparison table of the part that differs.
const maxCells = 4 << 20

func editScript(a, b []string) []op {
	pre := 0
	for pre < len(a) && pre < len(b) && a[pre] == b[pre] {
		pre++
	}
	suf := 0
	for suf < len(a)-pre && suf < len(b)-pre && a[len(a)-1-suf] == b[len(b)-1-suf] {
		suf++
	}
	var ops []op
	for i := range pre {
		ops = append(ops, op{' ', a[i], i + 1, i + 1})
	}
	ops = append(ops, middle(a[pre:len(a)-suf], b[pre:len(b)-suf], pre)...)
	for k := range suf {
		i, j := len(a)-suf+k, len(b)-suf+k
		ops = append(ops, op{' ', a[i], i + 1, j + 1})
	}
	return ops
}

// middle is the edit script of the differing part by longest common subsequence, offset by
// the lines before it.
func middle(a, b []string, off int) []op {
	n, m := len(a), len(b)
	var ops []op
	if n*m > maxCells {
		for i, l := range a {
			ops = append(ops, op{'-', l, off + i + 1, 0})
		}
		for j, l := range b {
			ops = append(ops, op{'+', l, 0, off + j + 1})
		}
		return ops
	}
	// lcs[i][j] is the LCS length of a[i:] and b[j:].
	lcs := make([][]int32, n+1)
	for i := range lcs {
		lcs[i] = make([]int32, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && a[i] == b[j]:
			ops = append(ops, op{' ', a[i], off + i + 1, off + j + 1})
			i, j = i+1, j+1
		case i < n && (j == m || lcs[i+1][j] >= lcs[i][j+1]):
			// Removals before additions, as diff -u shows a replaced line.
			ops = append(ops, op{'-', a[i], off + i + 1, 0})
			i++
		default:
			ops = append(ops, op{'+', b[j], 0, off + j + 1})
			j++
		}
	}
	return ops
}

// hunks groups the changed lines with ctx kept lines around them.
func hunks(ops []op, ctx int) [][]op {
	var out [][]op
	start, end := -1, -1
	for k, o := range ops {
		if o.kind == ' ' {
			continue
		}
		lo, hi := max(k-ctx, 0), min(k+ctx+1, len(ops))
		if start >= 0 && lo <= end {
			end = hi
			continue
		}
		if start >= 0 {
			out = append(out, ops[start:end])
		}
		start, end = lo, hi
	}
	if start >= 0 {
		out = append(out, ops[start:end])
	}
	return out
}

func writeHunk(w *strings.Builder, h []op) {
	aStart, bStart, aLen, bLen := 0, 0, 0, 0
	for _, o := range h {
		if o.kind != '+' {
			if aStart == 0 {
				aStart = o.aN
			}
			aLen++
		}
		if o.kind != '-' {
			if bStart == 0 {
				bStart = o.bN
			}
			bLen++
		}
	}
	fmt.Fprintf(w, "@@ -%d,%d +%d,%d @@\n", aStart, aLen, bStart, bLen)
	for _, o := range h {
		w.WriteByte(o.kind)
		w.WriteString(o.line)
		if !strings.HasSuffix(o.line, "\n") {
			w.WriteString("\n\\ No newline at end of file\n")
		}
	}
}
