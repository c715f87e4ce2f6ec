// Package pipeline turns an event into a plan of per-service pipelines and runs that plan: the
// engine loop, the run journal and its stores, locks, the content-addressed cache and the
// events that renderers show. It knows stages only through the Stage interface.
package pipeline

import (
	"fmt"
	"slices"
	"strings"

	"github.com/ferry-ci/ferry/pipeline/config"
	"github.com/ferry-ci/ferry/triggers"
)

// StageID names one step of a service's pipeline: a stage kind, and for the per-environment
// stages the environment after a colon (deploy:qa, approve:prod).
type StageID string

// NewStageID joins a stage kind and an optional environment.
func NewStageID(kind, env string) StageID {
	if env == "" {
		return StageID(kind)
	}
	return StageID(kind + ":" + env)
}

// Kind is the stage kind (deploy for deploy:qa).
func (id StageID) Kind() string {
	k, _, _ := strings.Cut(string(id), ":")
	return k
}

// Env is the environment of a per-environment stage, "" otherwise.
func (id StageID) Env() string {
	_, e, _ := strings.Cut(string(id), ":")
	return e
}

// Matches reports whether a user's stage selector (deploy, or deploy:qa) names this stage.
func (id StageID) Matches(sel string) bool {
	return string(id) == sel || (!strings.Contains(sel, ":") && id.Kind() == sel)
}

// Plan is what an event runs: per affected service, a pipeline with its stages.
type Plan struct {
	Event    triggers.Event   `json:"event"`
	Trigger  string           `json:"trigger,omitempty"`
	Reason   string           `json:"reason"`
	Changes  triggers.Changes `json:"changes"`
	Services []ServicePlan    `json:"services"`
	// Unaffected are the services the event does not run, each with the rule that left it out.
	Unaffected []triggers.Unaffected `json:"unaffected,omitempty"`
}

// ServicePlan is one service's pipeline.
type ServicePlan struct {
	Name string `json:"name"`
	// Pipeline is the name of the trigger that selected it (feature, pr, release, ...).
	Pipeline string `json:"pipeline"`
	// Release is set for release pipelines.
	Release bool `json:"release,omitempty"`
	// Version is the release version (1.0.2) for release pipelines, empty otherwise.
	Version string    `json:"version"`
	Stages  []StageID `json:"stages"`
	Reasons []string  `json:"reasons"`
}

// Service returns the plan of the named service, or nil.
func (p *Plan) Service(name string) *ServicePlan {
	for i := range p.Services {
		if p.Services[i].Name == name {
			return &p.Services[i]
		}
	}
	return nil
}

// NewPlan decides which services run which stages for the event. It is a pure function of the
// config, the event and the changed paths, so the same inputs always give the same plan.
func NewPlan(cfg *config.Config, ev triggers.Event, ch triggers.Changes) (*Plan, error) {
	services, global := TriggerServices(cfg)
	ix, err := triggers.NewIndex(services, global...)
	if err != nil {
		return nil, err
	}
	rules, err := triggerRules(cfg)
	if err != nil {
		return nil, err
	}
	sel, err := triggers.Select(rules, ix, ev, ch)
	if err != nil {
		return nil, err
	}
	plan := &Plan{Event: ev, Reason: sel.Reason, Changes: ch, Services: []ServicePlan{}, Unaffected: sel.Unaffected}
	if sel.Trigger == nil {
		return plan, nil
	}
	plan.Trigger = sel.Trigger.Name
	// Rules are made from cfg.Triggers one for one, so the selected rule's position is its
	// trigger's.
	trigger := cfg.Triggers[slices.IndexFunc(rules, func(r triggers.Rule) bool { return r.Name == sel.Trigger.Name })]
	stages := ExpandStages(cfg, trigger.Stages)
	for _, a := range sel.Services {
		sp := ServicePlan{Name: a.Name, Pipeline: sel.Trigger.Name, Stages: stages, Reasons: a.Reasons}
		if sel.Release != nil {
			sp.Release = true
			sp.Version = sel.Release.Version
		}
		plan.Services = append(plan.Services, sp)
	}
	return plan, nil
}

// TriggerServices is the config's services, and the dependencies every one of them has
// (globalDependencies), as triggers decides with them and keys their sources.
func TriggerServices(cfg *config.Config) (services []triggers.Service, global []triggers.Dependency) {
	services = make([]triggers.Service, len(cfg.Services))
	for i, s := range cfg.Services {
		services[i] = triggers.Service{Name: s.Name, Path: s.Path, DependsOn: triggerDependencies(s.DependsOn),
			Paths: triggers.Filter{Include: s.Paths.Include, Exclude: s.Paths.Exclude}}
	}
	return services, triggerDependencies(cfg.GlobalDependencies)
}

