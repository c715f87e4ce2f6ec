package azure

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Diagnostic is a message about one place in a pipeline file.
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

// Pipeline holds the trigger: and pr: sections of a pipeline file. A nil section was absent,
// which selects the default behaviour at evaluation time.
type Pipeline struct {
	File     string
	Trigger  *Trigger
	PR       *PRTrigger
	warnings []Diagnostic
}

// Warnings lists settings that are valid but behave differently across Azure DevOps versions
// or probably do not do what they look like they do.
func (p *Pipeline) Warnings() []Diagnostic { return p.warnings }

// Trigger is the CI trigger.
type Trigger struct {
	// None is trigger: none.
	None bool
	// Batch coalesces pushes while a run is in progress; it does not affect matching.
	Batch bool
	// Branches is nil when the mapping form has tags but no branches, which includes no
	// branch at all. When neither is given it includes every branch.
	Branches *RefFilter
	// BranchesImplied is true when Branches was not written and reads as include '*'.
	BranchesImplied bool
	// Tags is nil when no tag filter was given: tag pushes then trigger only through
	// refs/tags/ entries of Branches.
	Tags  *RefFilter
	Paths *PathFilter
}

// PRTrigger is the pull request trigger.
type PRTrigger struct {
	// None is pr: none.
	None bool
	// AutoCancel cancels running builds of the pull request on a new push (default true).
	AutoCancel bool
	// Drafts runs for draft pull requests (default true).
	Drafts bool
	// Branches are target branches; never nil (include '*' when not written).
	Branches        *RefFilter
	BranchesImplied bool
	Paths           *PathFilter
}

// yamlLine pulls the line number out of yaml.v3's error text so parse errors carry a position
// like every other error.
var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// ParsePipeline reads the trigger: and pr: sections of an azure-pipelines.yml; the rest of the
// file is not looked at. Every problem found is reported (joined, one file:line:col line
// each); on error the returned pipeline holds what could be read.
func ParsePipeline(filename string, data []byte) (*Pipeline, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
			if line, convErr := strconv.Atoi(m[1]); convErr == nil {
				return nil, &Diagnostic{File: filename, Line: line, Column: 1, Message: "invalid YAML: " + m[2]}
			}
		}
		return nil, fmt.Errorf("%s: invalid YAML: %w", filename, err)
	}
	p := &parser{file: filename}
	pl := &Pipeline{File: filename}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) > 0 {
		root = root.Content[0]
	}
	root = resolve(root)
	switch {
	case root.Kind == 0 || root.Kind == yaml.DocumentNode || isNull(root):
		// An empty file has no trigger sections: the defaults apply.
	case root.Kind != yaml.MappingNode:
		p.errorf(root, "pipeline must be a mapping, got %s", kindName(root))
	default:
		// Only the two trigger keys are looked at, so only their repetition is reported.
		seen := map[string]*yaml.Node{}
		for i := 0; i+1 < len(root.Content); i += 2 {
			k, v := resolve(root.Content[i]), resolve(root.Content[i+1])
			if k.Value != "trigger" && k.Value != "pr" {
				continue
			}
			if first, dup := seen[k.Value]; dup {
				p.errorf(k, "key %q is repeated; first defined at line %d", k.Value, first.Line)
				continue
			}
			seen[k.Value] = k
			if k.Value == "trigger" {
				pl.Trigger = p.parseTrigger(v)
			} else {
				pl.PR = p.parsePR(v)
			}
		}
	}
	pl.warnings = p.warns
	if len(p.errs) > 0 {
		return pl, errors.Join(p.errs...)
	}
	return pl, nil
}

type parser struct {
	file  string
	errs  []error
	warns []Diagnostic
}

func (p *parser) errorf(n *yaml.Node, format string, args ...any) {
	p.errs = append(p.errs, &Diagnostic{File: p.file, Line: n.Line, Column: n.Column, Message: fmt.Sprintf(format, args...)})
}

func (p *parser) warnf(n *yaml.Node, format string, args ...any) {
	p.warns = append(p.warns, Diagnostic{File: p.file, Line: n.Line, Column: n.Column, Message: fmt.Sprintf(format, args...)})
}

