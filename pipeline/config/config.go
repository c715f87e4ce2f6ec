// Package config loads and validates ferry.yaml. It keeps the line and column of every value so
// that each problem is reported as file:line:col, and it reports all problems at once.
package config

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// FileName is the config file Ferry looks for at the repository root.
const FileName = "ferry.yaml"

// Pos is a position in the config file, 1-based.
type Pos struct {
	Line int `json:"line"`
	Col  int `json:"col"`
}

// Config is a loaded ferry.yaml.
type Config struct {
	// File is the path the config was read from; Root is the repository root it describes.
	File string `json:"-"`
	Root string `json:"-"`
	// Digest is the sha256 of the file's bytes: what a run records to know, on resume,
	// whether ferry.yaml changed since it was planned.
	Digest string `json:"-"`

	Version  int    `json:"version"`
	Trunk    string `json:"trunk"`
	Registry string `json:"registry,omitempty"`
	// State is where runs are kept: empty for the local .ferry directory, or oci://host/repo.
	State string `json:"state,omitempty"`
	// ReleaseBranch is the shape of release branches, with the placeholders {service} and
	// {version}: release/{service}/{version} when empty. ReleaseTag is the shape of release
	// tags ({service}/v{version}); when empty, tag pushes name no release. The pipeline
	// package checks them, and the release triggers against them, at their positions.
	ReleaseBranch    string                   `json:"releaseBranch,omitempty"`
	ReleaseTag       string                   `json:"releaseTag,omitempty"`
	ReleaseBranchPos Pos                      `json:"-"`
	ReleaseTagPos    Pos                      `json:"-"`
	Services         []*Service               `json:"services"`
	Triggers         []*Trigger               `json:"triggers"`
	Environments     []*Environment           `json:"environments,omitempty"`
	Stages           map[string]*StageOptions `json:"stages,omitempty"`
	Scan             ScanPolicy               `json:"scan"`
	// Secrets names environment variables whose values are masked in every log, summary and journal.
	Secrets []string `json:"secrets,omitempty"`
	// Finally is a command run at the repository root when a run stops, whatever its outcome
	// (notifications, reports). It gets FERRY_RUN_ID and FERRY_RUN_STATUS.
	Finally *Finally `json:"finally,omitempty"`
	// GlobalDependencies are files, folders and globs every service depends on (go.work, a
	// root lock file): a change there affects every service, and their hashes key every
	// service's cached results.
	GlobalDependencies []Dependency `json:"globalDependencies,omitempty"`
	// GlobalEnv names environment variables whose values key every service's cached results.
	GlobalEnv []string `json:"globalEnv,omitempty"`
	// Cache tunes what keys cached results beyond the sources and the config.
	Cache CacheOptions `json:"cache"`
}

// CacheOptions adds inputs to the cache keys that Ferry cannot see in the repository.
type CacheOptions struct {
	// Tools are commands (go version, node --version) whose output keys every build and test
	// result: a new toolchain must not reuse results built with the old one.
	Tools []*Command `json:"tools,omitempty"`
}

// Defaults the code applies when ferry.yaml leaves a key out. The stages use these constants,
// and the configuration reference (docs/CONFIG.md) prints them, so the two cannot disagree.
const (
	// DefaultFinallyTimeout bounds the finally command when the config sets no timeout.
	DefaultFinallyTimeout = 5 * time.Minute
	// DefaultStageTimeout bounds one attempt of a stage when stages.<kind>.timeout is not set.
	DefaultStageTimeout = time.Hour
	// DefaultDeployTimeout bounds deploy's wait for a ready release when the environment sets
	// no timeout.
	DefaultDeployTimeout = 5 * time.Minute
	// DefaultFailOn is the scan gate's threshold when scan.failOn is not set.
	DefaultFailOn = "HIGH"
	// DefaultNamespace is the Kubernetes namespace deploy uses when the environment names none.
	DefaultNamespace = "default"
)

// Finally is the finally hook: a command, written as a command (finally: ./ci/notify.sh) or
// as {run: ./ci/notify.sh, timeout: 2m}.
type Finally struct {
	Command
	// Timeout bounds the command; zero means DefaultFinallyTimeout.
	Timeout time.Duration `json:"timeout,omitempty"`
}

// TimeLimit is the configured timeout, or DefaultFinallyTimeout.
func (f *Finally) TimeLimit() time.Duration {
	if f == nil || f.Timeout <= 0 {
		return DefaultFinallyTimeout
	}
	return f.Timeout
}

