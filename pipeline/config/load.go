package config

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/ferry-ci/ferry/internal/yamlnode"
	"github.com/ferry-ci/ferry/triggers/azure"
	"gopkg.in/yaml.v3"
)

// Load reads and validates the config file. The repository root is the file's directory. On
// problems it returns the partly filled config and an Errors value listing all of them.
func Load(file string) (*Config, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(file, filepath.Dir(file), data)
}

// Parse decodes and validates config data. file names the config in messages; root is the
// repository root that service folders are checked against ("" skips the checks on disk).
func Parse(file, root string, data []byte) (*Config, error) {
	l := &loader{decoder: decoder{file: file}, root: root}
	cfg := l.load(data)
	sum := sha256.Sum256(data)
	cfg.Digest = "sha256:" + hex.EncodeToString(sum[:])
	if len(l.errs) > 0 {
		return cfg, l.errs.sorted()
	}
	return cfg, nil
}

type loader struct {
	decoder
	root string
	cfg  *Config
	// positions kept for checks that need every service first
	depNodes    map[*Service][]*yaml.Node
	globalNodes []*yaml.Node
	stageNodes  map[*Trigger][]*yaml.Node
	stagesNode  map[*Trigger]*yaml.Node
}

var (
	serviceNameRE = regexp.MustCompile(`^[a-z0-9]+(?:[._-][a-z0-9]+)*$`)
	envNameRE     = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)
	envVarRE      = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	registryRE    = regexp.MustCompile(`^[A-Za-z0-9.-]+(:[0-9]+)?(/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$`)
)

func (l *loader) load(data []byte) *Config {
	cfg := &Config{File: l.file, Root: l.root, Trunk: "main"}
	l.cfg = cfg
	l.depNodes = map[*Service][]*yaml.Node{}
	l.stageNodes = map[*Trigger][]*yaml.Node{}
	l.stagesNode = map[*Trigger]*yaml.Node{}

	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		l.errs = append(l.errs, yamlError(l.file, err))
		return cfg
	}
	if len(doc.Content) == 0 {
		l.errorf(nil, "", "the file is empty (expected at least version, services and triggers)")
		return cfg
	}
	root := yamlnode.Resolve(doc.Content[0])
	var versionNode *yaml.Node
	seen := l.mapping(root, "", []field{
		{"version", func(p string, v *yaml.Node) { versionNode = v; cfg.Version = l.integer(v, p) }},
		{"trunk", func(p string, v *yaml.Node) { cfg.Trunk = l.branchName(v, p) }},
		{"registry", func(p string, v *yaml.Node) { cfg.Registry = l.registry(v, p) }},
		{"state", func(p string, v *yaml.Node) { cfg.State = l.state(v, p) }},
		{"releaseBranch", func(p string, v *yaml.Node) { cfg.ReleaseBranch, cfg.ReleaseBranchPos = l.str(v, p), posOf(v) }},
		{"releaseTag", func(p string, v *yaml.Node) { cfg.ReleaseTag, cfg.ReleaseTagPos = l.str(v, p), posOf(v) }},
		{"services", func(p string, v *yaml.Node) { l.services(v, p) }},
		{"triggers", func(p string, v *yaml.Node) { l.triggers(v, p) }},
		{"environments", func(p string, v *yaml.Node) { l.environments(v, p) }},
		{"stages", func(p string, v *yaml.Node) { l.stageOptions(v, p) }},
		{"scan", func(p string, v *yaml.Node) { cfg.Scan = l.scanPolicy(v, p) }},
		{"secrets", func(p string, v *yaml.Node) { l.secrets(v, p) }},
		{"finally", func(p string, v *yaml.Node) { cfg.Finally = l.finally(v, p) }},
		{"globalDependencies", func(p string, v *yaml.Node) { _, l.globalNodes = l.strings(v, p) }},
		{"globalEnv", func(p string, v *yaml.Node) { cfg.GlobalEnv = l.envNames(v, p) }},
		{"cache", func(p string, v *yaml.Node) { cfg.Cache = l.cacheOptions(v, p) }},
	})
	switch {
	case !seen["version"]:
		l.errorf(root, "", "missing key \"version\" (write version: 1)")
	case cfg.Version != 1 && versionNode != nil && versionNode.Tag == "!!int":
		l.errorf(versionNode, "version", "unsupported version %d (this Ferry reads version 1)", cfg.Version)
	}
	if !seen["services"] && root.Kind == yaml.MappingNode {
		l.errorf(root, "", "missing key \"services\"")
	}
	for i, e := range cfg.Environments {
		if e.RegistryNamespace != "" && cfg.Registry == "" {
			l.errs = append(l.errs, Error{File: l.file, Pos: e.Pos, Field: fmt.Sprintf("environments[%d].registryNamespace", i),
				Msg: "promoting to a registry namespace needs a top-level registry"})
		}
	}
	l.resolveDependencies()
	l.resolveGlobalDependencies()
	l.checkCycles()
	l.checkTriggerStages()
	return cfg
}

