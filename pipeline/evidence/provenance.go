package evidence

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// in-toto and SLSA identifiers.
const (
	StatementType  = "https://in-toto.io/Statement/v1"
	SLSAProvenance = "https://slsa.dev/provenance/v1"
	// BuildType names what Ferry's externalParameters and internalParameters mean.
	BuildType = "https://ferry.dev/buildtypes/run/v1"
	// BuilderID prefixes the builder id: https://ferry.dev/ferry@<version>.
	BuilderID = "https://ferry.dev/ferry"
)

// Statement is an in-toto Statement v1 with a SLSA provenance v1 predicate.
type Statement struct {
	Type          string     `json:"_type"`
	Subject       []Subject  `json:"subject"`
	PredicateType string     `json:"predicateType"`
	Predicate     Provenance `json:"predicate"`
}

// Subject is an artifact the statement is about: the image as pushed (REGISTRY/<service>).
type Subject struct {
	Name   string            `json:"name"`
	Digest map[string]string `json:"digest"`
}

// Provenance is SLSA provenance v1.
type Provenance struct {
	BuildDefinition BuildDefinition `json:"buildDefinition"`
	RunDetails      RunDetails      `json:"runDetails"`
}

// BuildDefinition says what was run with which inputs.
type BuildDefinition struct {
	BuildType            string               `json:"buildType"`
	ExternalParameters   ExternalParameters   `json:"externalParameters"`
	InternalParameters   InternalParameters   `json:"internalParameters"`
	ResolvedDependencies []ResourceDescriptor `json:"resolvedDependencies,omitempty"`
}

// ExternalParameters are the inputs a user controls: the repository, ref and commit, the
// config and the pipeline it selected.
type ExternalParameters struct {
	Repository   string `json:"repository,omitempty"`
	Ref          string `json:"ref"`
	Commit       string `json:"commit"`
	Config       string `json:"config"`       // the config's path in the repository
	ConfigDigest string `json:"configDigest"` // sha256:… of ferry.yaml's bytes
	Pipeline     string `json:"pipeline"`
	Service      string `json:"service"`
	Version      string `json:"version,omitempty"`
}

// InternalParameters are what Ferry decided: the stages run and their inputs digests.
type InternalParameters struct {
	Stages []StageRecord `json:"stages"`
}

// StageRecord is one stage of the service's pipeline up to the one attaching the evidence.
type StageRecord struct {
	ID           string `json:"id"`
	Status       string `json:"status"`
	InputsDigest string `json:"inputsDigest,omitempty"`
	CachedFrom   string `json:"cachedFrom,omitempty"`
}

// ResourceDescriptor is an input by URI and digest.
type ResourceDescriptor struct {
	URI    string            `json:"uri"`
	Digest map[string]string `json:"digest"`
}

// RunDetails says who ran it and when.
type RunDetails struct {
	Builder  Builder  `json:"builder"`
	Metadata Metadata `json:"metadata"`
}

// Builder is Ferry at a version.
type Builder struct {
	ID      string            `json:"id"`
	Version map[string]string `json:"version,omitempty"`
}

// Metadata carries the run id.
type Metadata struct {
	InvocationID string    `json:"invocationId"`
	StartedOn    time.Time `json:"startedOn"`
}

// ProvenanceInput is what the provenance is made of.
type ProvenanceInput struct {
	Image        string // REGISTRY/<service>@sha256:…
	Params       ExternalParameters
	Stages       []StageRecord
	Run          string
	Started      time.Time
	FerryVersion string
}

// ProvenanceArtifact makes the provenance statement of a pushed image.
func ProvenanceArtifact(in ProvenanceInput) (Artifact, error) {
	repo, digest, ok := strings.Cut(in.Image, "@")
	algo, hex, ok2 := strings.Cut(digest, ":")
	if !ok || !ok2 {
		return Artifact{}, fmt.Errorf("provenance: image %q is not pinned by digest", in.Image)
	}
	st := Statement{Type: StatementType, PredicateType: SLSAProvenance,
		Subject: []Subject{{Name: repo, Digest: map[string]string{algo: hex}}},
		Predicate: Provenance{
			BuildDefinition: BuildDefinition{BuildType: BuildType, ExternalParameters: in.Params,
				InternalParameters: InternalParameters{Stages: in.Stages}},
			RunDetails: RunDetails{
				Builder:  Builder{ID: BuilderID + "@" + in.FerryVersion, Version: map[string]string{"ferry": in.FerryVersion}},
				Metadata: Metadata{InvocationID: in.Run, StartedOn: in.Started.UTC()}},
		}}
	if in.Params.Commit != "" {
		uri := "git+" + in.Params.Repository
		if in.Params.Repository == "" {
			uri = "git"
		}
		st.Predicate.BuildDefinition.ResolvedDependencies = []ResourceDescriptor{{URI: uri + "@" + in.Params.Ref,
			Digest: map[string]string{"gitCommit": in.Params.Commit}}}
	}
	b, err := json.Marshal(st)
	if err != nil {
		return Artifact{}, err
	}
	return Artifact{ArtifactType: ProvenanceType, PayloadType: InTotoType, Payload: b, Run: in.Run, Service: in.Params.Service}, nil
}

// ParseProvenance reads a provenance statement.
func ParseProvenance(b []byte) (Statement, error) {
	var st Statement
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("provenance: %w", err)
	}
	if st.Type != StatementType || st.PredicateType != SLSAProvenance {
		return st, fmt.Errorf("provenance: %s of %s, want %s of %s", st.Type, st.PredicateType, StatementType, SLSAProvenance)
	}
	if len(st.Subject) == 0 {
		return st, fmt.Errorf("provenance names no subject")
	}
	return st, nil
}