// Service is one microservice folder of the monorepo.
type Service struct {
	Name string `json:"name"`
	Pos  Pos    `json:"-"`
	// Path is the service's folder, relative to the repository root.
	Path string `json:"path"`
	// Paths adds or removes paths with Azure Pipelines path filter semantics.
	Paths     PathFilter        `json:"paths"`
	DependsOn []Dependency      `json:"dependsOn,omitempty"`
	Build     *Command          `json:"build,omitempty"`
	Test      *Command          `json:"test,omitempty"`
	Env       map[string]string `json:"env,omitempty"`
	// PassEnv names credentials (FERRY_* secrets, CI tokens) that the service's commands may
	// see; every other one is removed from their environment.
	PassEnv []string `json:"passEnv,omitempty"`
	// CacheEnv names environment variables whose values key the service's cached results, as
	// the values of env do; only a hash of each value is kept.
	CacheEnv []string `json:"cacheEnv,omitempty"`
	Image    *Image   `json:"image,omitempty"`
	// Chart is the Helm chart folder, relative to the repository root.
	Chart string `json:"chart,omitempty"`
	// ImageValues are the chart's value keys that deploy sets to pin the image by digest.
	ImageValues ImageValues `json:"imageValues"`
	Scan        *ScanPolicy `json:"scan,omitempty"`
	// Outputs are the files and folders the build command writes, slash paths relative to the
	// service folder (bin/): what a cached build is checked and restored by. nil (the key is
	// absent) means the files the command created or changed; an empty list means none.
	Outputs []string `json:"outputs,omitempty"`
}

// Dependency is one entry of dependsOn or globalDependencies: another service, a shared
// folder, a file (go.mod, package-lock.json) or a glob of files (proto/**/*.proto). Exactly
// one field is set; paths are relative to the repository root.
type Dependency struct {
	Service string `json:"service,omitempty"`
	Folder  string `json:"folder,omitempty"`
	File    string `json:"file,omitempty"`
	// Glob uses the path filter syntax: * and ? within one name, ** across folders.
	Glob string `json:"glob,omitempty"`
	Pos  Pos    `json:"-"`
}

func (d Dependency) String() string {
	switch {
	case d.Service != "":
		return d.Service
	case d.Folder != "":
		return d.Folder
	case d.File != "":
		return d.File
	}
	return d.Glob
}

// PathFilter is an include/exclude list with Azure Pipelines path semantics.
type PathFilter struct {
	Include []string `json:"include,omitempty"`
	Exclude []string `json:"exclude,omitempty"`
}

// Empty reports whether the filter has no entries.
func (f PathFilter) Empty() bool { return len(f.Include) == 0 && len(f.Exclude) == 0 }

// RefFilter is an include/exclude list of branch or tag patterns with Azure Pipelines semantics.
type RefFilter struct {
	Include []string `json:"include,omitempty"`
	Exclude []string `json:"exclude,omitempty"`
}

// Command is a build or test command. Written as a string it is split like a shell would and
// run directly, unless it uses shell syntax (pipes, redirections, variables, globs, && ...),
// in which case it runs under sh -c. Written as a list it is always run directly.
type Command struct {
	// Line is the string form; Args the list form. Exactly one is set.
	Line string   `json:"line,omitempty"`
	Args []string `json:"args,omitempty"`
	Pos  Pos      `json:"-"`
}

func (c *Command) String() string {
	if c == nil {
		return ""
	}
	if c.Line != "" {
		return c.Line
	}
	return strings.Join(c.Args, " ")
}

// Image says how the service's container image is built.
type Image struct {
	// Dockerfile and Context are relative to the service folder.
	Dockerfile string `json:"dockerfile"`
	Context    string `json:"context"`
	// Builder is auto, native, buildah, docker or podman.
	Builder  string            `json:"builder"`
	Platform string            `json:"platform"`
	Target   string            `json:"target,omitempty"`
	Args     map[string]string `json:"args,omitempty"`
}

// builders are the accepted image.builder values.
var builders = []string{"auto", "native", "buildah", "docker", "podman"}

