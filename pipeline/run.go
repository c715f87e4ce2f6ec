package pipeline

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/ferry-ci/ferry/triggers"
)

// Status is the state of a stage, a service's pipeline or a run.
type Status string

const (
	Pending   Status = "pending"
	Running   Status = "running"
	Succeeded Status = "succeeded"
	Failed    Status = "failed"
	Skipped   Status = "skipped"
	Cancelled Status = "cancelled"
	// Waiting means an approval gate has not been passed yet; resume after approving.
	Waiting Status = "waiting"
)

// Done reports whether a stage in this state needs no more work: it succeeded or was skipped.
func (s Status) Done() bool { return s == Succeeded || s == Skipped }

// Run is one execution of a plan. Its state is rebuilt from the run's journal: the record
// written when the run was created, then every stage transition in order.
type Run struct {
	ID      string         `json:"id"`
	Created time.Time      `json:"created"`
	Event   triggers.Event `json:"event"`
	Plan    *Plan          `json:"plan"`
	// ConfigDigest identifies the ferry.yaml the run was planned with; resume refuses a
	// changed config rather than mixing two.
	ConfigDigest string        `json:"configDigest"`
	Options      RunOptions    `json:"options"`
	Services     []*ServiceRun `json:"services"`
	Approvals    []Approval    `json:"approvals,omitempty"`
	// CancelRequested records that ferry cancel stopped the run; resume may still continue it.
	CancelRequested bool `json:"cancelRequested,omitempty"`
	// Owner is the process executing the run, when one is.
	Owner *Owner `json:"owner,omitempty"`
}

// RunOptions are the choices a run was started with; resume, approve --resume and status use
// them again, so that a run never continues against another registry or store.
type RunOptions struct {
	DryRun   bool `json:"dryRun,omitempty"`
	NoCache  bool `json:"noCache,omitempty"`
	FailFast bool `json:"failFast,omitempty"`
	Jobs     int  `json:"jobs,omitempty"`
	Force    bool `json:"force,omitempty"`
	// Registry is --registry, when it replaced the config's registry.
	Registry string `json:"registry,omitempty"`
	// PlainHTTP is --plain-http; ScanReport is --scan-report.
	PlainHTTP  bool   `json:"plainHttp,omitempty"`
	ScanReport string `json:"scanReport,omitempty"`
	// State is --state, when the run is kept somewhere other than the config's store.
	State string `json:"state,omitempty"`
	// Requester is who started the run, as each source names them: approval gates with
	// excludeRequester refuse an approver who goes by any of these names.
	Requester []Identity `json:"requester,omitempty"`
}

// Identity is one name of a person and where Ferry read it (FERRY_REQUESTER, GITHUB_ACTOR,
// BUILD_REQUESTEDFOREMAIL, the release commit's author).
type Identity struct {
	Name   string `json:"name"`
	Source string `json:"source"`
}

// Owner identifies the process that executes a run, so that cancel can reach it.
type Owner struct {
	Host string `json:"host"`
	PID  int    `json:"pid"`
}

// ServiceRun is one service's pipeline in a run.
type ServiceRun struct {
	Name     string        `json:"name"`
	Pipeline string        `json:"pipeline"`
	Version  string        `json:"version,omitempty"`
	Stages   []*StageState `json:"stages"`
}

// StageState is the journaled state of one stage of one service.
type StageState struct {
	ID       StageID   `json:"id"`
	Status   Status    `json:"status"`
	Reason   string    `json:"reason,omitempty"`
	Started  time.Time `json:"started,omitzero"`
	Ended    time.Time `json:"ended,omitzero"`
	Attempts int       `json:"attempts,omitempty"`
	// InputsDigest identifies everything the stage's result depends on (content-addressed cache).
	InputsDigest string `json:"inputsDigest,omitempty"`
	// CachedFrom is the run whose result was reused.
	CachedFrom string `json:"cachedFrom,omitempty"`
	// CachedDuration is how long the stage took in that run: what a cache hit shows as its
	// duration, rather than the moment it took to find it.
	CachedDuration time.Duration `json:"cachedDuration,omitempty"`
	Outputs        Outputs       `json:"outputs,omitzero"`
	// Log is the stage's log, relative to the run's folder in the store.
	Log string `json:"log,omitempty"`
}

// Duration is how long the stage ran, zero if it has not ended. For a result reused from the
// cache it is how long the stage took in the run it was reused from.
func (s *StageState) Duration() time.Duration {
	if s.CachedFrom != "" && s.CachedDuration > 0 {
		return s.CachedDuration
	}
	if s.Started.IsZero() || s.Ended.IsZero() {
		return 0
	}
	return s.Ended.Sub(s.Started)
}