// yamlError turns a yaml.v3 syntax error ("yaml: line 3: ...") into a positioned Error. Config
// errors never carried the "invalid YAML: " the trigger readers put first, so it is dropped.
func yamlError(file string, err error) Error {
	var d *yamlnode.Diagnostic
	if errors.As(yamlnode.SyntaxError(file, err), &d) {
		return Error{File: file, Pos: Pos{Line: d.Line, Col: d.Column}, Msg: strings.TrimPrefix(d.Message, "invalid YAML: ")}
	}
	msg := err.Error()
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msg = strings.Join(te.Errors, "; ")
	}
	return Error{File: file, Msg: strings.TrimPrefix(msg, "yaml: ")}
}

func (l *loader) branchName(n *yaml.Node, p string) string {
	s := l.str(n, p)
	if s == "" || strings.ContainsAny(s, " ~^:?*[\\") || strings.HasPrefix(s, "/") || strings.HasSuffix(s, "/") {
		l.errorf(n, p, "invalid branch name %q", s)
		return "main"
	}
	return strings.TrimPrefix(s, "refs/heads/")
}

func (l *loader) registry(n *yaml.Node, p string) string {
	s := l.str(n, p)
	if err := CheckRegistry(s); err != nil {
		l.errorf(n, p, "%v", err)
		return ""
	}
	return s
}

// CheckRegistry checks a registry address: host[:port][/namespace], no scheme.
func CheckRegistry(s string) error {
	if strings.Contains(s, "://") {
		return fmt.Errorf("registry %q must not have a scheme (write host[:port][/namespace])", s)
	}
	if !registryRE.MatchString(s) {
		return fmt.Errorf("invalid registry %q (write host[:port][/namespace], lower case)", s)
	}
	return nil
}

func (l *loader) state(n *yaml.Node, p string) string {
	s := l.str(n, p)
	switch {
	case s == "" || s == "local":
		return ""
	case strings.HasPrefix(s, "oci://") && registryRE.MatchString(strings.TrimPrefix(s, "oci://")) && strings.Contains(strings.TrimPrefix(s, "oci://"), "/"):
		return s
	}
	l.errorf(n, p, "invalid state %q (expected local or oci://host/repository)", s)
	return ""
}

// repoPath checks a path relative to the repository root and returns it cleaned, with '/'.
func (l *loader) repoPath(n *yaml.Node, p, s string) (string, bool) {
	if s == "" {
		l.errorf(n, p, "empty path")
		return "", false
	}
	if strings.HasPrefix(s, "/") || filepath.IsAbs(s) {
		l.errorf(n, p, "path %q must be relative to the repository root", s)
		return "", false
	}
	c := path.Clean(filepath.ToSlash(s))
	if c == ".." || strings.HasPrefix(c, "../") {
		l.errorf(n, p, "path %q is outside the repository", s)
		return "", false
	}
	if c == "." {
		c = ""
	}
	return c, true
}

func (l *loader) dirExists(rel string) bool {
	if l.root == "" {
		return true
	}
	st, err := os.Stat(filepath.Join(l.root, filepath.FromSlash(rel)))
	return err == nil && st.IsDir()
}

func (l *loader) services(n *yaml.Node, p string) {
	l.namedMapping(n, p, func(name string, key, v *yaml.Node) {
		sp := join(p, name)
		s := &Service{Name: name, Pos: posOf(key), ImageValues: DefaultImageValues()}
		if !serviceNameRE.MatchString(name) || len(name) > 63 {
			l.errorf(key, sp, "invalid service name %q (lower-case letters, digits and . _ - between them; it becomes an image repository name)", name)
		}
		l.cfg.Services = append(l.cfg.Services, s)
		var pathNode, outputs *yaml.Node
		var outputsPath string
		seen := l.mapping(v, sp, []field{
			{"path", func(fp string, v *yaml.Node) {
				pathNode = v
				if v.Kind != yaml.ScalarNode {
					l.str(v, fp)
					return
				}
				if rel, ok := l.repoPath(v, fp, l.str(v, fp)); ok {
					s.Path = rel
					if rel == "" {
						l.errorf(v, fp, "a service cannot be the whole repository")
					} else if !l.dirExists(rel) {
						l.errorf(v, fp, "folder %q does not exist", rel)
					}
				}
			}},
			{"paths", func(fp string, v *yaml.Node) { s.Paths = l.pathFilter(v, fp) }},
			{"dependsOn", func(fp string, v *yaml.Node) {
				_, nodes := l.strings(v, fp)
				l.depNodes[s] = nodes
			}},
			{"build", func(fp string, v *yaml.Node) { s.Build = l.command(v, fp) }},
			{"test", func(fp string, v *yaml.Node) { s.Test = l.command(v, fp) }},
			{"env", func(fp string, v *yaml.Node) { s.Env = l.stringMap(v, fp) }},
			{"passEnv", func(fp string, v *yaml.Node) { s.PassEnv = l.envNames(v, fp) }},
			{"cacheEnv", func(fp string, v *yaml.Node) { s.CacheEnv = l.envNames(v, fp) }},
			{"image", func(fp string, v *yaml.Node) { s.Image = l.image(v, fp) }},
			{"chart", func(fp string, v *yaml.Node) {
				if rel, ok := l.repoPath(v, fp, l.str(v, fp)); ok {
					s.Chart = rel
					if !l.dirExists(rel) {
						l.errorf(v, fp, "chart folder %q does not exist", rel)
					}
				}
			}},
			{"scan", func(fp string, v *yaml.Node) { sc := l.scanPolicy(v, fp); s.Scan = &sc }},
			{"imageValues", func(fp string, v *yaml.Node) { s.ImageValues = l.imageValues(v, fp) }},
			{"outputs", func(fp string, v *yaml.Node) { outputs, outputsPath = v, fp }},
		})
		if outputs != nil {
			s.Outputs = l.outputs(outputs, outputsPath, s.Path)
		}
		if !seen["path"] && pathNode == nil && v.Kind == yaml.MappingNode {
			l.errorf(key, sp, "missing key \"path\" (the service's folder)")
		}
	})
}

