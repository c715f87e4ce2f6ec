// Package yamlnode holds what Ferry's config and the trigger evaluators share for reading YAML
// with positions: parsing a file down to its top node, following aliases, naming what a node
// holds in messages, diagnostics at a file:line:col, a Reader that collects every problem
// instead of stopping at the first, and the conversion of yaml.v3 syntax errors into
// positioned diagnostics.
package yamlnode

import (
	"errors"
	"fmt"
	"iter"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Diagnostic is a message about one place in a file.
type Diagnostic struct {
	File    string `json:"file"`
	Line    int    `json:"line"`
	Column  int    `json:"column"`
	Message string `json:"message"`
}

// String renders file:line:col: message, the form editors and CI annotations understand.
func (d Diagnostic) String() string {
	return fmt.Sprintf("%s:%d:%d: %s", d.File, d.Line, d.Column, d.Message)
}

func (d *Diagnostic) Error() string { return d.String() }

// syntaxLine pulls the line number out of yaml.v3's error text so parse errors carry a
// position like every other error.
var syntaxLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// SyntaxError turns an error from yaml.Unmarshal into a *Diagnostic at the line yaml.v3 names:
// "yaml: line 3: did not find expected key" becomes line 3, column 1, message
// "invalid YAML: did not find expected key". An error that names no line is returned
// wrapped, as "file: invalid YAML: ...".
func SyntaxError(file string, err error) error {
	if m := syntaxLine.FindStringSubmatch(err.Error()); m != nil {
		if line, convErr := strconv.Atoi(m[1]); convErr == nil {
			return &Diagnostic{File: file, Line: line, Column: 1, Message: "invalid YAML: " + m[2]}
		}
	}
	return fmt.Errorf("%s: invalid YAML: %w", file, err)
}

// Parse reads data as a YAML document and returns its top node, aliases resolved. The node is
// nil when the file holds nothing: no document, only comments, or a null. A syntax error is
// returned as SyntaxError makes it.
func Parse(file string, data []byte) (*yaml.Node, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, SyntaxError(file, err)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) > 0 {
		root = root.Content[0]
	}
	root = Resolve(root)
	if root.Kind == 0 || root.Kind == yaml.DocumentNode || IsNull(root) {
		return nil, nil
	}
	return root, nil
}

// Resolve follows YAML aliases so *anchors behave as if written out.
func Resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && n.Alias != nil && i < 16; i++ {
		n = n.Alias
	}
	return n
}

// IsNull reports whether n is missing or a null scalar (~, null or nothing written).
func IsNull(n *yaml.Node) bool {
	return n == nil || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}

// KindName names what n holds for a message such as "expected a string, got a mapping": a
// scalar is quoted as written.
func KindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a sequence"
	case yaml.ScalarNode:
		if IsNull(n) {
			return "nothing"
		}
		return strconv.Quote(n.Value)
	case yaml.AliasNode:
		return "an alias"
	}
	return "nothing"
}

// QuoteList quotes each string and joins them with ", ", for messages listing what is allowed.
func QuoteList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, ", ")
}

// Reader collects the problems found while reading one file: errors, and warnings about
// settings that are valid but probably do not do what they look like they do. Every message
// is a Diagnostic in File.
type Reader struct {
	File     string
	Errs     []error
	Warnings []Diagnostic
}

// ErrorAt records an error at a position no node stands for, such as the start of an empty file.
func (r *Reader) ErrorAt(line, col int, msg string) {
	r.Errs = append(r.Errs, &Diagnostic{File: r.File, Line: line, Column: col, Message: msg})
}

// Errorf records an error at n.
func (r *Reader) Errorf(n *yaml.Node, format string, args ...any) {
	r.ErrorAt(n.Line, n.Column, fmt.Sprintf(format, args...))
}

// Warnf records a warning at n.
func (r *Reader) Warnf(n *yaml.Node, format string, args ...any) {
	r.Warnings = append(r.Warnings, Diagnostic{File: r.File, Line: n.Line, Column: n.Column, Message: fmt.Sprintf(format, args...)})
}

// Err joins the errors recorded so far, one line each; it is nil when there are none.
func (r *Reader) Err() error { return errors.Join(r.Errs...) }

// Pairs yields the key/value pairs of mapping m once each, aliases resolved, reporting a
// repeated key (which YAML forbids) at the repetition with the line of the first one. field
// names the mapping in that message.
func (r *Reader) Pairs(m *yaml.Node, field string) iter.Seq2[*yaml.Node, *yaml.Node] {
	return func(yield func(k, v *yaml.Node) bool) {
		seen := map[string]*yaml.Node{}
		for i := 0; i+1 < len(m.Content); i += 2 {
			k, v := Resolve(m.Content[i]), Resolve(m.Content[i+1])
			if first, dup := seen[k.Value]; dup {
				r.Errorf(k, "%s: key %q is repeated; first defined at line %d", field, k.Value, first.Line)
				continue
			}
			seen[k.Value] = k
			if !yield(k, v) {
				return
			}
		}
	}
}

// Item is one string read by List, with the node it was written at and the field that names it
// in messages ("on.push.branches[2]").
type Item struct {
	Value string
	Node  *yaml.Node
	Field string
}

// List reads a string or a sequence of strings; a single string is a list of one. A null entry
// is kept as an empty string for the caller's pattern compiler to report. ok is false when an
// error was reported.
func (r *Reader) List(field string, n *yaml.Node) (items []Item, ok bool) {
	switch {
	case IsNull(n):
		r.Errorf(n, "%s: expected a list, got nothing", field)
		return nil, false
	case n.Kind == yaml.ScalarNode:
		return []Item{{Value: n.Value, Node: n, Field: field}}, true
	case n.Kind == yaml.SequenceNode:
		ok = true
		items = make([]Item, 0, len(n.Content))
		for i, it := range n.Content {
			it = Resolve(it)
			f := fmt.Sprintf("%s[%d]", field, i)
			switch {
			case IsNull(it):
				items = append(items, Item{Value: "", Node: it, Field: f})
			case it.Kind != yaml.ScalarNode:
				r.Errorf(it, "%s: expected a string, got %s", f, KindName(it))
				ok = false
			default:
				items = append(items, Item{Value: it.Value, Node: it, Field: f})
			}
		}
		return items, ok
	}
	r.Errorf(n, "%s: expected a list, got %s", field, KindName(n))
	return nil, false
}