// Approval is one person's approval of an environment for a run.
type Approval struct {
	Env string `json:"env"`
	// By is who approved: for a signed approval the principal its key belongs to in the
	// allowed signers, which the gate checks again; for an advisory one the name given.
	By      string    `json:"by"`
	At      time.Time `json:"at"`
	Comment string    `json:"comment,omitempty"`
	// Service, Decision and the signed statement are set for signed approvals, one per
	// service of the run.
	Service   string `json:"service,omitempty"`
	Decision  string `json:"decision,omitempty"` // approve or reject
	Statement []byte `json:"statement,omitempty"`
	Signature string `json:"signature,omitempty"`
	Key       string `json:"key,omitempty"` // SHA256 fingerprint of the signing key
}

// NewRunID returns a sortable, unique run id: UTC time to the millisecond (runs started in
// the same second must still list newest first) and 6 random hex digits.
func NewRunID(now time.Time) string {
	return now.UTC().Format("20060102-150405.000") + "-" + randomHex(3)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// NewRun creates the run of a plan with every stage pending.
func NewRun(id string, now time.Time, plan *Plan, configDigest string, opts RunOptions) *Run {
	r := &Run{ID: id, Created: now.UTC(), Event: plan.Event, Plan: plan, ConfigDigest: configDigest, Options: opts}
	for _, sp := range plan.Services {
		sr := &ServiceRun{Name: sp.Name, Pipeline: sp.Pipeline, Version: sp.Version}
		for _, id := range sp.Stages {
			sr.Stages = append(sr.Stages, &StageState{ID: id, Status: Pending})
		}
		r.Services = append(r.Services, sr)
	}
	return r
}

// Service returns the named service's pipeline, or nil.
func (r *Run) Service(name string) *ServiceRun {
	for _, s := range r.Services {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// Stage returns a stage's state, or nil.
func (s *ServiceRun) Stage(id StageID) *StageState {
	for _, st := range s.Stages {
		if st.ID == id {
			return st
		}
	}
	return nil
}

// Status of a service's pipeline: the first stage that is not done decides.
func (s *ServiceRun) Status() Status {
	for _, st := range s.Stages {
		if !st.Status.Done() {
			return st.Status
		}
	}
	return Succeeded
}

// Status of the run: failed if any service failed, then cancelled, running, waiting,
// pending, and succeeded when every service succeeded.
func (r *Run) Status() Status {
	counts := map[Status]int{}
	for _, s := range r.Services {
		counts[s.Status()]++
	}
	for _, st := range []Status{Failed, Cancelled, Running, Waiting, Pending} {
		if counts[st] > 0 {
			return st
		}
	}
	return Succeeded
}

// Approvals returns the distinct approvers of an environment.
func (r *Run) ApprovalsFor(env string) []Approval {
	var out []Approval
	seen := map[[2]string]bool{}
	for _, a := range r.Approvals {
		k := [2]string{a.By, a.Service}
		if a.Env == env && !seen[k] {
			seen[k] = true
			out = append(out, a)
		}
	}
	return out
}

// Output finds the outputs of an earlier stage of the same service.
func (s *ServiceRun) Output(kind string) (Outputs, bool) {
	for _, st := range s.Stages {
		if st.ID.Kind() == kind && st.Status.Done() && !st.Outputs.IsZero() {
			return st.Outputs, true
		}
	}
	return Outputs{}, false
}

// Outputs are the typed results a stage publishes for later stages and for people. Each stage
// fills its own field.
type Outputs struct {
	Build   *BuildOutput   `json:"build,omitempty"`
	Image   *ImageOutput   `json:"image,omitempty"`
	Scan    *ScanOutput    `json:"scan,omitempty"`
	Push    *PushOutput    `json:"push,omitempty"`
	Chart   *ChartOutput   `json:"chart,omitempty"`
	Approve *ApproveOutput `json:"approve,omitempty"`
	Promote *PromoteOutput `json:"promote,omitempty"`
	Deploy  *DeployOutput  `json:"deploy,omitempty"`
}

// IsZero reports whether no output is set.
func (o Outputs) IsZero() bool { return o == Outputs{} }

// BuildOutput records the files a build or test command created or changed in the service
// folder, by content digest, so a cached result is reused only while those files are still
// there.
type BuildOutput struct {
	Files map[string]string `json:"files,omitempty"`
}

// ImageOutput is a built image, kept as an OCI image layout.
type ImageOutput struct {
	Digest  string `json:"digest"`
	Layout  string `json:"layout"`
	Builder string `json:"builder"`
}

// ScanOutput is the verdict of the vulnerability gate.
type ScanOutput struct {
	Passed   bool           `json:"passed"`
	Counts   map[string]int `json:"counts,omitempty"`
	Failing  []string       `json:"failing,omitempty"`
	Report   string         `json:"report,omitempty"`
	Scanner  string         `json:"scanner,omitempty"`
	Database string         `json:"database,omitempty"`
}

// String summarises the verdict: counts by severity and the failing findings.
func (s *ScanOutput) String() string {
	var counts []string
	for _, sev := range []string{"CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN"} {
		if n := s.Counts[sev]; n > 0 || sev != "UNKNOWN" {
			counts = append(counts, fmt.Sprintf("%d %s", n, strings.ToLower(sev)))
		}
	}
	verdict := "passed"
	if !s.Passed {
		verdict = "failed"
	}
	out := fmt.Sprintf("%s (%s)", verdict, strings.Join(counts, ", "))
	if len(s.Failing) > 0 {
		out += ": " + strings.Join(s.Failing, "; ")
	}
	return out
}

// PushOutput is an image in a registry: always referred to by digest.
type PushOutput struct {
	Ref    string   `json:"ref"`
	Digest string   `json:"digest"`
	Tags   []string `json:"tags,omitempty"`
}

// PromoteOutput is an image promoted into an environment's registry namespace, with the
// chart promoted beside it and the evidence attached to the promoted digest.
type PromoteOutput struct {
	PushOutput
	// Chart is the promoted chart, <registry>/<namespace>/helm/<chart>@sha256:…, when the
	// service has one.
	Chart *PushOutput `json:"chart,omitempty"`
	// Evidence lists the referrers of the promoted digest (manifest digests).
	Evidence []string `json:"evidence,omitempty"`
}

// ChartOutput is a Helm chart pushed to an OCI registry, packaged once per run: every
// environment deploys this digest.
type ChartOutput struct {
	// Ref is REGISTRY/helm/<name>@sha256:…, Digest the chart's manifest digest.
	Ref    string `json:"ref"`
	Digest string `json:"digest"`
	// Name is the chart's name; Version its chart version (1.0.2, 1.0.2+b7,
	// 0.0.0-<commit>) and Tag that version as the OCI tag (1.0.2_b7).
	Name       string `json:"name"`
	Version    string `json:"version"`
	AppVersion string `json:"appVersion,omitempty"`
	Tag        string `json:"tag"`
	// Image is the pushed image the chart is for (REGISTRY/<service>@sha256:…), empty for
	// a service without an image.
	Image string `json:"image,omitempty"`
	// ContentDigest identifies the chart's files, versions and image; it is the
	// ferry.dev/content-digest annotation of the chart's manifest.
	ContentDigest string `json:"contentDigest"`
}

// ApproveOutput is an approval gate's audit trail, journaled each time the gate runs: who
// approved, what was judged, and the verdict on every decision.
type ApproveOutput struct {
	// By are the principals whose approvals passed the gate (none while it waits).
	By []string `json:"by"`
	// WaitingSince is when the gate first waited; Deadline when it times out (zero: never).
	WaitingSince time.Time `json:"waitingSince,omitzero"`
	Deadline     time.Time `json:"deadline,omitzero"`
	// Image, Chart and Values are the digests the decisions were judged against.
	Image  string `json:"image,omitempty"`
	Chart  string `json:"chart,omitempty"`
	Values string `json:"values,omitempty"`
	// Requester and Authors are the names excludeRequester and excludeAuthors refuse.
	Requester []string           `json:"requester,omitempty"`
	Authors   []string           `json:"authors,omitempty"`
	Decisions []ApprovalDecision `json:"decisions,omitempty"`
	// Missing says what the gate still needed when it last ran.
	Missing []string `json:"missing,omitempty"`
}

// ApprovalDecision is one recorded decision and the gate's verdict on it.
type ApprovalDecision struct {
	// By is the name the record claims; Principal the one its verified key belongs to.
	By          string    `json:"by"`
	At          time.Time `json:"at"`
	Principal   string    `json:"principal,omitempty"`
	Fingerprint string    `json:"fingerprint,omitempty"`
	Decision    string    `json:"decision"`
	Comment     string    `json:"comment,omitempty"`
	Signed      string    `json:"signed,omitempty"` // the time in the signed statement
	Image       string    `json:"image,omitempty"`
	Chart       string    `json:"chart,omitempty"`
	Values      string    `json:"values,omitempty"`
	// Verdict is approved, rejected, refused or void; Reason says why for the last two.
	Verdict string `json:"verdict"`
	Reason  string `json:"reason,omitempty"`
}

// DeployOutput is a Helm release revision.
type DeployOutput struct {
	Release   string `json:"release"`
	Namespace string `json:"namespace"`
	Revision  int    `json:"revision"`
	// Chart is the chart digest deployed; Image the image, repository@sha256:….
	Chart string `json:"chart,omitempty"`
	Image string `json:"image,omitempty"`
}

// String is a one-line summary of the outputs for tables.
func (o Outputs) String() string {
	switch {
	case o.Push != nil:
		return o.Push.Ref
	case o.Promote != nil:
		return o.Promote.Ref
	case o.Image != nil:
		return o.Image.Digest
	case o.Scan != nil:
		return o.Scan.String()
	case o.Chart != nil:
		return o.Chart.Ref
	case o.Deploy != nil:
		return fmt.Sprintf("%s/%s revision %d", o.Deploy.Namespace, o.Deploy.Release, o.Deploy.Revision)
	case o.Approve != nil:
		if len(o.Approve.By) == 0 {
			return ""
		}
		return "approved by " + strings.Join(o.Approve.By, ", ")
	case o.Build != nil:
		return fmt.Sprintf("%d files", len(o.Build.Files))
	}
	return ""
}
