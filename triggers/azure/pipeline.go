package azure

import (
	"fmt"
	"slices"
	"strings"

	"github.com/ferry-ci/ferry/internal/yamlnode"
	"gopkg.in/yaml.v3"
)

// Diagnostic is a message about one place in a pipeline file; String renders it as
// file:line:col: message and a *Diagnostic is the error for one problem.
type Diagnostic = yamlnode.Diagnostic

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

// ParsePipeline reads the trigger: and pr: sections of an azure-pipelines.yml; the rest of the
// file is not looked at. Every problem found is reported (joined, one file:line:col line
// each); on error the returned pipeline holds what could be read.
func ParsePipeline(filename string, data []byte) (*Pipeline, error) {
	root, err := yamlnode.Parse(filename, data)
	if err != nil {
		return nil, err
	}
	p := &parser{yamlnode.Reader{File: filename}}
	pl := &Pipeline{File: filename}
	switch {
	case root == nil:
		// An empty file has no trigger sections: the defaults apply.
	case root.Kind != yaml.MappingNode:
		p.Errorf(root, "pipeline must be a mapping, got %s", yamlnode.KindName(root))
	default:
		// Only the two trigger keys are looked at, so only their repetition is reported.
		seen := map[string]*yaml.Node{}
		for i := 0; i+1 < len(root.Content); i += 2 {
			k, v := yamlnode.Resolve(root.Content[i]), yamlnode.Resolve(root.Content[i+1])
			if k.Value != "trigger" && k.Value != "pr" {
				continue
			}
			if first, dup := seen[k.Value]; dup {
				p.Errorf(k, "key %q is repeated; first defined at line %d", k.Value, first.Line)
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
	pl.warnings = p.Warnings
	return pl, p.Err()
}

// parser reads the trigger sections, collecting every problem.
type parser struct {
	yamlnode.Reader
}

// known reports whether key k is one of allowed, reporting it otherwise.
func (p *parser) known(k *yaml.Node, field string, allowed []string) bool {
	if slices.Contains(allowed, k.Value) {
		return true
	}
	p.Errorf(k, "%s: unknown key %q; expected one of %s", field, k.Value, yamlnode.QuoteList(allowed))
	return false
}

// shortForm reads the forms trigger: and pr: share besides a mapping: none, and a list of
// branches to include. mapping is true when n is a mapping, left for the caller to read.
func (p *parser) shortForm(field string, n *yaml.Node) (none bool, branches *RefFilter, mapping bool) {
	switch {
	case isNone(n):
		return true, nil, false
	case n.Kind == yaml.SequenceNode:
		return false, p.refFilter("branch", field, n, "", nil), false
	case n.Kind != yaml.MappingNode:
		p.Errorf(n, "%s: expected none, a list of branches or a mapping, got %s", field, yamlnode.KindName(n))
		return false, nil, false
	}
	return false, nil, true
}

func (p *parser) parseTrigger(n *yaml.Node) *Trigger {
	const field = "trigger"
	t := &Trigger{}
	var mapping bool
	if t.None, t.Branches, mapping = p.shortForm(field, n); !mapping {
		return t
	}
	var branches, tags, paths *yaml.Node
	for k, v := range p.Pairs(n, field) {
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
			p.Warnf(paths, "trigger.paths without trigger.branches: Ferry includes every branch, but older Azure DevOps Server versions never trigger such a pipeline; list the branches explicitly")
		}
	}
	return t
}

func (p *parser) parsePR(n *yaml.Node) *PRTrigger {
	const field = "pr"
	t := &PRTrigger{AutoCancel: true, Drafts: true}
	var mapping bool
	if t.None, t.Branches, mapping = p.shortForm(field, n); !mapping {
		return t
	}
	var branches *yaml.Node
	for k, v := range p.Pairs(n, field) {
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
	return n.Kind == yaml.ScalarNode && !yamlnode.IsNull(n) && n.Value == "none"
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
	p.Errorf(n, "%s: expected true or false, got %s", field, yamlnode.KindName(n))
	return false
}

// refFilter builds a branch or tag filter from include and exclude list nodes (either may be
// nil), reporting each bad entry at its own position. It returns nil after errors.
func (p *parser) refFilter(what, incField string, incNode *yaml.Node, excField string, excNode *yaml.Node) *RefFilter {
	ok := true
	values := func(field string, n *yaml.Node) []string {
		if n == nil {
			return nil
		}
		items, good := p.List(field, n)
		ok = ok && good
		out := make([]string, 0, len(items))
		for _, it := range items {
			if _, err := compileRef(it.Value, it.Value); err != nil {
				p.Errorf(it.Node, "%s: %s pattern %q: %v", it.Field, what, it.Value, err)
				ok = false
				continue
			}
			if strings.HasPrefix(it.Value, "!") {
				p.Warnf(it.Node, "%s: %q: Azure has no '!' negation, so this only matches a name starting with '!'; list it under exclude instead", it.Field, it.Value)
			}
			out = append(out, it.Value)
		}
		if good && len(items) == 0 {
			p.Warnf(n, "%s: empty list", field)
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
		p.Errs = append(p.Errs, fmt.Errorf("%s: %s: %w", p.File, incField, err))
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
		p.Errorf(n, "%s: expected a mapping with include and/or exclude lists, got %s", field, yamlnode.KindName(n))
		return nil, nil, false
	}
	ok = true
	for k, v := range p.Pairs(n, field) {
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
		items, good := p.List(field, n)
		ok = ok && good
		out := make([]string, 0, len(items))
		for _, it := range items {
			pat, err := CompilePathPattern(it.Value)
			if err != nil {
				p.Errorf(it.Node, "%s: %v", it.Field, err)
				ok = false
				continue
			}
			if pat.re != nil {
				p.Warnf(it.Node, "%s: %q: wildcards in path filters need Azure DevOps Server 2022 or later (or Services); Ferry reads '*' and '?' within one folder name and '**' across folders", it.Field, it.Value)
			}
			out = append(out, it.Value)
		}
		if good && len(items) == 0 {
			p.Warnf(n, "%s: empty list", field)
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
		p.Errs = append(p.Errs, fmt.Errorf("%s: %s: %w", p.File, field, err))
		return nil
	}
	if incNode != nil && len(inc) == 0 {
		// An explicitly empty include list includes nothing, unlike a missing one.
		f.implicit = false
	}
	return f
}
