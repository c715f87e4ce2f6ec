package github

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Diagnostic is a message about one place in a workflow file.
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

// Workflow holds the trigger part of a workflow file: which events it listens to and, for
// push and the pull request events, their filters. The rest of the file is not read.
type Workflow struct {
	file     string
	events   []string
	filters  map[string]*EventFilters
	warnings []Diagnostic
}

// EventFilters are the filters of one event. A nil field means the key was not given.
type EventFilters struct {
	Branches       *Filter
	BranchesIgnore *Ignore
	Tags           *Filter
	TagsIgnore     *Ignore
	Paths          *Filter
	PathsIgnore    *Ignore
	// Types are the pull request activity types; empty means the default set.
	Types []string
}

// File returns the file name the workflow was parsed from.
func (w *Workflow) File() string { return w.file }

// Events lists the events under on:, in file order.
func (w *Workflow) Events() []string { return w.events }

// Filters returns the filters of a push, pull_request or pull_request_target event, and
// whether the workflow listens to that event.
func (w *Workflow) Filters(event string) (*EventFilters, bool) {
	f, ok := w.filters[event]
	return f, ok
}

// Warnings lists patterns that are valid but cannot do what they look like they do.
func (w *Workflow) Warnings() []Diagnostic { return w.warnings }

// filterKeys returns the keys a filtered event accepts, in the order error messages list
// them, or nil for events whose filters Ferry does not evaluate.
func filterKeys(event string) []string {
	switch event {
	case "push":
		return []string{"branches", "branches-ignore", "tags", "tags-ignore", "paths", "paths-ignore"}
	case "pull_request", "pull_request_target":
		return []string{"branches", "branches-ignore", "paths", "paths-ignore", "types"}
	}
	return nil
}

// yamlLine pulls the line number out of yaml.v3's error text so parse errors carry a position
// like every other error.
var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// ParseWorkflow reads the on: section of a workflow file. Every problem found is reported
// (joined, one file:line:col line each); on error the returned workflow holds what could be
// read.
func ParseWorkflow(filename string, data []byte) (*Workflow, error) {
	p := &wfParser{file: filename}
	w := &Workflow{file: filename, filters: map[string]*EventFilters{}}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, yamlError(filename, err)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) > 0 {
		root = root.Content[0]
	}
	root = resolve(root)
	switch {
	case root.Kind == 0 || root.Kind == yaml.DocumentNode || isNull(root):
		p.errorAt(1, 1, `workflow is empty; it needs an "on" section`)
	case root.Kind != yaml.MappingNode:
		p.errorf(root, "workflow must be a mapping, got %s", kindName(root))
	default:
		on := p.lookup(root, "on")
		if on == nil {
			p.errorf(root, `missing "on" section`)
		} else {
			p.parseOn(w, on)
		}
	}
	w.warnings = p.warns
	if len(p.errs) > 0 {
		return w, errors.Join(p.errs...)
	}
	return w, nil
}

func yamlError(filename string, err error) error {
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		if line, convErr := strconv.Atoi(m[1]); convErr == nil {
			return &Diagnostic{File: filename, Line: line, Column: 1, Message: "invalid YAML: " + m[2]}
		}
	}
	return fmt.Errorf("%s: invalid YAML: %w", filename, err)
}

type wfParser struct {
	file  string
	errs  []error
	warns []Diagnostic
}

func (p *wfParser) errorAt(line, col int, msg string) {
	p.errs = append(p.errs, &Diagnostic{File: p.file, Line: line, Column: col, Message: msg})
}

func (p *wfParser) errorf(n *yaml.Node, format string, args ...any) {
	p.errorAt(n.Line, n.Column, fmt.Sprintf(format, args...))
}

func (p *wfParser) warnf(n *yaml.Node, format string, args ...any) {
	p.warns = append(p.warns, Diagnostic{File: p.file, Line: n.Line, Column: n.Column, Message: fmt.Sprintf(format, args...)})
}

