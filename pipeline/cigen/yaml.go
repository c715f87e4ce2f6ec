package cigen

import (
	"bytes"
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// The builders below make yaml.v3 nodes with explicit tags, so that a value that reads like
// another type (an environment named "true", a version "1.0") is quoted as a string.

// str is a string scalar.
func str(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }

// block is a script: in literal style ending with one newline when it has several lines,
// else a plain string.
func block(s string) *yaml.Node {
	s = strings.TrimRight(s, "\n")
	if !strings.Contains(s, "\n") {
		return str(s)
	}
	n := str(s + "\n")
	n.Style = yaml.LiteralStyle
	return n
}

func boolean(b bool) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: fmt.Sprint(b)}
}

func integer(i int) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: fmt.Sprint(i)}
}

// withComment sets the comment after a value on its line.
func withComment(n *yaml.Node, comment string) *yaml.Node {
	if comment != "" {
		n.LineComment = "# " + comment
	}
	return n
}

// seq is a block sequence; items are nodes or strings.
func seq(items ...any) *yaml.Node {
	n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
	for _, it := range items {
		n.Content = append(n.Content, node(it))
	}
	return n
}

// strs is a sequence of strings, in flow style when short ([main]).
func strs(values []string, flow bool) *yaml.Node {
	n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
	if flow {
		n.Style = yaml.FlowStyle
	}
	for _, v := range values {
		n.Content = append(n.Content, str(v))
	}
	return n
}

// mapping holds key/value pairs in order. A key is a string, or a key made by commented to
// carry comments above it; a value is a node, a string, a bool or an int. A nil *yaml.Node
// value drops the pair, which keeps optional keys inline in the builders.
type mapping struct{ n *yaml.Node }

func newMap() *mapping { return &mapping{n: &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}} }

// emptyMap is {}.
func emptyMap() *yaml.Node {
	return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Style: yaml.FlowStyle}
}

func (m *mapping) add(key any, value any) *mapping {
	if v, ok := value.(*yaml.Node); ok && v == nil {
		return m
	}
	if v, ok := value.(*mapping); ok && v == nil {
		return m
	}
	k, ok := key.(*yaml.Node)
	if !ok {
		k = str(key.(string))
	}
	m.n.Content = append(m.n.Content, k, node(value))
	return m
}

// commented is a key with comment lines above it.
func commented(key string, lines ...string) *yaml.Node {
	k := str(key)
	k.HeadComment = commentLines(lines)
	return k
}

// commentLines makes comment text of lines; an empty line is a bare "#".
func commentLines(lines []string) string {
	var b strings.Builder
	for i, l := range lines {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(strings.TrimRight("# "+l, " "))
	}
	return b.String()
}

// lines is a multi-line string in literal style without a final newline (|-): arguments,
// one per line, which the action splits on whitespace.
func lines(ls ...string) *yaml.Node {
	n := str(strings.Join(ls, "\n"))
	n.Style = yaml.LiteralStyle
	return n
}

func node(v any) *yaml.Node {
	switch v := v.(type) {
	case *yaml.Node:
		return v
	case *mapping:
		return v.n
	case string:
		return str(v)
	case bool:
		return boolean(v)
	case int:
		return integer(v)
	}
	panic(fmt.Sprintf("cigen: no YAML node for %T", v))
}

// encode writes the document with the header comment lines above it. Blank lines are added
// afterwards, because yaml.v3 keeps none: before each line blankBefore picks (top-level keys,
// jobs, stages), unless it is the first child of its parent.
func encode(header []string, top *mapping, blankBefore func(line string) bool) ([]byte, error) {
	doc := &yaml.Node{Kind: yaml.DocumentNode, HeadComment: commentLines(header), Content: []*yaml.Node{top.n}}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("encode YAML: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encode YAML: %w", err)
	}
	return spaceOut(b.Bytes(), blankBefore), nil
}

// spaceOut puts a blank line before each line blankBefore picks, above the comments that
// belong to it, unless one is there already or the line opens its parent's block.
func spaceOut(data []byte, blankBefore func(line string) bool) []byte {
	var out []string
	for _, l := range strings.Split(string(data), "\n") {
		if blankBefore(l) {
			j := len(out)
			for j > 0 && isComment(out[j-1]) && indent(out[j-1]) == indent(l) {
				j--
			}
			if j > 0 && out[j-1] != "" && !opens(out[j-1], l) {
				out = append(out[:j], append([]string{""}, out[j:]...)...)
			}
		}
		out = append(out, l)
	}
	return []byte(strings.Join(out, "\n"))
}

// opens reports whether prev is the key whose block line starts.
func opens(prev, line string) bool {
	return strings.HasSuffix(prev, ":") && indent(prev) < indent(line)
}

func isComment(s string) bool { return strings.HasPrefix(strings.TrimSpace(s), "#") }

func indent(s string) int { return len(s) - len(strings.TrimLeft(s, " ")) }
