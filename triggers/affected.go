package triggers

import (
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/ferry-ci/ferry/triggers/azure"
)

// Service is what deciding the affected services needs to know of one service: its folder,
// its extra path filter entries and what it depends on.
type Service struct {
	Name string
	// Path is the service's folder, relative to the repository root.
	Path string
	// Paths adds or removes paths with Azure Pipelines path filter semantics.
	Paths     Filter
	DependsOn []Dependency
}

// Filter is an include/exclude list of path, branch or tag patterns with Azure Pipelines
// semantics.
type Filter struct {
	Include []string
	Exclude []string
}

// Empty reports whether the filter has no entries.
func (f Filter) Empty() bool { return len(f.Include) == 0 && len(f.Exclude) == 0 }

// Dependency is one entry of a service's dependsOn, or of the dependencies every service has:
// another service, a shared folder, a file (go.mod) or a glob of files (proto/**/*.proto).
// Exactly one field is set.
type Dependency struct {
	Service string
	Folder  string
	File    string
	// Glob has the path filter syntax: * and ? within one name, ** across folders.
	Glob string
}

// Path is the folder, file or glob the entry names; "" for a service.
func (d Dependency) Path() string {
	switch {
	case d.Folder != "":
		return d.Folder
	case d.File != "":
		return d.File
	}
	return d.Glob
}

// Pattern compiles the entry's path as a path filter entry: a folder covers everything below
// it, a file itself, a glob what it matches (and, like every path entry, what lies below a
// folder it matches).
func (d Dependency) Pattern() (*azure.PathPattern, error) {
	if d.Service != "" || d.Path() == "" {
		return nil, fmt.Errorf("dependency %+v names no path", d)
	}
	return azure.CompilePathPattern(d.Path())
}

// entryKind says why a path filter entry belongs to a service.
type entryKind int

const (
	ownPath    entryKind = iota // the service's path
	pathsInc                    // an entry of paths.include
	pathsExc                    // an entry of paths.exclude
	dependency                  // a shared folder in dependsOn
)

// entry is one path filter entry of one service.
type entry struct {
	service int
	kind    entryKind
	raw     string
	pattern *azure.PathPattern
	// literal entries are covered exactly when they sit on the walked path, so they need no
	// pattern evaluation.
	literal bool
}

// trieNode indexes entries by the literal folder in front of their first wildcard.
type trieNode struct {
	children map[string]*trieNode
	entries  []*entry
}

// Index maps changed paths to services. It is built once per config; Affected walks each path
// down a prefix trie of the services' folders instead of testing every path against every
// pattern.
type Index struct {
	services []Service
	root     trieNode
	// dependents[i] lists the services that name service i in dependsOn.
	dependents [][]int
	// global are the paths every service depends on: few, so each changed path is tested
	// against each of them rather than through the trie, where they would be entries of
	// every service.
	global []*azure.PathPattern
}

// NewIndex builds the index for the services, which keep their order in every answer. A
// change to a path of global (globalDependencies) affects every service.
func NewIndex(services []Service, global ...Dependency) (*Index, error) {
	ix := &Index{services: slices.Clone(services), dependents: make([][]int, len(services))}
	for _, d := range global {
		p, err := d.Pattern()
		if err != nil {
			return nil, fmt.Errorf("global dependency: %w", err)
		}
		ix.global = append(ix.global, p)
	}
	pos := map[string]int{}
	for i, s := range services {
		pos[s.Name] = i
	}
	for i, s := range services {
		add := func(kind entryKind, raw string) error {
			p, err := azure.CompilePathPattern(raw)
			if err != nil {
				return fmt.Errorf("service %s: %w", s.Name, err)
			}
			e := &entry{service: i, kind: kind, raw: raw, pattern: p, literal: !strings.ContainsAny(raw, "*?")}
			ix.insert(p.LiteralDir(), e)
			return nil
		}
		if s.Path != "" {
			if err := add(ownPath, s.Path); err != nil {
				return nil, err
			}
		}
		for _, inc := range s.Paths.Include {
			if err := add(pathsInc, inc); err != nil {
				return nil, err
			}
		}
		for _, exc := range s.Paths.Exclude {
			if err := add(pathsExc, exc); err != nil {
				return nil, err
			}
		}
		for _, d := range s.DependsOn {
			if d.Service != "" {
				j, ok := pos[d.Service]
				if !ok {
					return nil, fmt.Errorf("service %s depends on unknown service %s", s.Name, d.Service)
				}
				ix.dependents[j] = append(ix.dependents[j], i)
				continue
			}
			if err := add(dependency, d.Path()); err != nil {
				return nil, err
			}
		}
	}
	return ix, nil
}