func (l *loader) pathFilter(n *yaml.Node, p string) PathFilter {
	include, exclude := l.includeExclude(n, p, func(e string) error {
		if _, err := azure.CompilePathPattern(e); err != nil {
			return err
		}
		if c := path.Clean(strings.Trim(e, "/")); c == ".." || strings.HasPrefix(c, "../") {
			return fmt.Errorf("path %q is outside the repository", e)
		}
		return nil
	})
	return PathFilter{Include: include, Exclude: exclude}
}

func (l *loader) refFilter(n *yaml.Node, p string, tags bool) RefFilter {
	compile := azure.NewBranchFilter
	if tags {
		compile = azure.NewTagFilter
	}
	include, exclude := l.includeExclude(n, p, func(e string) error {
		if _, err := compile([]string{e}, nil); err != nil {
			return errors.New(strings.TrimPrefix(err.Error(), "include[0]: "))
		}
		return nil
	})
	return RefFilter{Include: include, Exclude: exclude}
}

// includeExclude decodes an {include, exclude} mapping of string lists and returns the entries
// check accepts, reporting each one it rejects at the entry's own position.
func (l *loader) includeExclude(n *yaml.Node, p string, check func(entry string) error) (include, exclude []string) {
	var incNodes, excNodes []*yaml.Node
	l.mapping(n, p, []field{
		{"include", func(fp string, v *yaml.Node) { include, incNodes = l.strings(v, fp) }},
		{"exclude", func(fp string, v *yaml.Node) { exclude, excNodes = l.strings(v, fp) }},
	})
	keep := func(list []string, nodes []*yaml.Node, fp string) []string {
		var ok []string
		for i, e := range list {
			if err := check(e); err != nil {
				l.errorf(nodes[i], fmt.Sprintf("%s[%d]", fp, i), "%v", err)
				continue
			}
			ok = append(ok, e)
		}
		return ok
	}
	return keep(include, incNodes, join(p, "include")), keep(exclude, excNodes, join(p, "exclude"))
}

func (l *loader) command(n *yaml.Node, p string) *Command {
	if yamlnode.IsNull(n) {
		return nil
	}
	c := &Command{Pos: posOf(n)}
	switch n.Kind {
	case yaml.ScalarNode:
		c.Line = strings.TrimSpace(n.Value)
		if c.Line == "" {
			l.errorf(n, p, "empty command")
			return nil
		}
	case yaml.SequenceNode:
		c.Args, _ = l.strings(n, p)
		if len(c.Args) == 0 {
			l.errorf(n, p, "empty command")
			return nil
		}
	default:
		l.errorf(n, p, "expected a command string or a list of arguments, got %s", yamlnode.KindName(n))
		return nil
	}
	return c
}

// finally decodes the finally hook: a command, or {run: COMMAND, timeout: DURATION}.
func (l *loader) finally(n *yaml.Node, p string) *Finally {
	if n.Kind != yaml.MappingNode {
		if c := l.command(n, p); c != nil {
			return &Finally{Command: *c}
		}
		return nil
	}
	f := &Finally{}
	var cmd *Command
	seen := l.mapping(n, p, []field{
		{"run", func(fp string, v *yaml.Node) { cmd = l.command(v, fp) }},
		{"timeout", func(fp string, v *yaml.Node) { f.Timeout = l.duration(v, fp) }},
	})
	if !seen["run"] {
		l.errorf(n, p, "missing key \"run\" (the command, e.g. finally: {run: ./ci/notify.sh, timeout: 2m})")
	}
	if cmd == nil {
		return nil
	}
	f.Command = *cmd
	return f
}

func (l *loader) image(n *yaml.Node, p string) *Image {
	img := &Image{Dockerfile: "Dockerfile", Context: ".", Builder: "auto", Platform: "linux/amd64"}
	rel := func(v *yaml.Node, fp string) string {
		s := l.str(v, fp)
		if strings.HasPrefix(s, "/") || filepath.IsAbs(s) {
			l.errorf(v, fp, "path %q must be relative to the service folder", s)
			return ""
		}
		return path.Clean(filepath.ToSlash(s))
	}
	l.mapping(n, p, []field{
		{"dockerfile", func(fp string, v *yaml.Node) { img.Dockerfile = rel(v, fp) }},
		{"context", func(fp string, v *yaml.Node) { img.Context = rel(v, fp) }},
		{"builder", func(fp string, v *yaml.Node) {
			if s := l.str(v, fp); l.oneOf(v, fp, s, builders) {
				img.Builder = s
			}
		}},
		{"platform", func(fp string, v *yaml.Node) {
			s := l.str(v, fp)
			if parts := strings.Split(s, "/"); len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
				l.errorf(v, fp, "invalid platform %q (expected os/arch[/variant], e.g. linux/amd64)", s)
				return
			}
			img.Platform = s
		}},
		{"target", func(fp string, v *yaml.Node) { img.Target = l.str(v, fp) }},
		{"args", func(fp string, v *yaml.Node) { img.Args = l.stringMap(v, fp) }},
	})
	return img
}