// Trigger maps a git event to a pipeline: which branches, which paths, which stages.
type Trigger struct {
	Name string `json:"name"`
	Pos  Pos    `json:"-"`
	// Event is push or pr. Defaults: pr for the trigger named pr, push for the others.
	Event string `json:"event"`
	// Release makes the trigger select the one service named by a release branch
	// (releaseBranch, release/<service>/<semver> by default) or release tag (releaseTag),
	// whatever changed. Defaults to true for the trigger named release.
	Release  bool      `json:"release"`
	Branches RefFilter `json:"branches"`
	Tags     RefFilter `json:"tags"`
	// BranchesPos and TagsPos are where the filters are written (zero when they are not).
	BranchesPos Pos        `json:"-"`
	TagsPos     Pos        `json:"-"`
	Paths       PathFilter `json:"paths"`
	Stages      []string   `json:"stages"`
}

// Environment is a deployment target. Environments are ordered: deploy goes through them in turn.
type Environment struct {
	Name        string `json:"name"`
	Pos         Pos    `json:"-"`
	KubeContext string `json:"kubeContext,omitempty"`
	Namespace   string `json:"namespace,omitempty"`
	// RegistryNamespace, when set, makes Ferry promote the image by digest to
	// REGISTRY/<registryNamespace>/<service>:<version> before deploying to this environment.
	RegistryNamespace string    `json:"registryNamespace,omitempty"`
	Approval          *Approval `json:"approval,omitempty"`
	// CreateNamespace lets deploy create Namespace when it does not exist.
	CreateNamespace bool `json:"createNamespace,omitempty"`
	// Values are values files (relative to the repository root) and Set are --set entries
	// (key.path: value) that deploy passes to every service's chart in this environment, in
	// that order, before the image values.
	Values []string          `json:"values,omitempty"`
	Set    map[string]string `json:"set,omitempty"`
	// Timeout bounds the wait until a release is ready (default 5m).
	Timeout time.Duration `json:"timeout,omitempty"`
}

// ImageValues name the chart values that receive the image: by default image.repository gets
// the pushed (or promoted) repository and image.tag gets <version>@sha256:…, which charts
// that render "repository:tag" accept. A chart that takes the digest apart sets Digest (and
// then Tag gets the version alone).
type ImageValues struct {
	Repository string `json:"repository"`
	Tag        string `json:"tag"`
	Digest     string `json:"digest,omitempty"`
}

// DefaultImageValues are the value keys most charts use.
func DefaultImageValues() ImageValues {
	return ImageValues{Repository: "image.repository", Tag: "image.tag"}
}

// Approval is a manual gate before an environment. Approvals are SSH signatures checked
// against AllowedSigners (an allowed_signers file, read from the trunk), unless Signed is false:
// then they are advisory names.
type Approval struct {
	// Approvers, when set, narrows the allowed signers to these principals (with Signed false:
	// the names that may approve).
	Approvers    []string `json:"approvers,omitempty"`
	MinApprovals int      `json:"minApprovals"`
	// AllowedSigners is the allowed_signers file, relative to the config's folder.
	AllowedSigners string `json:"allowedSigners,omitempty"`
	Signed         bool   `json:"signed"`
	// Groups each need Min approvals of their principals, on top of MinApprovals (distinct
	// principals overall); one principal in two groups counts for both. In file order.
	Groups []ApproverGroup `json:"groups,omitempty"`
	// ExcludeRequester refuses the approval of whoever started the run; ExcludeAuthors those
	// of the authors of the commits released since the service's previous release.
	ExcludeRequester bool `json:"excludeRequester,omitempty"`
	ExcludeAuthors   bool `json:"excludeAuthors,omitempty"`
	// Timeout, when set, rejects the gate that long after it started waiting.
	Timeout time.Duration `json:"timeout,omitempty"`
}

// ApproverGroup is a named set of principals of which at least Min must approve.
type ApproverGroup struct {
	Name       string   `json:"name"`
	Principals []string `json:"principals"`
	Min        int      `json:"min"`
}

// StageOptions tunes one stage kind for every service.
type StageOptions struct {
	Timeout time.Duration `json:"timeout,omitempty"`
	// Retries is how many times a failed attempt is retried, with exponential backoff.
	Retries int `json:"retries,omitempty"`
}

// ScanPolicy is the vulnerability gate.
type ScanPolicy struct {
	// FailOn is the lowest severity that fails the gate (default HIGH).
	FailOn        string       `json:"failOn,omitempty"`
	IgnoreUnfixed bool         `json:"ignoreUnfixed,omitempty"`
	Ignore        []ScanIgnore `json:"ignore,omitempty"`
	Trivy         TrivyOptions `json:"trivy"`
	set           map[string]bool
}