func triggerDependencies(deps []config.Dependency) []triggers.Dependency {
	out := make([]triggers.Dependency, len(deps))
	for i, d := range deps {
		out[i] = triggers.Dependency{Service: d.Service, Folder: d.Folder, File: d.File, Glob: d.Glob}
	}
	return out
}

// triggerRules is the config's triggers as triggers matches them, in file order; release
// triggers read releases from refs of the config's releaseBranch and releaseTag shapes.
func triggerRules(cfg *config.Config) ([]triggers.Rule, error) {
	refs, err := ReleaseRefs(cfg)
	if err != nil {
		return nil, err
	}
	out := make([]triggers.Rule, len(cfg.Triggers))
	for i, t := range cfg.Triggers {
		out[i] = triggers.Rule{Name: t.Name, Event: triggers.EventKind(t.Event), Release: t.Release,
			Branches: triggers.Filter(t.Branches), Tags: triggers.Filter(t.Tags), Paths: triggers.Filter(t.Paths)}
		if t.Release {
			out[i].ReleaseRefs = refs
		}
	}
	return out, nil
}

// ExpandStages turns a trigger's stage list into stage IDs. deploy becomes, for each
// environment in order, approve:<env> (when it has an approval), promote:<env> (when it has a
// registryNamespace) and deploy:<env>. promote without deploy becomes the same sequence
// without the deploys, for the environments that have a registryNamespace.
func ExpandStages(cfg *config.Config, stages []string) []StageID {
	deploy := slices.Contains(stages, config.StageDeploy)
	var out []StageID
	for _, s := range stages {
		switch {
		case s == config.StagePromote && deploy:
			// deploy's expansion promotes where it must.
		case s == config.StagePromote:
			for _, env := range cfg.Environments {
				if env.RegistryNamespace == "" {
					continue
				}
				if env.Approval != nil {
					out = append(out, NewStageID(config.StageApprove, env.Name))
				}
				out = append(out, NewStageID(config.StagePromote, env.Name))
			}
		case s == config.StageDeploy:
			for _, env := range cfg.Environments {
				if env.Approval != nil {
					out = append(out, NewStageID(config.StageApprove, env.Name))
				}
				if env.RegistryNamespace != "" {
					out = append(out, NewStageID(config.StagePromote, env.Name))
				}
				out = append(out, NewStageID(config.StageDeploy, env.Name))
			}
		default:
			out = append(out, StageID(s))
		}
	}
	return out
}

// Filter narrows a plan to some services and stages, for runs that ask for them. until keeps
// the stages up to and including the first one it matches.
func (p *Plan) Filter(services []string, stage, until string) error {
	if len(services) > 0 {
		for _, name := range services {
			if p.Service(name) == nil {
				return fmt.Errorf("--service %s: not in the plan (planned: %s)", name, strings.Join(p.ServiceNames(), ", "))
			}
		}
		// In plan order, each once however often it was named.
		p.Services = slices.DeleteFunc(p.Services, func(sp ServicePlan) bool { return !slices.Contains(services, sp.Name) })
	}
	for i := range p.Services {
		sp := &p.Services[i]
		var keep []StageID
		for _, id := range sp.Stages {
			if stage == "" || id.Matches(stage) {
				keep = append(keep, id)
			}
			if until != "" && id.Matches(until) {
				break
			}
		}
		if stage != "" && len(keep) == 0 {
			return fmt.Errorf("--stage %s: service %s has no such stage (stages: %s)", stage, sp.Name, joinIDs(sp.Stages))
		}
		if until != "" && !containsMatch(sp.Stages, until) {
			return fmt.Errorf("--until %s: service %s has no such stage (stages: %s)", until, sp.Name, joinIDs(sp.Stages))
		}
		sp.Stages = keep
	}
	return nil
}

// ServiceNames lists the planned services in order.
func (p *Plan) ServiceNames() []string {
	names := make([]string, len(p.Services))
	for i, s := range p.Services {
		names[i] = s.Name
	}
	return names
}

func containsMatch(ids []StageID, sel string) bool {
	for _, id := range ids {
		if id.Matches(sel) {
			return true
		}
	}
	return false
}

func joinIDs(ids []StageID) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = string(id)
	}
	return strings.Join(s, ", ")
}