// lookup returns the value of key in mapping m, reporting a repetition of that key only:
// the rest of the mapping is not read.
func (p *wfParser) lookup(m *yaml.Node, key string) *yaml.Node {
	var found, first *yaml.Node
	for i := 0; i+1 < len(m.Content); i += 2 {
		k := resolve(m.Content[i])
		if k.Value != key {
			continue
		}
		if first != nil {
			p.errorf(k, "key %q is repeated; first defined at line %d", key, first.Line)
			continue
		}
		first, found = k, resolve(m.Content[i+1])
	}
	return found
}

// pairs yields the key/value pairs of a mapping once each, reporting a repeated key (which
// YAML forbids) at the repetition with the line of the first one.
func (p *wfParser) pairs(m *yaml.Node, field string) func(yield func(k, v *yaml.Node) bool) {
	return func(yield func(k, v *yaml.Node) bool) {
		seen := map[string]*yaml.Node{}
		for i := 0; i+1 < len(m.Content); i += 2 {
			k, v := resolve(m.Content[i]), resolve(m.Content[i+1])
			if first, dup := seen[k.Value]; dup {
				p.errorf(k, "%s: key %q is repeated; first defined at line %d", field, k.Value, first.Line)
				continue
			}
			seen[k.Value] = k
			if !yield(k, v) {
				return
			}
		}
	}
}

func (p *wfParser) parseOn(w *Workflow, on *yaml.Node) {
	add := func(n *yaml.Node, name string) bool {
		if name == "" {
			p.errorf(n, "on: event name is empty")
			return false
		}
		if slices.Contains(w.events, name) {
			p.errorf(n, "on: event %q is listed twice", name)
			return false
		}
		w.events = append(w.events, name)
		if filterKeys(name) != nil {
			w.filters[name] = &EventFilters{}
		}
		return true
	}
	switch {
	case isNull(on):
		p.errorf(on, `"on" section is empty`)
	case on.Kind == yaml.ScalarNode:
		add(on, on.Value)
	case on.Kind == yaml.SequenceNode:
		for _, item := range on.Content {
			item = resolve(item)
			if item.Kind != yaml.ScalarNode || isNull(item) {
				p.errorf(item, "on: expected an event name, got %s", kindName(item))
				continue
			}
			add(item, item.Value)
		}
	case on.Kind == yaml.MappingNode:
		for k, v := range p.pairs(on, "on") {
			if !add(k, k.Value) {
				continue
			}
			if f, ok := w.filters[k.Value]; ok {
				p.parseEvent(k.Value, v, f)
			}
		}
	default:
		p.errorf(on, "on: expected an event name, a list of events or a mapping, got %s", kindName(on))
	}
}

func (p *wfParser) parseEvent(event string, n *yaml.Node, f *EventFilters) {
	field := "on." + event
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "%s: expected a mapping of filters, got %s", field, kindName(n))
		return
	}
	allowed := filterKeys(event)
	keys := map[string]*yaml.Node{}
	for k, v := range p.pairs(n, field) {
		if !slices.Contains(allowed, k.Value) {
			p.errorf(k, "%s: unexpected key %q; expected one of %s", field, k.Value, quoteList(allowed))
			continue
		}
		keys[k.Value] = k
		kf := field + "." + k.Value
		switch k.Value {
		case "types":
			items, _ := p.list(kf, v)
			for _, it := range items {
				f.Types = append(f.Types, it.value)
			}
		case "branches", "tags", "paths":
			if fl := p.filter(kf, k, v, kindOf(k.Value)); fl != nil {
				switch k.Value {
				case "branches":
					f.Branches = fl
				case "tags":
					f.Tags = fl
				case "paths":
					f.Paths = fl
				}
			}
		default:
			if ig := p.ignore(kf, v, kindOf(k.Value)); ig != nil {
				switch k.Value {
				case "branches-ignore":
					f.BranchesIgnore = ig
				case "tags-ignore":
					f.TagsIgnore = ig
				case "paths-ignore":
					f.PathsIgnore = ig
				}
			}
		}
	}
	// The docs forbid a positive list together with its ignore form.
	for _, pair := range [][2]string{{"branches", "branches-ignore"}, {"tags", "tags-ignore"}, {"paths", "paths-ignore"}} {
		a, b := keys[pair[0]], keys[pair[1]]
		if a == nil || b == nil {
			continue
		}
		first, second := a, b
		if b.Line < a.Line || (b.Line == a.Line && b.Column < a.Column) {
			first, second = b, a
		}
		p.errorf(second, "%s: %q cannot be used together with %q (line %d) for the same event", field, second.Value, first.Value, first.Line)
	}
}

