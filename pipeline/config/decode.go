package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/agext/levenshtein"
	"github.com/ferry-ci/ferry/internal/yamlnode"
	"gopkg.in/yaml.v3"
)

// decoder walks yaml.Nodes, collecting every problem instead of stopping at the first.
type decoder struct {
	file string
	errs Errors
}

func posOf(n *yaml.Node) Pos { return Pos{Line: n.Line, Col: n.Column} }

func (d *decoder) errorf(n *yaml.Node, field, format string, args ...any) {
	e := Error{File: d.file, Field: field, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Pos = posOf(n)
	}
	d.errs = append(d.errs, e)
}

// field is one key a mapping accepts, with the function that decodes its value.
type field struct {
	key    string
	decode func(path string, v *yaml.Node)
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// mapping decodes a mapping node: it reports keys that are not among fields (listing the
// expected ones and the closest match), duplicate keys (citing the first), and returns the
// keys it saw.
func (d *decoder) mapping(n *yaml.Node, path string, fields []field) map[string]bool {
	n = yamlnode.Resolve(n)
	seen := map[string]bool{}
	if yamlnode.IsNull(n) {
		return seen
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "expected a mapping, got %s", yamlnode.KindName(n))
		return seen
	}
	first := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.errorf(k, path, "keys must be strings")
			continue
		}
		if k.Tag == "!!merge" {
			d.errorf(k, path, "merge keys (<<) are not supported")
			continue
		}
		if d.repeated(first, k, path) {
			continue
		}
		f := findField(fields, k.Value)
		if f == nil {
			d.errorf(k, path, "%s", unknownKey(k.Value, fields))
			continue
		}
		seen[k.Value] = true
		f.decode(join(path, k.Value), yamlnode.Resolve(v))
	}
	return seen
}

// repeated reports whether key k of the mapping at path was written before, citing the first
// place in the error; a new key is recorded in first.
func (d *decoder) repeated(first map[string]*yaml.Node, k *yaml.Node, path string) bool {
	if prev, dup := first[k.Value]; dup {
		d.errorf(k, join(path, k.Value), "duplicate key %q (first defined at line %d:%d)", k.Value, prev.Line, prev.Column)
		return true
	}
	first[k.Value] = k
	return false
}

func findField(fields []field, key string) *field {
	for i := range fields {
		if fields[i].key == key {
			return &fields[i]
		}
	}
	return nil
}

func unknownKey(key string, fields []field) string {
	names := make([]string, len(fields))
	best, bestScore := "", 0.0
	for i, f := range fields {
		names[i] = f.key
		if s := levenshtein.Similarity(strings.ToLower(key), strings.ToLower(f.key), nil); s > bestScore {
			best, bestScore = f.key, s
		}
	}
	msg := fmt.Sprintf("unknown key %q (expected one of: %s)", key, strings.Join(names, ", "))
	if bestScore >= 0.6 {
		msg += fmt.Sprintf("; did you mean %q?", best)
	}
	return msg
}

// namedMapping decodes a mapping whose keys are user-chosen names (services, triggers), in
// file order, reporting duplicates.
func (d *decoder) namedMapping(n *yaml.Node, path string, each func(name string, key, v *yaml.Node)) {
	n = yamlnode.Resolve(n)
	if yamlnode.IsNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "expected a mapping of names, got %s", yamlnode.KindName(n))
		return
	}
	first := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.Value == "" {
			d.errorf(k, path, "names must be non-empty strings")
			continue
		}
		if d.repeated(first, k, path) {
			continue
		}
		each(k.Value, k, yamlnode.Resolve(v))
	}
}

func (d *decoder) str(n *yaml.Node, path string) string {
	if yamlnode.IsNull(n) {
		return ""
	}
	if n.Kind != yaml.ScalarNode {
		d.errorf(n, path, "expected a string, got %s", yamlnode.KindName(n))
		return ""
	}
	return n.Value
}

func (d *decoder) integer(n *yaml.Node, path string) int {
	if yamlnode.IsNull(n) {
		return 0
	}
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
		d.errorf(n, path, "expected an integer, got %s", yamlnode.KindName(n))
		return 0
	}
	v, err := strconv.Atoi(n.Value)
	if err != nil {
		d.errorf(n, path, "expected an integer, got %q", n.Value)
	}
	return v
}

func (d *decoder) boolean(n *yaml.Node, path string) bool {
	if yamlnode.IsNull(n) {
		return false
	}
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
		d.errorf(n, path, "expected true or false, got %s", yamlnode.KindName(n))
		return false
	}
	var b bool
	if err := n.Decode(&b); err != nil {
		d.errorf(n, path, "expected true or false, got %q", n.Value)
	}
	return b
}

func (d *decoder) duration(n *yaml.Node, path string) time.Duration {
	s := d.str(n, path)
	if s == "" {
		return 0
	}
	v, err := time.ParseDuration(s)
	if err != nil || v <= 0 {
		d.errorf(n, path, "expected a positive duration such as 90s or 10m, got %q", s)
		return 0
	}
	return v
}

func (d *decoder) date(n *yaml.Node, path string) time.Time {
	s := d.str(n, path)
	if s == "" {
		return time.Time{}
	}
	for _, layout := range []string{"2006-01-02", time.RFC3339} {
		if t, err := time.Parse(layout, s); err == nil {
			return t
		}
	}
	d.errorf(n, path, "expected a date such as 2027-01-31, got %q", s)
	return time.Time{}
}

// strings decodes a list of strings. Every element keeps its position in the returned nodes.
func (d *decoder) strings(n *yaml.Node, path string) ([]string, []*yaml.Node) {
	if yamlnode.IsNull(n) {
		return nil, nil
	}
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, path, "expected a list of strings, got %s", yamlnode.KindName(n))
		return nil, nil
	}
	var out []string
	var nodes []*yaml.Node
	for i, e := range n.Content {
		e = yamlnode.Resolve(e)
		p := fmt.Sprintf("%s[%d]", path, i)
		if e.Kind != yaml.ScalarNode || yamlnode.IsNull(e) {
			d.errorf(e, p, "expected a string, got %s", yamlnode.KindName(e))
			continue
		}
		out = append(out, e.Value)
		nodes = append(nodes, e)
	}
	return out, nodes
}

func (d *decoder) stringMap(n *yaml.Node, path string) map[string]string {
	if yamlnode.IsNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "expected a mapping of strings, got %s", yamlnode.KindName(n))
		return nil
	}
	out := map[string]string{}
	first := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], yamlnode.Resolve(n.Content[i+1])
		if d.repeated(first, k, path) {
			continue
		}
		if v.Kind != yaml.ScalarNode {
			d.errorf(v, join(path, k.Value), "expected a string, got %s", yamlnode.KindName(v))
			continue
		}
		out[k.Value] = v.Value
	}
	return out
}

// oneOf checks a string against a closed set of values.
func (d *decoder) oneOf(n *yaml.Node, path, v string, allowed []string) bool {
	for _, a := range allowed {
		if v == a {
			return true
		}
	}
	d.errorf(n, path, "invalid value %q (expected one of: %s)", v, strings.Join(allowed, ", "))
	return false
}
