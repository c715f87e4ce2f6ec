package config

import (
	"bytes"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/ferry-ci/ferry/triggers"
	"gopkg.in/yaml.v3"
)

// The configuration reference (docs/CONFIG.md) is made from the config model: Reference walks
// the structs above by reflection, their json names being ferry.yaml's keys, and takes each
// key's description from keyDocs and its default from what Parse fills in for a config that
// leaves the key out. A test fails when a key has no description, when keyDocs describes a key
// the model lacks, when the loader accepts other keys than the reference lists, and when
// docs/CONFIG.md is not what ReferenceMarkdown writes.

// Key is one ferry.yaml key of the reference.
type Key struct {
	// Path is where the key sits: services.<service>.image.builder, environments[].name.
	Path    string
	Type    string
	Default string
	Doc     string
	// SameAs names the key whose keys this one takes, for a mapping of a type described
	// elsewhere (triggers.<trigger>.paths takes those of services.<service>.paths).
	SameAs string
	segs   []seg
	// mapping is whether the key's value is a mapping of fixed keys; keys are its children's.
	mapping bool
	keys    []string
}

// seg is one step of a key's path.
type seg struct {
	kind segKind
	name string
}

type segKind int

const (
	segField segKind = iota // a fixed key
	segName                 // a user-chosen name: services.<service>
	segIndex                // a list entry: environments[]
)

// keyDoc is the description of a key and, when the loaded config cannot show it (the code
// applies it later, or it depends on the key's name), its default.
type keyDoc struct {
	doc string
	def string
}