func (l *loader) triggers(n *yaml.Node, p string) {
	l.namedMapping(n, p, func(name string, key, v *yaml.Node) {
		tp := join(p, name)
		t := &Trigger{Name: name, Pos: posOf(key), Event: "push", Release: name == "release"}
		if name == "pr" {
			t.Event = "pr"
		}
		l.cfg.Triggers = append(l.cfg.Triggers, t)
		seen := l.mapping(v, tp, []field{
			{"event", func(fp string, v *yaml.Node) {
				if s := l.str(v, fp); l.oneOf(v, fp, s, []string{"push", "pr"}) {
					t.Event = s
				}
			}},
			{"release", func(fp string, v *yaml.Node) { t.Release = l.boolean(v, fp) }},
			{"branches", func(fp string, v *yaml.Node) { t.BranchesPos = posOf(v); t.Branches = l.refFilter(v, fp, false) }},
			{"tags", func(fp string, v *yaml.Node) { t.TagsPos = posOf(v); t.Tags = l.refFilter(v, fp, true) }},
			{"paths", func(fp string, v *yaml.Node) { t.Paths = l.pathFilter(v, fp) }},
			{"stages", func(fp string, v *yaml.Node) {
				l.stagesNode[t] = v
				t.Stages, l.stageNodes[t] = l.strings(v, fp)
			}},
		})
		if v.Kind == yaml.MappingNode && !seen["stages"] {
			l.errorf(key, tp, "missing key \"stages\" (e.g. stages: [build, test])")
		}
		if v.Kind == yaml.MappingNode && !seen["branches"] && !seen["tags"] {
			l.errorf(key, tp, "missing key \"branches\" (which branches this trigger runs for)")
		}
		if t.Release && t.Event != "push" {
			l.errorf(key, tp, "a release trigger must have event push")
		}
		if t.Release && !t.Paths.Empty() {
			l.errorf(key, tp, "a release trigger runs for the service its branch names whatever changed: remove paths")
		}
	})
}

func (l *loader) environments(n *yaml.Node, p string) {
	if yamlnode.IsNull(n) {
		return
	}
	if n.Kind != yaml.SequenceNode {
		l.errorf(n, p, "expected an ordered list of environments, got %s", yamlnode.KindName(n))
		return
	}
	first := map[string]*yaml.Node{}
	for i, item := range n.Content {
		item = yamlnode.Resolve(item)
		ep := fmt.Sprintf("%s[%d]", p, i)
		e := &Environment{Pos: posOf(item)}
		var nameNode *yaml.Node
		l.mapping(item, ep, []field{
			{"name", func(fp string, v *yaml.Node) { nameNode = v; e.Name = l.str(v, fp) }},
			{"kubeContext", func(fp string, v *yaml.Node) { e.KubeContext = l.str(v, fp) }},
			{"namespace", func(fp string, v *yaml.Node) {
				e.Namespace = l.str(v, fp)
				if !envNameRE.MatchString(e.Namespace) {
					l.errorf(v, fp, "invalid Kubernetes namespace %q", e.Namespace)
				}
			}},
			{"registryNamespace", func(fp string, v *yaml.Node) {
				e.RegistryNamespace = l.str(v, fp)
				if !registryRE.MatchString("h/" + e.RegistryNamespace) {
					l.errorf(v, fp, "invalid registry namespace %q", e.RegistryNamespace)
				}
			}},
			{"approval", func(fp string, v *yaml.Node) { e.Approval = l.approval(v, fp) }},
			{"createNamespace", func(fp string, v *yaml.Node) { e.CreateNamespace = l.boolean(v, fp) }},
			{"values", func(fp string, v *yaml.Node) { e.Values = l.valuesFiles(v, fp) }},
			{"set", func(fp string, v *yaml.Node) { e.Set = l.stringMap(v, fp) }},
			{"timeout", func(fp string, v *yaml.Node) { e.Timeout = l.duration(v, fp) }},
		})
		if item.Kind != yaml.MappingNode {
			continue
		}
		switch {
		case nameNode == nil:
			l.errorf(item, ep, "missing key \"name\"")
			continue
		case !envNameRE.MatchString(e.Name):
			l.errorf(nameNode, join(ep, "name"), "invalid environment name %q (lower-case letters, digits and -)", e.Name)
		}
		if prev, dup := first[e.Name]; dup {
			l.errorf(nameNode, join(ep, "name"), "duplicate environment %q (first defined at line %d:%d)", e.Name, prev.Line, prev.Column)
			continue
		}
		first[e.Name] = nameNode
		l.cfg.Environments = append(l.cfg.Environments, e)
	}
}

// valuesFiles reads an environment's values files, which must exist.
func (l *loader) valuesFiles(n *yaml.Node, p string) []string {
	list, nodes := l.strings(n, p)
	var out []string
	for i, f := range list {
		fp := fmt.Sprintf("%s[%d]", p, i)
		rel, ok := l.repoPath(nodes[i], fp, f)
		if !ok {
			continue
		}
		if !l.fileExists(rel) {
			l.errorf(nodes[i], fp, "values file %q does not exist", rel)
			continue
		}
		out = append(out, rel)
	}
	return out
}