// pairs yields the key/value pairs of a mapping once each, reporting a repeated key (which
// YAML forbids) at the repetition with the line of the first one.
func (p *parser) pairs(m *yaml.Node, field string) func(yield func(k, v *yaml.Node) bool) {
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

// known reports whether key k is one of allowed, reporting it otherwise.
func (p *parser) known(k *yaml.Node, field string, allowed []string) bool {
	if slices.Contains(allowed, k.Value) {
		return true
	}
	p.errorf(k, "%s: unknown key %q; expected one of %s", field, k.Value, quoteList(allowed))
	return false
}

func (p *parser) parseTrigger(n *yaml.Node) *Trigger {
	const field = "trigger"
	t := &Trigger{}
	switch {
	case isNone(n):
		t.None = true
		return t
	case n.Kind == yaml.SequenceNode:
		t.Branches = p.refFilter("branch", field, n, "", nil)
		return t
	case n.Kind != yaml.MappingNode:
		p.errorf(n, "%s: expected none, a list of branches or a mapping, got %s", field, kindName(n))
		return t
	}
	var branches, tags, paths *yaml.Node
	for k, v := range p.pairs(n, field) {
		if !p.known(k, field, []string{"batch", "branches", "paths", "tags"}) {
			continue
		}
		switch k.Value {
		case "batch":
			t.Batch = p.boolean(field+".batch", v)
		case "branches":
			branches = k
			t.Branches = p.includeExclude("branch", field+".branches", v)
		case "tags":
			tags = k
			t.Tags = p.includeExclude("tag", field+".tags", v)
		case "paths":
			paths = k
			t.Paths = p.pathFilter(field+".paths", v)
		}
	}
	// Tags alone include no branch; with neither, every branch is included.
	if branches == nil && tags == nil {
		t.Branches, _ = NewBranchFilter([]string{"*"}, nil)
		t.BranchesImplied = true
		if paths != nil {
			p.warnf(paths, "trigger.paths without trigger.branches: Ferry includes every branch, but older Azure DevOps Server versions never trigger such a pipeline; list the branches explicitly")
		}
	}
	return t
}

func (p *parser) parsePR(n *yaml.Node) *PRTrigger {
	const field = "pr"
	t := &PRTrigger{AutoCancel: true, Drafts: true}
	switch {
	case isNone(n):
		t.None = true
		return t
	case n.Kind == yaml.SequenceNode:
		t.Branches = p.refFilter("branch", field, n, "", nil)
		return t
	case n.Kind != yaml.MappingNode:
		p.errorf(n, "%s: expected none, a list of branches or a mapping, got %s", field, kindName(n))
		return t
	}
	var branches *yaml.Node
	for k, v := range p.pairs(n, field) {
		if !p.known(k, field, []string{"autoCancel", "branches", "drafts", "paths"}) {
			continue
		}
		switch k.Value {
		case "autoCancel":
			t.AutoCancel = p.boolean(field+".autoCancel", v)
		case "drafts":
			t.Drafts = p.boolean(field+".drafts", v)
		case "branches":
			branches = k
			t.Branches = p.includeExclude("branch", field+".branches", v)
		case "paths":
			t.Paths = p.pathFilter(field+".paths", v)
		}
	}
	if branches == nil {
		t.Branches, _ = NewBranchFilter([]string{"*"}, nil)
		t.BranchesImplied = true
	}
	return t
}

func isNone(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && !isNull(n) && n.Value == "none"
}

func (p *parser) boolean(field string, n *yaml.Node) bool {
	if n.Kind == yaml.ScalarNode {
		switch strings.ToLower(n.Value) {
		case "true":
			return true
		case "false":
			return false
		}
	}
	p.errorf(n, "%s: expected true or false, got %s", field, kindName(n))
	return false
}

type listItem struct {
	value string
	node  *yaml.Node
	field string
}

// list reads a string or a sequence of strings; a single string is a list of one. ok is
// false when an error was reported.
func (p *parser) list(field string, n *yaml.Node) (items []listItem, ok bool) {
	switch {
	case isNull(n):
		p.errorf(n, "%s: expected a list, got nothing", field)
		return nil, false
	case n.Kind == yaml.ScalarNode:
		return []listItem{{n.Value, n, field}}, true
	case n.Kind == yaml.SequenceNode:
		ok = true
		items = make([]listItem, 0, len(n.Content))
		for i, it := range n.Content {
			it = resolve(it)
			f := fmt.Sprintf("%s[%d]", field, i)
			switch {
			case isNull(it):
				// Reported by the pattern compiler as an empty pattern.
				items = append(items, listItem{"", it, f})
			case it.Kind != yaml.ScalarNode:
				p.errorf(it, "%s: expected a string, got %s", f, kindName(it))
				ok = false
			default:
				items = append(items, listItem{it.Value, it, f})
			}
		}
		return items, ok
	}
	p.errorf(n, "%s: expected a list, got %s", field, kindName(n))
	return nil, false
}

// refFilter builds a branch or tag filter from include and exclude list nodes (either may be
// nil), reporting each bad entry at its own position. It returns nil after errors.
func (p *parser) refFilter(what, incField string, incNode *yaml.Node, excField string, excNode *yaml.Node) *RefFilter {
	ok := true
	values := func(field string, n *yaml.Node) []string {
		if n == nil {
			return nil
		}
		items, good := p.list(field, n)
		ok = ok && good
		out := make([]string, 0, len(items))
		for _, it := range items {
			if _, err := compileRef(it.value, it.value); err != nil {
				p.errorf(it.node, "%s: %s pattern %q: %v", it.field, what, it.value, err)
				ok = false
				continue
			}
			if strings.HasPrefix(it.value, "!") {
				p.warnf(it.node, "%s: %q: Azure has no '!' negation, so this only matches a name starting with '!'; list it under exclude instead", it.field, it.value)
			}
			out = append(out, it.value)
		}
		if good && len(items) == 0 {
			p.warnf(n, "%s: empty list", field)
		}
		return out
	}
	inc := values(incField, incNode)
	exc := values(excField, excNode)
	if !ok {
		return nil
	}
	build := NewBranchFilter
	if what == "tag" {
		build = NewTagFilter
	}
	f, err := build(inc, exc)
	if err != nil {
		// Every entry was checked above; this is a bug, reported rather than hidden.
		p.errs = append(p.errs, fmt.Errorf("%s: %s: %w", p.file, incField, err))
		return nil
	}
	if incNode != nil && len(inc) == 0 {
		// An explicitly empty include list includes nothing, unlike a missing one.
		f.include, f.implicit = nil, false
	}
	return f
}

func (p *parser) includeExclude(what, field string, n *yaml.Node) *RefFilter {
	inc, exc, ok := p.includeExcludeNodes(field, n)
	if !ok {
		return nil
	}
	return p.refFilter(what, field+".include", inc, field+".exclude", exc)
}

// includeExcludeNodes reads the {include, exclude} mapping shared by branches, tags and paths.
func (p *parser) includeExcludeNodes(field string, n *yaml.Node) (inc, exc *yaml.Node, ok bool) {
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "%s: expected a mapping with include and/or exclude lists, got %s", field, kindName(n))
		return nil, nil, false
	}
	ok = true
	for k, v := range p.pairs(n, field) {
		if !p.known(k, field, []string{"include", "exclude"}) {
			ok = false
			continue
		}
		if k.Value == "include" {
			inc = v
		} else {
			exc = v
		}
	}
	return inc, exc, ok
}