// keyDocs describes every key, by the Go type that holds it and its yaml key ("Service.path"),
// and every entry of a named mapping or list by its type ("Service"). {stages} and the like
// are replaced by the lists the loader checks against.
var keyDocs = map[string]keyDoc{
	"Config.version":                {doc: "The config format's version; this Ferry reads `1`.", def: "required"},
	"Config.trunk":                  {doc: "The trunk branch: new branches and pull requests are diffed against it, approvals' policy is read from it."},
	"Config.registry":               {doc: "Registry images go to, as `host[:port][/namespace]`: `REGISTRY/<service>`, charts under `REGISTRY/helm`."},
	"Config.state":                  {doc: "Where runs are kept: `local` (`.ferry/` in the repository) or `oci://host/repository` (shared by CI jobs on other machines).", def: "`local`"},
	"Config.releaseBranch":          {doc: "Shape of release branches, with `{service}` and `{version}` once each.", def: "`" + triggers.DefaultReleaseBranch + "`"},
	"Config.releaseTag":             {doc: "Shape of release tags (`{service}/v{version}`); without it a tag push names no release."},
	"Config.services":               {doc: "The services of the monorepo, by name.", def: "required"},
	"Service":                       {doc: "One service; its name (lower-case letters, digits and `. _ -` between them) is its image repository's name."},
	"Service.path":                  {doc: "The service's folder, relative to ferry.yaml's; changes under it affect the service.", def: "required"},
	"Service.paths":                 {doc: "Paths added to (`include`) or carved out of (`exclude`) the service, with Azure Pipelines path semantics."},
	"Service.dependsOn":             {doc: "Services, folders, files and globs (`proto/**/*.proto`) the service depends on: their changes affect it, their hashes key its cache."},
	"Service.build":                 {doc: "The build command, run in the service folder."},
	"Service.test":                  {doc: "The test command, run in the service folder."},
	"Service.env":                   {doc: "Environment variables of the service's commands; their values key its cached results."},
	"Service.passEnv":               {doc: "Credentials (`FERRY_*` secrets, CI tokens) the service's commands may see; all others are removed from their environment."},
	"Service.cacheEnv":              {doc: "Environment variables whose values (hashed) key the service's cached results."},
	"Service.image":                 {doc: "How the service's container image is built; without it the image, scan and push stages skip the service."},
	"Service.chart":                 {doc: "The service's Helm chart folder, relative to ferry.yaml's; without it chart and deploy skip the service."},
	"Service.imageValues":           {doc: "The chart values deploy sets to pin the image by digest."},
	"Service.scan":                  {doc: "Overrides the top-level scan policy for this service: the keys it sets win, ignore lists are joined."},
	"Service.outputs":               {doc: "Files and folders the build writes (relative to the service folder): what a cached build is checked and restored by.", def: "what the build created or changed"},
	"PathFilter.include":            {doc: "Paths that count: a file or folder and everything below it; `*` and `?` within a name, `**` across folders."},
	"PathFilter.exclude":            {doc: "Paths that do not count; the most specific entry decides, exclude wins a tie."},
	"Image.dockerfile":              {doc: "The Dockerfile, relative to the service folder."},
	"Image.context":                 {doc: "The build context, relative to the service folder."},
	"Image.builder":                 {doc: "One of {builders}: `auto` builds natively when the Dockerfile has no `RUN`, else with buildah, docker buildx or podman."},
	"Image.platform":                {doc: "The image's platform, `os/arch[/variant]`."},
	"Image.target":                  {doc: "The Dockerfile stage to build."},
	"Image.args":                    {doc: "Build arguments (`ARG`)."},
	"ImageValues.repository":        {doc: "The value key that gets the pushed (or promoted) repository."},
	"ImageValues.tag":               {doc: "The value key that gets `<version>@sha256:…` (the version alone when `digest` is set)."},
	"ImageValues.digest":            {doc: "The value key that gets the digest, for charts that take the image reference apart."},
	"Config.triggers":               {doc: "Which git events run which stages, by name; evaluated in file order, the first match wins."},
	"Trigger":                       {doc: "One trigger; the names `pr` and `release` set the defaults of `event` and `release`."},
	"Trigger.event":                 {doc: "`push` or `pr`.", def: "`pr` for the trigger named pr, else `push`"},
	"Trigger.release":               {doc: "Selects the one service a release branch or tag names, whatever changed.", def: "`true` for the trigger named release"},
	"Trigger.branches":              {doc: "Branch patterns (Azure Pipelines semantics: full refs, `*` crosses `/`, exclude wins).", def: "required, or tags"},
	"Trigger.tags":                  {doc: "Tag patterns, for tag pushes."},
	"Trigger.paths":                 {doc: "Paths a change must touch for the trigger to match; not on release triggers."},
	"Trigger.stages":                {doc: "The stages to run, in the order {triggerStages}; deploy and promote expand per environment.", def: "required"},
	"RefFilter.include":             {doc: "Patterns that match."},
	"RefFilter.exclude":             {doc: "Patterns that never match; exclude wins."},
	"Config.environments":           {doc: "Deployment targets, in order: deploy and promote go through them in turn."},
	"Environment":                   {doc: "One environment."},
	"Environment.name":              {doc: "The environment's name (lower-case letters, digits and `-`): `deploy:<name>`, `--env <name>`.", def: "required"},
	"Environment.kubeContext":       {doc: "The kubeconfig context deploy uses.", def: "the current context"},
	"Environment.namespace":         {doc: "The Kubernetes namespace releases go to.", def: "`{namespace}`"},
	"Environment.registryNamespace": {doc: "Promotes the image by digest to `REGISTRY/<registryNamespace>/<service>` (with its evidence and chart) before deploying here; needs `registry`."},
	"Environment.approval":          {doc: "A gate before the environment: `approve:<env>` waits for enough approvals."},
	"Environment.createNamespace":   {doc: "Lets deploy create the namespace when it does not exist."},
	"Environment.values":            {doc: "Values files (relative to ferry.yaml's folder) passed to every chart here, before `set` and the image values."},
	"Environment.set":               {doc: "`--set` entries (`key.path: value`) passed to every chart here."},
	"Environment.timeout":           {doc: "How long deploy waits for a release to be ready before rolling back.", def: "`{deployTimeout}`"},
	"Approval.approvers":            {doc: "Narrows the allowed signers to these principals; with `signed: false`, the names that may approve.", def: "every allowed signer; required when `signed: false`"},
	"Approval.minApprovals":         {doc: "Distinct principals that must approve; at most the approvers listed."},
	"Approval.allowedSigners":       {doc: "An allowed_signers file (git's format), relative to ferry.yaml's folder, read from the trunk.", def: "required when signed"},
	"Approval.signed":               {doc: "Approvals are SSH signatures; `false` makes them advisory names."},
	"Approval.groups":               {doc: "Named groups of principals, each needing its own minimum on top of `minApprovals`; one principal in two groups counts for both."},
	"ApproverGroup":                 {doc: "One group."},
	"ApproverGroup.principals":      {doc: "The group's principals, as the allowed_signers file names them.", def: "required"},
	"ApproverGroup.min":             {doc: "Approvals the group needs; at most its principals."},
	"Approval.excludeRequester":     {doc: "Whoever started the run cannot approve it."},
	"Approval.excludeAuthors":       {doc: "The authors of the commits released since the service's previous release cannot approve."},
	"Approval.timeout":              {doc: "Rejects the gate this long after it started waiting.", def: "no timeout"},
	"Config.stages":                 {doc: "Options per stage kind ({stages})."},
	"StageOptions":                  {doc: "The options of one stage kind, for every service."},
	"StageOptions.timeout":          {doc: "Bounds one attempt of the stage.", def: "`{stageTimeout}`"},
	"StageOptions.retries":          {doc: "Retries of a failed attempt, with exponential backoff (0–10); only for {retryable}.", def: "`0`"},
	"Config.scan":                   {doc: "The vulnerability gate of the scan stage."},
	"ScanPolicy.failOn":             {doc: "The lowest failing severity: one of {severities}.", def: "`{failOn}`"},
	"ScanPolicy.ignoreUnfixed":      {doc: "Findings without a fixed version pass."},
	"ScanPolicy.ignore":             {doc: "Accepted findings, each until it expires."},
	"ScanIgnore":                    {doc: "One accepted finding."},
	"ScanIgnore.id":                 {doc: "The vulnerability id (`CVE-2021-38561`).", def: "required"},
	"ScanIgnore.reason":             {doc: "Why it is accepted.", def: "required"},
	"ScanIgnore.expires":            {doc: "The day the acceptance ends (`2027-01-31`).", def: "required"},
	"ScanPolicy.trivy":              {doc: "How the Trivy CLI is run."},
	"TrivyOptions.path":             {doc: "The trivy binary.", def: "`trivy` on PATH, else the pinned one `make tools` built"},
	"TrivyOptions.cacheDir":         {doc: "Trivy's cache folder (its vulnerability DB)."},
	"TrivyOptions.offline":          {doc: "No DB download or update: the DB must be in the cache."},
	"TrivyOptions.dbRepository":     {doc: "The OCI repository the vulnerability DB is downloaded from."},
	"TrivyOptions.timeout":          {doc: "Bounds one trivy run.", def: "Trivy's own"},
	"Config.secrets":                {doc: "Environment variables whose values are masked in every log, summary and journal."},
	"Config.finally":                {doc: "A command run at the repository root when a run stops, whatever its outcome (`FERRY_RUN_ID`, `FERRY_RUN_STATUS`)."},
	"Finally.run":                   {doc: "The command, when `finally` is a mapping.", def: "required"},
	"Finally.timeout":               {doc: "Bounds the command.", def: "`{finallyTimeout}`"},
	"Config.globalDependencies":     {doc: "Files, folders and globs every service depends on: a change there affects every service."},
	"Config.globalEnv":              {doc: "Environment variables whose values (hashed) key every service's cached results."},
	"Config.cache":                  {doc: "Inputs of the cache keys Ferry cannot see in the repository."},
	"CacheOptions.tools":            {doc: "Commands (`go version`) whose output keys every build and test result."},
}