// imageValues reads a service's imageValues; unset keys keep their defaults.
func (l *loader) imageValues(n *yaml.Node, p string) ImageValues {
	iv := DefaultImageValues()
	l.mapping(n, p, []field{
		{"repository", func(fp string, v *yaml.Node) { iv.Repository = l.str(v, fp) }},
		{"tag", func(fp string, v *yaml.Node) { iv.Tag = l.str(v, fp) }},
		{"digest", func(fp string, v *yaml.Node) { iv.Digest = l.str(v, fp) }},
	})
	return iv
}

func (l *loader) approval(n *yaml.Node, p string) *Approval {
	a := &Approval{MinApprovals: 1, Signed: true}
	var approversNode, minNode, signersNode *yaml.Node
	var approverNodes []*yaml.Node
	var groupNodes [][]*yaml.Node
	l.mapping(n, p, []field{
		{"approvers", func(fp string, v *yaml.Node) { approversNode = v; a.Approvers, approverNodes = l.strings(v, fp) }},
		{"minApprovals", func(fp string, v *yaml.Node) { minNode = v; a.MinApprovals = l.integer(v, fp) }},
		{"allowedSigners", func(fp string, v *yaml.Node) {
			signersNode = v
			if rel, ok := l.repoPath(v, fp, l.str(v, fp)); ok {
				a.AllowedSigners = rel
				if !l.fileExists(rel) {
					l.errorf(v, fp, "allowed signers file %q does not exist", rel)
				}
			}
		}},
		{"signed", func(fp string, v *yaml.Node) { a.Signed = l.boolean(v, fp) }},
		{"groups", func(fp string, v *yaml.Node) { groupNodes = l.approverGroups(v, fp, a) }},
		{"excludeRequester", func(fp string, v *yaml.Node) { a.ExcludeRequester = l.boolean(v, fp) }},
		{"excludeAuthors", func(fp string, v *yaml.Node) { a.ExcludeAuthors = l.boolean(v, fp) }},
		{"timeout", func(fp string, v *yaml.Node) { a.Timeout = l.duration(v, fp) }},
	})
	if n.Kind != yaml.MappingNode {
		return a
	}
	l.checkPrincipals(a, p, approverNodes, groupNodes)
	if minNode != nil && a.MinApprovals < 1 {
		l.errorf(minNode, join(p, "minApprovals"), "must be at least 1")
	}
	if len(a.Approvers) > 0 && a.MinApprovals > len(a.Approvers) && minNode != nil {
		l.errorf(minNode, join(p, "minApprovals"), "%d approvals needed but only %d approvers listed", a.MinApprovals, len(a.Approvers))
	}
	switch {
	case approversNode != nil && len(a.Approvers) == 0:
		l.errorf(approversNode, join(p, "approvers"), "an empty list lets nobody approve: list principals, or leave the key out to allow every allowed signer")
	case a.Signed && signersNode == nil:
		l.errorf(n, p, "missing key \"allowedSigners\" (an allowed_signers file in git's format; or signed: false for advisory, unsigned approvals)")
	case !a.Signed && approversNode == nil:
		l.errorf(n, p, "missing key \"approvers\": unsigned approvals (signed: false) need the list of who may approve")
	}
	return a
}

// approverGroups reads groups: {NAME: {principals: [...], min: N}} in file order (min
// defaults to 1) and returns each group's principal nodes for checkPrincipals.
func (l *loader) approverGroups(n *yaml.Node, p string, a *Approval) [][]*yaml.Node {
	var nodes [][]*yaml.Node
	l.namedMapping(n, p, func(name string, key, v *yaml.Node) {
		gp := join(p, name)
		g := ApproverGroup{Name: name, Min: 1}
		var principalsNode, minNode *yaml.Node
		var pnodes []*yaml.Node
		l.mapping(v, gp, []field{
			{"principals", func(fp string, v *yaml.Node) { principalsNode = v; g.Principals, pnodes = l.strings(v, fp) }},
			{"min", func(fp string, v *yaml.Node) { minNode = v; g.Min = l.integer(v, fp) }},
		})
		if v.Kind != yaml.MappingNode {
			return
		}
		switch {
		case principalsNode == nil:
			l.errorf(v, gp, "missing key \"principals\" (the principals of the group, as allowed_signers names them)")
		case len(g.Principals) == 0:
			l.errorf(principalsNode, join(gp, "principals"), "an empty group can never approve")
		case minNode != nil && g.Min < 1:
			l.errorf(minNode, join(gp, "min"), "must be at least 1")
		case g.Min > len(g.Principals):
			at := v
			if minNode != nil {
				at = minNode
			}
			l.errorf(at, join(gp, "min"), "%d approvals needed but group %s lists only %d", g.Min, name, len(g.Principals))
		}
		a.Groups = append(a.Groups, g)
		nodes = append(nodes, pnodes)
	})
	return nodes
}