func (p *parser) pathFilter(field string, n *yaml.Node) *PathFilter {
	incNode, excNode, ok := p.includeExcludeNodes(field, n)
	if !ok {
		return nil
	}
	values := func(field string, n *yaml.Node) []string {
		if n == nil {
			return nil
		}
		items, good := p.list(field, n)
		ok = ok && good
		out := make([]string, 0, len(items))
		for _, it := range items {
			pat, err := CompilePathPattern(it.value)
			if err != nil {
				p.errorf(it.node, "%s: %v", it.field, err)
				ok = false
				continue
			}
			if pat.re != nil {
				p.warnf(it.node, "%s: %q: wildcards in path filters need Azure DevOps Server 2022 or later (or Services); Ferry reads '*' and '?' within one folder name and '**' across folders", it.field, it.value)
			}
			out = append(out, it.value)
		}
		if good && len(items) == 0 {
			p.warnf(n, "%s: empty list", field)
		}
		return out
	}
	inc := values(field+".include", incNode)
	exc := values(field+".exclude", excNode)
	if !ok {
		return nil
	}
	f, err := NewPathFilter(inc, exc)
	if err != nil {
		p.errs = append(p.errs, fmt.Errorf("%s: %s: %w", p.file, field, err))
		return nil
	}
	if incNode != nil && len(inc) == 0 {
		// An explicitly empty include list includes nothing, unlike a missing one.
		f.implicit = false
	}
	return f
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
		return strconv.Quote(n.Value)
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