// docVars are the lists and defaults the descriptions name, as the code has them.
func docVars() *strings.Replacer {
	quote := func(list []string) string { return "`" + strings.Join(list, "`, `") + "`" }
	return strings.NewReplacer(
		"{stages}", quote(AllStages()),
		"{triggerStages}", quote(triggerStages),
		"{retryable}", quote(retryableStages),
		"{builders}", quote(builders),
		"{severities}", quote(severities),
		"{failOn}", DefaultFailOn,
		"{stageTimeout}", FormatDuration(DefaultStageTimeout),
		"{deployTimeout}", FormatDuration(DefaultDeployTimeout),
		"{finallyTimeout}", FormatDuration(DefaultFinallyTimeout),
		"{namespace}", DefaultNamespace,
	)
}

// namedEntries are the types written as a mapping by name (services: {delivery: {...}}): their
// name field is the key, and the placeholder says what the name is.
var namedEntries = map[reflect.Type]string{
	reflect.TypeFor[Service]():       "service",
	reflect.TypeFor[Trigger]():       "trigger",
	reflect.TypeFor[ApproverGroup](): "group",
}

// leafTypes are the types a key holds whole, with how the reference names them.
var leafTypes = map[reflect.Type]string{
	reflect.TypeFor[Command]():       "command",
	reflect.TypeFor[*Command]():      "command",
	reflect.TypeFor[[]*Command]():    "list of commands",
	reflect.TypeFor[[]Dependency]():  "list of strings",
	reflect.TypeFor[time.Duration](): "duration",
	reflect.TypeFor[time.Time]():     "date",
}