func (ix *Index) insert(dir string, e *entry) {
	n := &ix.root
	if dir != "" {
		for _, seg := range strings.Split(dir, "/") {
			if n.children == nil {
				n.children = map[string]*trieNode{}
			}
			c := n.children[seg]
			if c == nil {
				c = &trieNode{}
				n.children[seg] = c
			}
			n = c
		}
	}
	n.entries = append(n.entries, e)
}

// Affected is one service a change affects, and why.
type Affected struct {
	Name    string   `json:"name"`
	Reasons []string `json:"reasons"`
}

// Unaffected is one service a change does not affect, and the rule that decided it.
type Unaffected struct {
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

// hit records, for one service, the first changed path that affected it (or, for a service
// it did not affect, that one of its paths.exclude entries kept out) and through which entry.
type hit struct {
	path  string
	entry *entry
	count int
}

// globalHit is the first changed path under a global dependency.
type globalHit struct {
	path    string
	pattern *azure.PathPattern
}

// Affected returns the services affected by the changed paths, in config order. A service is
// affected when a path is included by its own filter (its path, paths.include minus
// paths.exclude, most specific entry wins, as Azure Pipelines evaluates path filters) or by a
// shared folder, file or glob it depends on, or when a service it depends on is affected, or
// when a path is under a global dependency.
func (ix *Index) Affected(paths []string) []Affected {
	affected, _ := ix.Decide(paths)
	return affected
}

// Decide is Affected that also says, for every other service, why the changes leave it out.
func (ix *Index) Decide(paths []string) ([]Affected, []Unaffected) {
	hits := make([]*hit, len(ix.services))
	excluded := make([]*hit, len(ix.services))
	var global *globalHit
	// best holds, per service, the most specific entry covering the current path; reset per path.
	best := make([]*entry, len(ix.services))
	var touched []int
	for _, p := range paths {
		if global == nil {
			global = ix.globalHit(p)
		}
		touched = touched[:0]
		consider := func(n *trieNode) {
			for _, e := range n.entries {
				if !e.literal && !e.pattern.Covers(p) {
					continue
				}
				cur := best[e.service]
				if cur == nil {
					touched = append(touched, e.service)
				}
				if cur == nil || moreSpecific(e, cur) {
					best[e.service] = e
				}
			}
		}
		n := &ix.root
		consider(n)
		for rest := p; n != nil && rest != ""; {
			seg := rest
			if i := strings.IndexByte(rest, '/'); i >= 0 {
				seg, rest = rest[:i], rest[i+1:]
			} else {
				rest = ""
			}
			if n = n.children[seg]; n != nil {
				consider(n)
			}
		}
		for _, svc := range touched {
			e := best[svc]
			best[svc] = nil
			if e.kind == pathsExc {
				if excluded[svc] == nil {
					excluded[svc] = &hit{path: p, entry: e}
				}
				continue
			}
			if h := hits[svc]; h != nil {
				h.count++
				continue
			}
			hits[svc] = &hit{path: p, entry: e, count: 1}
		}
	}
	return ix.collect(hits, excluded, global)
}

// globalHit returns the global dependency that covers p, or nil.
func (ix *Index) globalHit(p string) *globalHit {
	for _, g := range ix.global {
		if g.Covers(p) {
			return &globalHit{path: p, pattern: g}
		}
	}
	return nil
}

// moreSpecific implements "the most specific entry wins; on a tie, exclude wins".
func moreSpecific(a, b *entry) bool {
	sa, sb := a.pattern.Specificity(), b.pattern.Specificity()
	if sa != sb {
		return sa > sb
	}
	return a.kind == pathsExc && b.kind != pathsExc
}

func (ix *Index) collect(hits, excluded []*hit, global *globalHit) ([]Affected, []Unaffected) {
	reasons := make([][]string, len(ix.services))
	for i, h := range hits {
		if h != nil {
			reasons[i] = append(reasons[i], h.reason())
		}
	}
	var queue []int
	if global != nil {
		// Every service is affected; the propagation below only adds reasons.
		for i := range ix.services {
			reasons[i] = append(reasons[i], global.reason())
		}
	}
	// Propagate through service dependencies, breadth first, in config order.
	for i := range reasons {
		if len(reasons[i]) > 0 {
			queue = append(queue, i)
		}
	}
	for len(queue) > 0 {
		dep := queue[0]
		queue = queue[1:]
		for _, svc := range ix.dependents[dep] {
			first := len(reasons[svc]) == 0
			reasons[svc] = append(reasons[svc], fmt.Sprintf("depends on service %s (affected)", ix.services[dep].Name))
			if first {
				queue = append(queue, svc)
			}
		}
	}
	var out []Affected
	var not []Unaffected
	for i, r := range reasons {
		if len(r) > 0 {
			out = append(out, Affected{Name: ix.services[i].Name, Reasons: dedupe(r)})
			continue
		}
		why := ix.services[i].unmatched()
		if e := excluded[i]; e != nil {
			why = fmt.Sprintf("excluded by paths.exclude %s (changed: %s)", e.entry.raw, e.path)
		}
		not = append(not, Unaffected{Name: ix.services[i].Name, Reason: why})
	}
	return out, not
}

func (g *globalHit) reason() string {
	if g.path == g.pattern.String() {
		return fmt.Sprintf("globalDependencies: %s changed", g.path)
	}
	return fmt.Sprintf("globalDependencies: %s changed (%s)", g.path, g.pattern)
}

// unmatched says why no changed path affects the service: where a change would have.
func (s Service) unmatched() string {
	var where []string
	if s.Path != "" {
		where = append(where, s.Path)
	}
	where = append(where, s.Paths.Include...)
	var deps []string
	for _, d := range s.DependsOn {
		if d.Service != "" {
			deps = append(deps, "service "+d.Service)
		} else {
			deps = append(deps, d.Path())
		}
	}
	msg := "no changed path under " + strings.Join(where, ", ")
	if len(where) == 0 {
		msg = "no changed path matches its paths"
	}
	if len(deps) > 0 {
		msg += " or its dependencies (" + strings.Join(deps, ", ") + ")"
	}
	return msg
}

func (h *hit) reason() string {
	var r string
	switch h.entry.kind {
	case ownPath:
		r = fmt.Sprintf("%s under %s", h.path, h.entry.raw)
	case pathsInc:
		r = fmt.Sprintf("%s matches paths.include %q", h.path, h.entry.raw)
	case dependency:
		r = fmt.Sprintf("depends on %s (changed: %s)", h.entry.raw, h.path)
	}
	if h.count > 1 {
		r += fmt.Sprintf(" and %d more changed paths", h.count-1)
	}
	return r
}

func dedupe(list []string) []string {
	seen := map[string]bool{}
	out := list[:0]
	for _, s := range list {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// all marks every service affected, for events whose changes cannot be known.
func (ix *Index) all(why string) []Affected {
	out := make([]Affected, len(ix.services))
	for i, s := range ix.services {
		out[i] = Affected{Name: s.Name, Reasons: []string{"every service is affected: " + why}}
	}
	return out
}

// except lists every service but the one named as unaffected, for one reason.
func (ix *Index) except(name, why string) []Unaffected {
	var out []Unaffected
	for _, s := range ix.services {
		if s.Name != name {
			out = append(out, Unaffected{Name: s.Name, Reason: why})
		}
	}
	return out
}

// has reports whether a service of that name is indexed.
func (ix *Index) has(name string) bool {
	return slices.ContainsFunc(ix.services, func(s Service) bool { return s.Name == name })
}

// names lists the indexed services in order.
func (ix *Index) names() []string {
	names := make([]string, len(ix.services))
	for i, s := range ix.services {
		names[i] = s.Name
	}
	return names
}

// sortedUnique sorts paths and drops duplicates in place.
func sortedUnique(paths []string) []string {
	sort.Strings(paths)
	out := paths[:0]
	for i, p := range paths {
		if i == 0 || p != paths[i-1] {
			out = append(out, p)
		}
	}
	return out
}

// CleanPaths normalises changed paths given by a user or another tool: forward slashes,
// path.Clean, no leading ./, no blanks; sorted and without duplicates. A path that leaves the
// repository (../x, /etc/passwd, C:/x) is an error naming it.
func CleanPaths(paths []string) ([]string, error) {
	out := make([]string, 0, len(paths))
	for _, raw := range paths {
		p := strings.TrimSpace(strings.ReplaceAll(raw, "\\", "/"))
		if p == "" {
			continue
		}
		if strings.HasPrefix(p, "/") || (len(p) > 1 && p[1] == ':') {
			return nil, fmt.Errorf("changed path %q is absolute: give it relative to the repository", raw)
		}
		p = path.Clean(p)
		if p == ".." || strings.HasPrefix(p, "../") {
			return nil, fmt.Errorf("changed path %q leaves the repository", raw)
		}
		if p != "." {
			out = append(out, p)
		}
	}
	return sortedUnique(out), nil
}

// ScopePaths keeps the paths under prefix, made relative to it: the view of a monorepo that is
// a folder of a larger repository. An empty prefix keeps every path.
func ScopePaths(paths []string, prefix string) []string {
	if prefix == "" {
		return paths
	}
	out := make([]string, 0, len(paths))
	for _, p := range paths {
		if rest, ok := strings.CutPrefix(p, prefix+"/"); ok {
			out = append(out, rest)
		}
	}
	return out
}