// ScanIgnore accepts one finding until it expires.
type ScanIgnore struct {
	ID      string    `json:"id"`
	Reason  string    `json:"reason"`
	Expires time.Time `json:"expires"`
	Pos     Pos       `json:"-"`
}

// TrivyOptions configures the Trivy CLI.
type TrivyOptions struct {
	Path         string        `json:"path,omitempty"`
	CacheDir     string        `json:"cacheDir,omitempty"`
	Offline      bool          `json:"offline,omitempty"`
	DBRepository string        `json:"dbRepository,omitempty"`
	Timeout      time.Duration `json:"timeout,omitempty"`
}

// Stage names, in the only order a pipeline may list them.
const (
	StageBuild   = "build"
	StageTest    = "test"
	StageImage   = "image"
	StageScan    = "scan"
	StagePush    = "push"
	StageChart   = "chart"
	StageDeploy  = "deploy"
	StageApprove = "approve"
	StagePromote = "promote"
)

// triggerStages are the stages a trigger may list, in pipeline order. Approve is never listed:
// it guards an environment that has an approval. promote without deploy promotes the pushed
// image through the environments (with their approvals) without deploying; deploy adds
// approve, promote and deploy per environment.
var triggerStages = []string{StageBuild, StageTest, StageImage, StageScan, StagePush, StagePromote, StageChart, StageDeploy}

// retryableStages are the stages whose failures can be transient, so that stages.<name>.retries
// may retry them: image (base image pulls), scan (the scanner's DB download, the registry),
// push and promote (registry calls), chart and deploy (registry and cluster calls). A failure
// retrying cannot fix (a policy verdict, a moved release tag) is permanent in any stage.
var retryableStages = []string{StageImage, StageScan, StagePush, StageChart, StageDeploy, StagePromote}

// AllStages returns every stage kind, including the per-environment ones.
func AllStages() []string {
	return []string{StageBuild, StageTest, StageImage, StageScan, StagePush, StageChart, StageDeploy, StageApprove, StagePromote}
}

// Retryable reports whether a stage kind's failures can be transient: only these get the
// configured retries.
func Retryable(stage string) bool { return slices.Contains(retryableStages, stage) }

// Service returns the service with that name, or nil.
func (c *Config) Service(name string) *Service {
	for _, s := range c.Services {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// Environment returns the environment with that name, or nil.
func (c *Config) Environment(name string) *Environment {
	for _, e := range c.Environments {
		if e.Name == name {
			return e
		}
	}
	return nil
}

// ServiceNames returns the names of all services in file order.
func (c *Config) ServiceNames() []string {
	names := make([]string, len(c.Services))
	for i, s := range c.Services {
		names[i] = s.Name
	}
	return names
}

// StageOptionsFor returns the options for a stage kind, zero when none are configured.
func (c *Config) StageOptionsFor(stage string) StageOptions {
	if o := c.Stages[stage]; o != nil {
		return *o
	}
	return StageOptions{}
}

// ScanPolicyFor merges a service's scan settings over the top-level ones: keys the service
// sets win, the ignore lists are joined.
func (c *Config) ScanPolicyFor(s *Service) ScanPolicy {
	p := c.Scan
	p.Ignore = append([]ScanIgnore(nil), c.Scan.Ignore...)
	if s == nil || s.Scan == nil {
		return p
	}
	o := s.Scan
	if o.set["failOn"] {
		p.FailOn = o.FailOn
	}
	if o.set["ignoreUnfixed"] {
		p.IgnoreUnfixed = o.IgnoreUnfixed
	}
	p.Ignore = append(p.Ignore, o.Ignore...)
	if o.set["trivy"] {
		p.Trivy = o.Trivy
	}
	return p
}

// Error is one problem in a config file.
type Error struct {
	File  string
	Pos   Pos
	Field string
	Msg   string
}

func (e Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Pos.Line > 0 {
		fmt.Fprintf(&b, ":%d:%d", e.Pos.Line, e.Pos.Col)
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found in a config file, in file order.
type Errors []Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Sorted orders the errors by position, keeping the order of errors at the same place.
func (es Errors) Sorted() Errors { return es.sorted() }

func (es Errors) sorted() Errors {
	sort.SliceStable(es, func(i, j int) bool {
		if es[i].Pos.Line != es[j].Pos.Line {
			return es[i].Pos.Line < es[j].Pos.Line
		}
		return es[i].Pos.Col < es[j].Pos.Col
	})
	return es
}