// Reference lists every ferry.yaml key in the order of the config model, with its type,
// default and description.
func Reference() ([]Key, error) {
	w := &refWalker{home: map[reflect.Type]string{}, vars: docVars(), used: map[string]bool{}}
	w.homes(reflect.TypeFor[Config]())
	skeleton, err := yaml.Marshal(w.skeleton(reflect.TypeFor[Config](), nil))
	if err != nil {
		return nil, fmt.Errorf("config reference: %w", err)
	}
	// The skeleton writes every mapping of the model and no value: what Parse fills in is
	// what the loader applies by default. Its errors (missing required keys) do not matter.
	cfg, _ := Parse(FileName, "", skeleton)
	w.walk(reflect.TypeFor[Config](), reflect.ValueOf(cfg).Elem(), nil, "")
	for _, k := range slices.Sorted(maps.Keys(keyDocs)) {
		if !w.used[k] {
			w.errs = append(w.errs, fmt.Sprintf("keyDocs describes %s, which the config model does not have", k))
		}
	}
	if len(w.errs) > 0 {
		return nil, fmt.Errorf("config reference: %s", strings.Join(w.errs, "; "))
	}
	return w.keys, nil
}

type refWalker struct {
	keys []Key
	// home is the path where each struct type's keys are listed; other keys of that type
	// refer to it.
	home map[reflect.Type]string
	vars *strings.Replacer
	used map[string]bool
	errs []string
}

// field is one key of a struct: its yaml name and Go field.
type structKey struct {
	name  string
	field reflect.StructField
}

// structKeys returns the keys a struct type is written with, in field order.
func structKeys(t reflect.Type) []structKey {
	var out []structKey
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous && f.Type == reflect.TypeFor[Command]() {
			out = append(out, structKey{"run", f}) // finally: {run: COMMAND}
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if !f.IsExported() || name == "-" || name == "" {
			continue
		}
		if _, named := namedEntries[t]; named && name == "name" {
			continue // the entry's key
		}
		out = append(out, structKey{name, f})
	}
	return out
}

// shape says how a type is written: a leaf, a mapping of fixed keys (elem is the struct), a
// mapping by name or a list of mappings (elem the entry), or a mapping by stage kind.
func shape(t reflect.Type) (kind string, elem reflect.Type) {
	if _, ok := leafTypes[t]; ok {
		return "leaf", nil
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		return "struct", t
	case reflect.Slice, reflect.Map:
		e := t.Elem()
		if e.Kind() == reflect.Pointer {
			e = e.Elem()
		}
		if e.Kind() != reflect.Struct {
			return "leaf", nil
		}
		if _, ok := namedEntries[e]; ok {
			return "named", e
		}
		if t.Kind() == reflect.Map {
			return "stages", e
		}
		return "list", e
	}
	return "leaf", nil
}

// homes assigns each struct type the shallowest path that holds it, breadth first: the
// top-level scan, not services.<service>.scan, lists the scan policy's keys.
func (w *refWalker) homes(root reflect.Type) {
	type item struct {
		t    reflect.Type
		path string
	}
	queue := []item{{root, ""}}
	for len(queue) > 0 {
		it := queue[0]
		queue = queue[1:]
		for _, k := range structKeys(it.t) {
			p := joinPath(it.path, k.name)
			kind, elem := shape(k.field.Type)
			switch kind {
			case "struct":
				if _, ok := w.home[elem]; !ok {
					w.home[elem] = p
					queue = append(queue, item{elem, p})
				}
			case "named", "list", "stages":
				ep := p + entrySuffix(kind, elem)
				if _, ok := w.home[elem]; !ok {
					w.home[elem] = ep
					queue = append(queue, item{elem, ep})
				}
			}
		}
	}
}