func kindOf(key string) Kind {
	if strings.HasPrefix(key, "paths") {
		return PathPattern
	}
	return RefPattern
}

type listItem struct {
	value string
	node  *yaml.Node
	field string
}

// list reads a string or a sequence of strings; a single string is a list of one. ok is false
// when an error was reported.
func (p *wfParser) list(field string, n *yaml.Node) (items []listItem, ok bool) {
	switch {
	case isNull(n):
		p.errorf(n, "%s: expected a list, got nothing", field)
		return nil, false
	case n.Kind == yaml.ScalarNode:
		return []listItem{{value: n.Value, node: n, field: field}}, true
	case n.Kind == yaml.SequenceNode:
		ok = true
		items = make([]listItem, 0, len(n.Content))
		for i, it := range n.Content {
			it = resolve(it)
			f := fmt.Sprintf("%s[%d]", field, i)
			switch {
			case isNull(it):
				// Compile reports it as an empty pattern.
				items = append(items, listItem{value: "", node: it, field: f})
			case it.Kind != yaml.ScalarNode:
				p.errorf(it, "%s: expected a string, got %s", f, kindName(it))
				ok = false
			default:
				items = append(items, listItem{value: it.Value, node: it, field: f})
			}
		}
		return items, ok
	}
	p.errorf(n, "%s: expected a list, got %s", field, kindName(n))
	return nil, false
}

type compiled struct {
	listItem
	pat *Pattern
}

func (p *wfParser) patterns(field string, n *yaml.Node, kind Kind) ([]compiled, bool) {
	items, ok := p.list(field, n)
	if ok && len(items) == 0 {
		p.warnf(n, "%s: empty list never matches", field)
	}
	ps := make([]compiled, 0, len(items))
	for _, it := range items {
		pat, err := Compile(it.value, kind)
		if err != nil {
			p.errorf(it.node, "%s: %v", it.field, err)
			ok = false
			continue
		}
		for _, w := range pat.Warnings() {
			p.warnf(it.node, "%s: %s pattern %q: %s", it.field, kind, it.value, w)
		}
		ps = append(ps, compiled{it, pat})
	}
	return ps, ok
}

func bare(cs []compiled) []*Pattern {
	ps := make([]*Pattern, len(cs))
	for i, c := range cs {
		ps[i] = c.pat
	}
	return ps
}

func (p *wfParser) filter(field string, key, n *yaml.Node, kind Kind) *Filter {
	cs, ok := p.patterns(field, n, kind)
	if !ok {
		return nil
	}
	f, err := newFilter(bare(cs))
	if err != nil {
		p.errorf(key, "%s: every pattern starts with '!', so nothing can be included; list a positive pattern first, or use %q", field, key.Value+"-ignore")
		return nil
	}
	return f
}

func (p *wfParser) ignore(field string, n *yaml.Node, kind Kind) *Ignore {
	cs, ok := p.patterns(field, n, kind)
	for _, c := range cs {
		if c.pat.negated {
			p.errorf(c.node, "%s: %v", c.field, negatedInIgnoreError(c.pat.raw))
			ok = false
		}
	}
	if !ok {
		return nil
	}
	ig, err := newIgnore(bare(cs))
	if err != nil {
		p.errorf(n, "%s: %v", field, err)
		return nil
	}
	return ig
}

// resolve follows YAML aliases so *anchors behave as if written out.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && n.Alias != nil && i < 16; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a sequence"
	case yaml.ScalarNode:
		if isNull(n) {
			return "nothing"
		}
		return fmt.Sprintf("%q", n.Value)
	case yaml.AliasNode:
		return "an alias"
	}
	return "nothing"
}

func quoteList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, ", ")
}
