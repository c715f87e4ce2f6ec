package mask

// matcher finds every occurrence of a set of patterns in one pass (Aho-Corasick). A
// strings.Replacer would do for disjoint secrets, but it replaces the first match at each
// position and resumes after it, so with secrets that overlap ("abcdef" and "defghi" in
// "abcdefghi") the tail of the second would leak. The matcher reports the union of all
// occurrences instead.
type matcher struct {
	nodes []node
	// maxLen is the length of the longest pattern: the streaming writer keeps maxLen-1 bytes
	// when it must cut a line.
	maxLen int
}

type node struct {
	edges []edge // sorted by byte; most nodes have one child, so a slice beats a map
	// dense replaces edges for nodes with many children (the root, the first characters),
	// where a scan would cost more than the table.
	dense *[256]int32
	fail  int32
	// out is the length of the longest pattern that ends at this node (a suffix of the path to
	// it), 0 if none. Shorter patterns ending at the same place lie inside that one, so the
	// longest is all the masking needs.
	out int
}

type edge struct {
	b  byte
	to int32
}

// span is a half-open byte range [start, end) to replace.
type span struct{ start, end int }

// denseFrom is the number of children above which a node gets a lookup table.
const denseFrom = 8

func (n *node) next(b byte) int32 {
	if n.dense != nil {
		return n.dense[b]
	}
	for _, e := range n.edges {
		if e.b == b {
			return e.to
		}
		if e.b > b {
			break
		}
	}
	return -1
}

func newMatcher(patterns []string) *matcher {
	m := &matcher{nodes: []node{{}}}
	for _, p := range patterns {
		if p == "" {
			continue
		}
		m.maxLen = max(m.maxLen, len(p))
		s := int32(0)
		for i := 0; i < len(p); i++ {
			t := m.nodes[s].next(p[i])
			if t < 0 {
				t = int32(len(m.nodes))
				m.nodes = append(m.nodes, node{})
				n := &m.nodes[s]
				at := 0
				for at < len(n.edges) && n.edges[at].b < p[i] {
					at++
				}
				n.edges = append(n.edges, edge{})
				copy(n.edges[at+1:], n.edges[at:])
				n.edges[at] = edge{b: p[i], to: t}
			}
			s = t
		}
		m.nodes[s].out = len(p)
	}
	for i := range m.nodes {
		n := &m.nodes[i]
		if len(n.edges) > denseFrom {
			n.dense = new([256]int32)
			for b := range n.dense {
				n.dense[b] = -1
			}
			for _, e := range n.edges {
				n.dense[e.b] = e.to
			}
		}
	}
	// Failure links, breadth first: a node's fail is the longest proper suffix of its path that
	// is also a path from the root.
	queue := make([]int32, 0, len(m.nodes))
	for _, e := range m.nodes[0].edges {
		m.nodes[e.to].fail = 0
		queue = append(queue, e.to)
	}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		for _, e := range m.nodes[s].edges {
			f := m.nodes[s].fail
			for {
				if t := m.nodes[f].next(e.b); t >= 0 {
					m.nodes[e.to].fail = t
					break
				}
				if f == 0 {
					m.nodes[e.to].fail = 0
					break
				}
				f = m.nodes[f].fail
			}
			if m.nodes[e.to].out == 0 {
				m.nodes[e.to].out = m.nodes[m.nodes[e.to].fail].out
			}
			queue = append(queue, e.to)
		}
	}
	return m
}

// find returns the occurrences of the patterns in p as sorted, disjoint spans; overlapping and
// touching occurrences are merged. It takes strings and byte slices alike, so that Mask does
// not copy its argument.
func find[T string | []byte](m *matcher, p T) []span {
	if m.maxLen == 0 {
		return nil
	}
	var spans []span
	s := int32(0)
	for i := 0; i < len(p); i++ {
		for {
			if t := m.nodes[s].next(p[i]); t >= 0 {
				s = t
				break
			}
			if s == 0 {
				break
			}
			s = m.nodes[s].fail
		}
		n := m.nodes[s].out
		if n == 0 {
			continue
		}
		// Ends only grow, but a longer match can start before earlier spans: absorb them.
		sp := span{start: i + 1 - n, end: i + 1}
		for len(spans) > 0 && spans[len(spans)-1].end >= sp.start {
			sp.start = min(sp.start, spans[len(spans)-1].start)
			spans = spans[:len(spans)-1]
		}
		spans = append(spans, sp)
	}
	return spans
}