func entrySuffix(kind string, elem reflect.Type) string {
	switch kind {
	case "named":
		return ".<" + namedEntries[elem] + ">"
	case "stages":
		return ".<stage>"
	}
	return "[]"
}

func joinPath(p, k string) string {
	if p == "" {
		return k
	}
	return p + "." + k
}

// skeleton is a config value with every mapping of the model present and empty, one entry in
// each named mapping and list (environments need a name to be kept).
func (w *refWalker) skeleton(t reflect.Type, seen map[reflect.Type]bool) map[string]any {
	seen = cloneSeen(seen)
	seen[t] = true
	out := map[string]any{}
	for _, k := range structKeys(t) {
		kind, elem := shape(k.field.Type)
		if kind == "leaf" || seen[elem] {
			continue
		}
		entry := w.skeleton(elem, seen)
		switch kind {
		case "struct":
			out[k.name] = entry
		case "named":
			out[k.name] = map[string]any{"x": entry}
		case "stages":
			out[k.name] = map[string]any{StageBuild: entry}
		case "list":
			if _, ok := elem.FieldByName("Name"); ok {
				entry["name"] = "x"
			}
			out[k.name] = []any{entry}
		}
	}
	return out
}

func cloneSeen(m map[reflect.Type]bool) map[reflect.Type]bool {
	out := map[reflect.Type]bool{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

// walk lists the keys of struct type t at path, v being the skeleton's value there (invalid
// when the skeleton has none).
func (w *refWalker) walk(t reflect.Type, v reflect.Value, segs []seg, path string) {
	for _, k := range structKeys(t) {
		p := joinPath(path, k.name)
		ks := append(append([]seg(nil), segs...), seg{segField, k.name})
		fv := fieldValue(v, k.field)
		kind, elem := shape(k.field.Type)
		key := Key{Path: p, segs: ks, Type: typeName(k.field.Type, kind)}
		w.describe(&key, t.Name()+"."+k.name, fv)
		if t == reflect.TypeFor[Config]() && k.name == "finally" {
			key.Type = "command, or mapping"
		}
		if key.Type == "boolean" && key.Default == "" {
			key.Default = "`false`"
		}
		switch kind {
		case "struct":
			w.nested(&key, elem, deref(fv), ks, p)
		case "named", "list", "stages":
			w.keys = append(w.keys, key)
			ep := p + entrySuffix(kind, elem)
			esegs := append(append([]seg(nil), ks...), entrySeg(kind))
			entry := Key{Path: ep, segs: esegs, Type: "mapping"}
			w.describe(&entry, elem.Name(), reflect.Value{})
			w.nested(&entry, elem, firstEntry(fv), esegs, ep)
			continue
		default:
			w.keys = append(w.keys, key)
			continue
		}
	}
}

// nested adds the key of a mapping and, at the type's home, its keys.
func (w *refWalker) nested(key *Key, elem reflect.Type, v reflect.Value, segs []seg, path string) {
	key.mapping = true
	for _, k := range structKeys(elem) {
		key.keys = append(key.keys, k.name)
	}
	if home := w.home[elem]; home != path {
		key.SameAs = home
		w.keys = append(w.keys, *key)
		return
	}
	w.keys = append(w.keys, *key)
	w.walk(elem, v, segs, path)
}

func entrySeg(kind string) seg {
	if kind == "list" {
		return seg{kind: segIndex}
	}
	return seg{kind: segName}
}

// describe sets a key's description and default: the default the loaded skeleton shows, or
// the one keyDocs gives when the skeleton cannot show it (or shows one case of it, as for a
// trigger's event). The same default in both would be kept twice.
func (w *refWalker) describe(key *Key, docKey string, v reflect.Value) {
	d, ok := keyDocs[docKey]
	w.used[docKey] = true
	if !ok {
		w.errs = append(w.errs, fmt.Sprintf("%s (%s) has no description in keyDocs", key.Path, docKey))
	}
	key.Doc = w.vars.Replace(d.doc)
	def, shown := w.vars.Replace(d.def), formatDefault(v)
	switch {
	case def == "required" || shown == "":
		key.Default = def
	case def == "":
		key.Default = shown
	case def != shown && strings.Contains(def, shown):
		key.Default = def // says more than the skeleton shows: when it applies
	default:
		w.errs = append(w.errs, fmt.Sprintf("%s: keyDocs gives the default %q but the loader applies %s: drop it from keyDocs", key.Path, def, shown))
	}
}

func fieldValue(v reflect.Value, f reflect.StructField) reflect.Value {
	v = deref(v)
	if !v.IsValid() {
		return reflect.Value{}
	}
	return v.FieldByIndex(f.Index)
}

func deref(v reflect.Value) reflect.Value {
	for v.IsValid() && v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return reflect.Value{}
		}
		v = v.Elem()
	}
	return v
}