// checkPrincipals refuses a principal that could never approve: empty, outside the approvers
// when they narrow the signers, or (for signed approvals) not in the allowed_signers file. An
// error rather than a warning: such a group or quorum can never be met, and the gate would
// wait until its timeout for nobody.
func (l *loader) checkPrincipals(a *Approval, p string, approverNodes []*yaml.Node, groupNodes [][]*yaml.Node) {
	var known map[string]bool
	if a.Signed && a.AllowedSigners != "" {
		known = l.signerPrincipals(a.AllowedSigners)
	}
	check := func(who string, n *yaml.Node, fp string, inGroup bool) {
		switch {
		case strings.TrimSpace(who) == "":
			l.errorf(n, fp, "empty approver")
		case inGroup && len(a.Approvers) > 0 && !contains(a.Approvers, who):
			l.errorf(n, fp, "%s is not one of the approvers (%s)", who, strings.Join(a.Approvers, ", "))
		case known != nil && !known[who]:
			l.errorf(n, fp, "%s is not a principal of %s", who, a.AllowedSigners)
		}
	}
	for i, who := range a.Approvers {
		check(who, approverNodes[i], fmt.Sprintf("%s.approvers[%d]", p, i), false)
	}
	for gi, g := range a.Groups {
		for i, who := range g.Principals {
			if i < len(groupNodes[gi]) {
				check(who, groupNodes[gi][i], fmt.Sprintf("%s.groups.%s.principals[%d]", p, g.Name, i), true)
			}
		}
	}
}

// signerPrincipals reads the principals of an allowed_signers file (the first field of each
// line, comma-separated); nil when it cannot be read, which fileExists reports already.
func (l *loader) signerPrincipals(rel string) map[string]bool {
	data, err := os.ReadFile(filepath.Join(l.root, filepath.FromSlash(rel)))
	if err != nil || l.root == "" {
		return nil
	}
	out := map[string]bool{}
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		for _, who := range strings.Split(strings.Fields(line)[0], ",") {
			out[who] = true
		}
	}
	return out
}

func (l *loader) stageOptions(n *yaml.Node, p string) {
	l.cfg.Stages = map[string]*StageOptions{}
	var fields []field
	for _, name := range AllStages() {
		fields = append(fields, field{name, func(fp string, v *yaml.Node) {
			o := &StageOptions{}
			var retriesNode *yaml.Node
			l.mapping(v, fp, []field{
				{"timeout", func(fp string, v *yaml.Node) { o.Timeout = l.duration(v, fp) }},
				{"retries", func(fp string, v *yaml.Node) { retriesNode = v; o.Retries = l.integer(v, fp) }},
			})
			if retriesNode != nil {
				switch {
				case o.Retries < 0 || o.Retries > 10:
					l.errorf(retriesNode, join(fp, "retries"), "must be between 0 and 10")
				case o.Retries > 0 && !Retryable(name):
					l.errorf(retriesNode, join(fp, "retries"), "%s is not retryable (retryable stages: %s)", name, strings.Join(retryableStages, ", "))
					o.Retries = 0
				}
			}
			l.cfg.Stages[name] = o
		}})
	}
	l.mapping(n, p, fields)
}

// severities are the vulnerability severities, lowest first.
var severities = []string{"UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL"}

func (l *loader) scanPolicy(n *yaml.Node, p string) ScanPolicy {
	sp := ScanPolicy{}
	sp.set = l.mapping(n, p, []field{
		{"failOn", func(fp string, v *yaml.Node) {
			s := strings.ToUpper(l.str(v, fp))
			if l.oneOf(v, fp, s, severities) {
				sp.FailOn = s
			}
		}},
		{"ignoreUnfixed", func(fp string, v *yaml.Node) { sp.IgnoreUnfixed = l.boolean(v, fp) }},
		{"ignore", func(fp string, v *yaml.Node) { sp.Ignore = l.scanIgnores(v, fp) }},
		{"trivy", func(fp string, v *yaml.Node) {
			l.mapping(v, fp, []field{
				{"path", func(fp string, v *yaml.Node) { sp.Trivy.Path = l.str(v, fp) }},
				{"cacheDir", func(fp string, v *yaml.Node) { sp.Trivy.CacheDir = l.str(v, fp) }},
				{"offline", func(fp string, v *yaml.Node) { sp.Trivy.Offline = l.boolean(v, fp) }},
				{"dbRepository", func(fp string, v *yaml.Node) { sp.Trivy.DBRepository = l.str(v, fp) }},
				{"timeout", func(fp string, v *yaml.Node) { sp.Trivy.Timeout = l.duration(v, fp) }},
			})
		}},
	})
	return sp
}

func (l *loader) scanIgnores(n *yaml.Node, p string) []ScanIgnore {
	if yamlnode.IsNull(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		l.errorf(n, p, "expected a list of {id, reason, expires}, got %s", yamlnode.KindName(n))
		return nil
	}
	var out []ScanIgnore
	for i, item := range n.Content {
		item = yamlnode.Resolve(item)
		ip := fmt.Sprintf("%s[%d]", p, i)
		ig := ScanIgnore{Pos: posOf(item)}
		seen := l.mapping(item, ip, []field{
			{"id", func(fp string, v *yaml.Node) { ig.ID = l.str(v, fp) }},
			{"reason", func(fp string, v *yaml.Node) { ig.Reason = l.str(v, fp) }},
			{"expires", func(fp string, v *yaml.Node) { ig.Expires = l.date(v, fp) }},
		})
		if item.Kind != yaml.MappingNode {
			continue
		}
		for _, k := range []string{"id", "reason", "expires"} {
			if !seen[k] {
				l.errorf(item, ip, "missing key %q (every ignore entry needs an id, a reason and an expiry date)", k)
			}
		}
		out = append(out, ig)
	}
	return out
}

