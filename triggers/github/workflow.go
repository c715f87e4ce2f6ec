package github

import (
	"slices"
	"strings"

	"github.com/ferry-ci/ferry/internal/yamlnode"
	"gopkg.in/yaml.v3"
)

// Diagnostic is a message about one place in a workflow file; String renders it as
// file:line:col: message and a *Diagnostic is the error for one problem.
type Diagnostic = yamlnode.Diagnostic

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

// ParseWorkflow reads the on: section of a workflow file. Every problem found is reported
// (joined, one file:line:col line each); on error the returned workflow holds what could be
// read.
func ParseWorkflow(filename string, data []byte) (*Workflow, error) {
	p := &wfParser{yamlnode.Reader{File: filename}}
	w := &Workflow{file: filename, filters: map[string]*EventFilters{}}
	root, err := yamlnode.Parse(filename, data)
	if err != nil {
		return nil, err
	}
	switch {
	case root == nil:
		p.ErrorAt(1, 1, `workflow is empty; it needs an "on" section`)
	case root.Kind != yaml.MappingNode:
		p.Errorf(root, "workflow must be a mapping, got %s", yamlnode.KindName(root))
	default:
		on := p.lookup(root, "on")
		if on == nil {
			p.Errorf(root, `missing "on" section`)
		} else {
			p.parseOn(w, on)
		}
	}
	w.warnings = p.Warnings
	return w, p.Err()
}

// wfParser reads the on: section, collecting every problem.
type wfParser struct {
	yamlnode.Reader
}

// lookup returns the value of key in mapping m, reporting a repetition of that key only:
// the rest of the mapping is not read.
func (p *wfParser) lookup(m *yaml.Node, key string) *yaml.Node {
	var found, first *yaml.Node
	for i := 0; i+1 < len(m.Content); i += 2 {
		k := yamlnode.Resolve(m.Content[i])
		if k.Value != key {
			continue
		}
		if first != nil {
			p.Errorf(k, "key %q is repeated; first defined at line %d", key, first.Line)
			continue
		}
		first, found = k, yamlnode.Resolve(m.Content[i+1])
	}
	return found
}

func (p *wfParser) parseOn(w *Workflow, on *yaml.Node) {
	add := func(n *yaml.Node, name string) bool {
		if name == "" {
			p.Errorf(n, "on: event name is empty")
			return false
		}
		if slices.Contains(w.events, name) {
			p.Errorf(n, "on: event %q is listed twice", name)
			return false
		}
		w.events = append(w.events, name)
		if filterKeys(name) != nil {
			w.filters[name] = &EventFilters{}
		}
		return true
	}
	switch {
	case yamlnode.IsNull(on):
		p.Errorf(on, `"on" section is empty`)
	case on.Kind == yaml.ScalarNode:
		add(on, on.Value)
	case on.Kind == yaml.SequenceNode:
		for _, item := range on.Content {
			item = yamlnode.Resolve(item)
			if item.Kind != yaml.ScalarNode || yamlnode.IsNull(item) {
				p.Errorf(item, "on: expected an event name, got %s", yamlnode.KindName(item))
				continue
			}
			add(item, item.Value)
		}
	case on.Kind == yaml.MappingNode:
		for k, v := range p.Pairs(on, "on") {
			if !add(k, k.Value) {
				continue
			}
			if f, ok := w.filters[k.Value]; ok {
				p.parseEvent(k.Value, v, f)
			}
		}
	default:
		p.Errorf(on, "on: expected an event name, a list of events or a mapping, got %s", yamlnode.KindName(on))
	}
}

func (p *wfParser) parseEvent(event string, n *yaml.Node, f *EventFilters) {
	field := "on." + event
	if yamlnode.IsNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		p.Errorf(n, "%s: expected a mapping of filters, got %s", field, yamlnode.KindName(n))
		return
	}
	allowed := filterKeys(event)
	keys := map[string]*yaml.Node{}
	for k, v := range p.Pairs(n, field) {
		if !slices.Contains(allowed, k.Value) {
			p.Errorf(k, "%s: unexpected key %q; expected one of %s", field, k.Value, yamlnode.QuoteList(allowed))
			continue
		}
		keys[k.Value] = k
		kf := field + "." + k.Value
		switch k.Value {
		case "types":
			items, _ := p.List(kf, v)
			for _, it := range items {
				f.Types = append(f.Types, it.Value)
			}
		default:
			// Each key is read once (Pairs drops repetitions), so the field is still nil.
			name, isIgnore := strings.CutSuffix(k.Value, "-ignore")
			filter, ignore := f.fields(name)
			if isIgnore {
				*ignore = p.ignore(kf, v, kindOf(k.Value))
			} else {
				*filter = p.filter(kf, k, v, kindOf(k.Value))
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
		p.Errorf(second, "%s: %q cannot be used together with %q (line %d) for the same event", field, second.Value, first.Value, first.Line)
	}
}

// fields returns where the filters of name ("branches", "tags" or "paths") are kept, in their
// positive and their -ignore form.
func (f *EventFilters) fields(name string) (**Filter, **Ignore) {
	switch name {
	case "branches":
		return &f.Branches, &f.BranchesIgnore
	case "tags":
		return &f.Tags, &f.TagsIgnore
	}
	return &f.Paths, &f.PathsIgnore
}

func kindOf(key string) Kind {
	if strings.HasPrefix(key, "paths") {
		return PathPattern
	}
	return RefPattern
}

type compiled struct {
	yamlnode.Item
	pat *Pattern
}

func (p *wfParser) patterns(field string, n *yaml.Node, kind Kind) ([]compiled, bool) {
	items, ok := p.List(field, n)
	if ok && len(items) == 0 {
		p.Warnf(n, "%s: empty list never matches", field)
	}
	ps := make([]compiled, 0, len(items))
	for _, it := range items {
		pat, err := Compile(it.Value, kind)
		if err != nil {
			p.Errorf(it.Node, "%s: %v", it.Field, err)
			ok = false
			continue
		}
		for _, w := range pat.Warnings() {
			p.Warnf(it.Node, "%s: %s pattern %q: %s", it.Field, kind, it.Value, w)
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
		p.Errorf(key, "%s: every pattern starts with '!', so nothing can be included; list a positive pattern first, or use %q", field, key.Value+"-ignore")
		return nil
	}
	return f
}

func (p *wfParser) ignore(field string, n *yaml.Node, kind Kind) *Ignore {
	cs, ok := p.patterns(field, n, kind)
	for _, c := range cs {
		if c.pat.negated {
			p.Errorf(c.Node, "%s: %v", c.Field, negatedInIgnoreError(c.pat.raw))
			ok = false
		}
	}
	if !ok {
		return nil
	}
	ig, err := newIgnore(bare(cs))
	if err != nil {
		p.Errorf(n, "%s: %v", field, err)
		return nil
	}
	return ig
}