// firstEntry is the skeleton's entry of a named mapping, list or stage mapping.
func firstEntry(v reflect.Value) reflect.Value {
	switch {
	case !v.IsValid():
		return reflect.Value{}
	case v.Kind() == reflect.Slice && v.Len() > 0:
		return deref(v.Index(0))
	case v.Kind() == reflect.Map:
		return deref(v.MapIndex(reflect.ValueOf(StageBuild)))
	}
	return reflect.Value{}
}

// formatDefault writes a value the loader filled in; "" for a zero value.
func formatDefault(v reflect.Value) string {
	if !v.IsValid() || v.IsZero() {
		return ""
	}
	switch x := v.Interface().(type) {
	case time.Duration:
		return "`" + FormatDuration(x) + "`"
	case string, int, bool:
		return fmt.Sprintf("`%v`", x)
	}
	return ""
}

// FormatDuration writes a duration the way ferry.yaml does: 72h, 5m, 1h30m (not 5m0s).
func FormatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func typeName(t reflect.Type, kind string) string {
	if n, ok := leafTypes[t]; ok {
		return n
	}
	switch kind {
	case "struct":
		return "mapping"
	case "named":
		return "mapping of names"
	case "stages":
		return "mapping of stage kinds"
	case "list":
		return "list of mappings"
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Int:
		return "integer"
	case reflect.Bool:
		return "boolean"
	case reflect.Slice:
		return "list of strings"
	case reflect.Map:
		return "mapping of strings"
	}
	return t.String()
}

// ReferenceMarkdown is docs/CONFIG.md: the top-level keys, then a table per section.
func ReferenceMarkdown() ([]byte, error) {
	keys, err := Reference()
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.WriteString(`# ferry.yaml reference

<!-- Generated from pipeline/config by ` + "`make docs`" + ` (or ` + "`go test ./pipeline/config -update`" + `); do not edit. -->

Every key ferry.yaml accepts, with its type, its default and what it does. ` + "`ferry validate`" + `
reports any other key as unknown, at its line. Paths are written ` + "`services.<service>.image`" + ` for a
key under a mapping by name and ` + "`environments[].name`" + ` for a key of a list's entries. Types:
a *command* is a string (parsed as POSIX shell: one simple command runs directly, shell syntax
runs under ` + "`sh -c`" + `) or a list of arguments (run directly); a *duration* is Go's (` + "`90s`, `10m`, `72h`" + `);
a *date* is ` + "`YYYY-MM-DD`" + `. Paths in values are relative to ferry.yaml's folder unless the key says
otherwise. The [README](../README.md#ferryyaml) shows a complete ferry.yaml.
`)
	section := func(title string, rows []Key) {
		fmt.Fprintf(&b, "\n## %s\n\n| key | type | default | description |\n|---|---|---|---|\n", title)
		for _, k := range rows {
			doc := k.Doc
			if k.SameAs != "" {
				doc += fmt.Sprintf(" Keys as in `%s`.", k.SameAs)
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", k.Path, k.Type, orDash(k.Default), doc)
		}
	}
	var top []Key
	sections := map[string][]Key{}
	var order []string
	for _, k := range keys {
		if len(k.segs) == 1 {
			top = append(top, k)
			continue
		}
		name := k.segs[0].name
		if _, ok := sections[name]; !ok {
			order = append(order, name)
		}
		sections[name] = append(sections[name], k)
	}
	section("Top level", top)
	for _, name := range order {
		section(name, sections[name])
	}
	return b.Bytes(), nil
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}