func (l *loader) secrets(n *yaml.Node, p string) { l.cfg.Secrets = l.envNames(n, p) }

// envNames decodes a list of environment variable names.
func (l *loader) envNames(n *yaml.Node, p string) []string {
	names, nodes := l.strings(n, p)
	var out []string
	for i, s := range names {
		if !envVarRE.MatchString(s) {
			l.errorf(nodes[i], fmt.Sprintf("%s[%d]", p, i), "invalid environment variable name %q", s)
			continue
		}
		out = append(out, s)
	}
	return out
}

// resolveDependencies turns each dependsOn entry into a service, a folder, a file or a glob,
// now that every service is known.
func (l *loader) resolveDependencies() {
	for _, s := range l.cfg.Services {
		for i, n := range l.depNodes[s] {
			p := fmt.Sprintf("services.%s.dependsOn[%d]", s.Name, i)
			name := n.Value
			if l.cfg.Service(name) != nil {
				if name == s.Name {
					l.errorf(n, p, "service %q depends on itself", name)
					continue
				}
				s.DependsOn = append(s.DependsOn, Dependency{Service: name, Pos: posOf(n)})
				continue
			}
			if d, ok := l.pathDependency(n, p, fmt.Sprintf("every change affect %q", s.Name)); ok {
				s.DependsOn = append(s.DependsOn, d)
			}
		}
	}
}

// resolveGlobalDependencies checks the globalDependencies entries: paths and globs only, since
// every service depending on a service would be a cycle.
func (l *loader) resolveGlobalDependencies() {
	for i, n := range l.globalNodes {
		p := fmt.Sprintf("globalDependencies[%d]", i)
		if l.cfg.Service(n.Value) != nil && !l.pathExists(n.Value) {
			l.errorf(n, p, "%q is a service: globalDependencies lists files, folders and globs (use dependsOn for services)", n.Value)
			continue
		}
		if d, ok := l.pathDependency(n, p, "every change affect every service"); ok {
			l.cfg.GlobalDependencies = append(l.cfg.GlobalDependencies, d)
		}
	}
}

// pathDependency resolves a dependency entry that is not a service: a glob that matches
// something, or an existing folder or file. whole says what depending on the repository root
// would do, for the message refusing it.
func (l *loader) pathDependency(n *yaml.Node, p, whole string) (Dependency, bool) {
	rel, ok := l.repoPath(n, p, n.Value)
	if !ok {
		return Dependency{}, false
	}
	if rel == "" {
		l.errorf(n, p, "depending on the whole repository makes %s; remove the entry or name a folder", whole)
		return Dependency{}, false
	}
	d := Dependency{Pos: posOf(n)}
	switch {
	case strings.ContainsAny(rel, "*?"):
		pat, err := azure.CompilePathPattern(rel)
		if err != nil {
			l.errorf(n, p, "%v", err)
			return Dependency{}, false
		}
		if !l.globMatches(pat) {
			l.errorf(n, p, "glob %q matches no file or folder", n.Value)
			return Dependency{}, false
		}
		d.Glob = rel
	case l.dirExists(rel):
		d.Folder = rel
	case l.fileExists(rel):
		d.File = rel
	default:
		l.errorf(n, p, "unknown service, folder or file %q", n.Value)
		return Dependency{}, false
	}
	return d, true
}

func (l *loader) fileExists(rel string) bool {
	st, err := os.Stat(filepath.Join(l.root, filepath.FromSlash(rel)))
	return err == nil && !st.IsDir()
}

// pathExists reports whether rel is on disk; without a root nothing is.
func (l *loader) pathExists(rel string) bool {
	if l.root == "" {
		return false
	}
	_, err := os.Lstat(filepath.Join(l.root, filepath.FromSlash(rel)))
	return err == nil
}

// errMatched stops the walk of globMatches at the first match.
var errMatched = errors.New("matched")

// globMatches reports whether a glob covers anything in the work tree. It walks only below
// the glob's literal folder and stops at the first match, so that validating
// proto/**/*.proto does not read the whole monorepo. Without a root every glob matches.
func (l *loader) globMatches(pat *azure.PathPattern) bool {
	if l.root == "" {
		return true
	}
	start := pat.LiteralDir()
	if start == "" {
		start = "."
	}
	err := fs.WalkDir(os.DirFS(l.root), start, func(p string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return nil // an unreadable folder matches nothing; keep looking elsewhere
		case d.IsDir() && d.Name() == ".git":
			return fs.SkipDir
		case p != "." && pat.Covers(p):
			return errMatched
		}
		return nil
	})
	return errors.Is(err, errMatched)
}

// cacheOptions decodes the cache section.
func (l *loader) cacheOptions(n *yaml.Node, p string) CacheOptions {
	var o CacheOptions
	l.mapping(n, p, []field{
		{"tools", func(fp string, v *yaml.Node) { o.Tools = l.commands(v, fp) }},
	})
	return o
}

// commands decodes a list of commands, each a string or a list of arguments.
func (l *loader) commands(n *yaml.Node, p string) []*Command {
	if yamlnode.IsNull(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		l.errorf(n, p, "expected a list of commands, got %s", yamlnode.KindName(n))
		return nil
	}
	var out []*Command
	for i, e := range n.Content {
		if c := l.command(yamlnode.Resolve(e), fmt.Sprintf("%s[%d]", p, i)); c != nil {
			out = append(out, c)
		}
	}
	return out
}

// checkCycles reports each cycle among service dependencies once, at the entry that closes it.
func (l *loader) checkCycles() {
	const (
		unvisited = iota
		active
		done
	)
	state := map[string]int{}
	var stack []string
	var visit func(s *Service)
	visit = func(s *Service) {
		state[s.Name] = active
		stack = append(stack, s.Name)
		for _, d := range s.DependsOn {
			if d.Service == "" {
				continue
			}
			switch state[d.Service] {
			case active:
				start := indexOf(stack, d.Service)
				cycle := append(append([]string(nil), stack[start:]...), d.Service)
				l.errs = append(l.errs, Error{File: l.file, Pos: d.Pos,
					Field: fmt.Sprintf("services.%s.dependsOn", s.Name),
					Msg:   "dependency cycle: " + strings.Join(cycle, " -> ")})
			case unvisited:
				visit(l.cfg.Service(d.Service))
			}
		}
		stack = stack[:len(stack)-1]
		state[s.Name] = done
	}
	for _, s := range l.cfg.Services {
		if state[s.Name] == unvisited {
			visit(s)
		}
	}
}

// checkTriggerStages validates each trigger's stage list: known names, no duplicates, pipeline
// order, and the stages each one needs.
func (l *loader) checkTriggerStages() {
	for _, t := range l.cfg.Triggers {
		nodes := l.stageNodes[t]
		base := fmt.Sprintf("triggers.%s.stages", t.Name)
		var valid []string
		last := -1
		for i, s := range t.Stages {
			p := fmt.Sprintf("%s[%d]", base, i)
			idx := indexOf(triggerStages, s)
			switch {
			case s == StageApprove:
				l.errorf(nodes[i], p, "approve is not listed: promote and deploy add it for environments with an approval")
				continue
			case idx < 0:
				l.errorf(nodes[i], p, "unknown stage %q (expected one of: %s)", s, strings.Join(triggerStages, ", "))
				continue
			case contains(valid, s):
				l.errorf(nodes[i], p, "duplicate stage %q", s)
				continue
			case idx < last:
				l.errorf(nodes[i], p, "stage %q must come before %q (order: %s)", s, triggerStages[last], strings.Join(triggerStages, ", "))
			}
			last = max(last, idx)
			valid = append(valid, s)
		}
		needs := map[string]string{StageScan: StageImage, StagePush: StageImage, StagePromote: StagePush, StageChart: StagePush, StageDeploy: StageChart}
		for i, s := range t.Stages {
			if need, ok := needs[s]; ok && contains(valid, s) && !contains(valid, need) {
				l.errorf(nodes[i], fmt.Sprintf("%s[%d]", base, i), "stage %q needs stage %q before it", s, need)
			}
		}
		if len(t.Stages) == 0 && l.stagesNode[t] != nil {
			l.errorf(l.stagesNode[t], base, "no stages listed")
		}
		if i := indexOf(t.Stages, StagePush); i >= 0 && l.cfg.Registry == "" {
			l.errorf(nodes[i], fmt.Sprintf("%s[%d]", base, i), "stage push needs a top-level registry")
		}
		if i := indexOf(t.Stages, StageDeploy); i >= 0 && len(l.cfg.Environments) == 0 {
			l.errorf(nodes[i], fmt.Sprintf("%s[%d]", base, i), "stage deploy needs at least one entry in environments")
		}
		if i := indexOf(t.Stages, StagePromote); i >= 0 && !slices.ContainsFunc(l.cfg.Environments, func(e *Environment) bool { return e.RegistryNamespace != "" }) {
			l.errorf(nodes[i], fmt.Sprintf("%s[%d]", base, i), "stage promote needs an environment with a registryNamespace")
		}
		t.Stages = valid
	}
}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}

func contains(list []string, s string) bool { return indexOf(list, s) >= 0 }

// outputs decodes a service's outputs: files and folders relative to the service folder (at
// svcPath), inside the repository, each once. A list, even empty, is never nil.
func (l *loader) outputs(n *yaml.Node, p, svcPath string) []string {
	list, nodes := l.strings(n, p)
	out := []string{}
	first := map[string]*yaml.Node{}
	for i, e := range list {
		fp := fmt.Sprintf("%s[%d]", p, i)
		switch c := path.Clean(filepath.ToSlash(e)); {
		case strings.TrimSpace(e) == "":
			l.errorf(nodes[i], fp, "empty path")
		case strings.HasPrefix(e, "/") || filepath.IsAbs(e):
			l.errorf(nodes[i], fp, "path %q must be relative to the service folder", e)
		case strings.ContainsAny(e, "*?["):
			l.errorf(nodes[i], fp, "%q: outputs are files or folders, not globs", e)
		case c == ".":
			l.errorf(nodes[i], fp, "%q is the whole service folder: name what the build writes (bin/)", e)
		case escapes(path.Join(svcPath, c)):
			l.errorf(nodes[i], fp, "path %q is outside the repository", e)
		case first[c] != nil:
			l.errorf(nodes[i], fp, "duplicate output %q (first defined at line %d:%d)", e, first[c].Line, first[c].Column)
		default:
			first[c] = nodes[i]
			out = append(out, c)
		}
	}
	return out
}

func escapes(rel string) bool {
	c := path.Clean(rel)
	return c == ".." || strings.HasPrefix(c, "../")
}
