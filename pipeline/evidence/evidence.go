// Package evidence builds and reads the evidence Ferry attaches to an image as OCI referrers
// (artifacts whose subject is the image's digest): the scan report, the signed approvals and
// a provenance statement (in-toto Statement v1 with a SLSA provenance v1 predicate). Each
// artifact is one OCI image manifest with an empty config, one payload layer and, when a
// signing key is configured, a second layer holding an SSH signature (SSHSIG, namespace
// ferry-evidence) over the payload's bytes, which `ssh-keygen -Y verify` checks too.
//
// This package is pure: it makes and parses bytes. Pushing and listing are in stages/evidence.
package evidence

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Artifact types: what a referrer is, as the referrers API filters it.
const (
	ScanType       = "application/vnd.ferry.scan.v1+json"
	ApprovalsType  = "application/vnd.ferry.approvals.v1+json"
	ProvenanceType = "application/vnd.ferry.provenance.v1+json"
)

// Layer media types.
const (
	// InTotoType is the provenance payload: an in-toto Statement.
	InTotoType = "application/vnd.in-toto+json"
	// SignatureMediaType is an armored SSHSIG signature over the payload layer.
	SignatureMediaType = "application/vnd.ferry.sshsig.v1"
)

// Annotations on every evidence manifest.
const (
	AnnotationRun     = "dev.ferry.run"
	AnnotationService = "dev.ferry.service"
	AnnotationSigned  = "dev.ferry.signed" // "true" or "false"
)

// Namespace is the SSHSIG namespace of evidence signatures: an approval, a commit or a file
// signature is never evidence.
const Namespace = "ferry-evidence"

// EmptyConfig is the content of every artifact's config blob.
var EmptyConfig = []byte("{}")

// Artifact is one piece of evidence: a payload of a type, and its signature when signed.
type Artifact struct {
	ArtifactType string
	PayloadType  string
	Payload      []byte
	// Signature is the armored SSHSIG over Payload; nil when unsigned.
	Signature []byte
	Run       string
	Service   string
}

// Blob is a layer or config of a manifest with its content.
type Blob struct {
	Descriptor v1.Descriptor
	Content    []byte
}

// Manifest is an artifact's OCI manifest for a subject, with the blobs it refers to.
type Manifest struct {
	Raw    []byte
	Digest v1.Hash
	Blobs  []Blob
}

func blob(mediaType string, content []byte) Blob {
	sum := sha256.Sum256(content)
	return Blob{Content: content, Descriptor: v1.Descriptor{MediaType: types.MediaType(mediaType), Size: int64(len(content)),
		Digest: v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}}}
}

// ociManifest is an OCI image manifest with the fields of OCI 1.1 artifacts.
type ociManifest struct {
	SchemaVersion int               `json:"schemaVersion"`
	MediaType     types.MediaType   `json:"mediaType"`
	ArtifactType  string            `json:"artifactType"`
	Config        v1.Descriptor     `json:"config"`
	Layers        []v1.Descriptor   `json:"layers"`
	Subject       *v1.Descriptor    `json:"subject,omitempty"`
	Annotations   map[string]string `json:"annotations,omitempty"`
}

// Manifest builds the artifact's manifest for subject. The same artifact and subject always
// give the same bytes, so attaching it twice is a no-op.
func (a Artifact) Manifest(subject v1.Descriptor) (Manifest, error) {
	if a.ArtifactType == "" || a.PayloadType == "" || len(a.Payload) == 0 {
		return Manifest{}, errors.New("evidence artifact without a type or payload")
	}
	// The config is the empty JSON object with the artifact type as its media type, as well
	// as the manifest's artifactType: registries whose referrers API reports the config's
	// media type (go-containerregistry's) list the same type as those that read artifactType.
	cfg := blob(a.ArtifactType, EmptyConfig)
	blobs := []Blob{cfg, blob(a.PayloadType, a.Payload)}
	if a.Signature != nil {
		blobs = append(blobs, blob(SignatureMediaType, a.Signature))
	}
	sub := v1.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size}
	m := ociManifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1, ArtifactType: a.ArtifactType,
		Config: cfg.Descriptor, Subject: &sub, Annotations: map[string]string{
			AnnotationRun: a.Run, AnnotationService: a.Service, AnnotationSigned: fmt.Sprint(a.Signature != nil)}}
	for _, b := range blobs[1:] {
		m.Layers = append(m.Layers, b.Descriptor)
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return Manifest{}, err
	}
	return Manifest{Raw: raw, Digest: blob("", raw).Descriptor.Digest, Blobs: blobs}, nil
}

// Parsed is a manifest read back: its artifact type, subject and layers.
type Parsed struct {
	ArtifactType string
	Subject      v1.Hash
	Annotations  map[string]string
	Payload      v1.Descriptor
	Signature    *v1.Descriptor
}

// ParseManifest reads an evidence manifest, refusing one that is not shaped as Ferry writes
// them.
func ParseManifest(raw []byte) (Parsed, error) {
	var m ociManifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return Parsed{}, fmt.Errorf("evidence manifest: %w", err)
	}
	if m.Subject == nil {
		return Parsed{}, errors.New("evidence manifest has no subject")
	}
	if len(m.Layers) == 0 || len(m.Layers) > 2 {
		return Parsed{}, fmt.Errorf("evidence manifest has %d layers, want a payload and at most a signature", len(m.Layers))
	}
	p := Parsed{ArtifactType: m.ArtifactType, Subject: m.Subject.Digest, Annotations: m.Annotations, Payload: m.Layers[0]}
	if len(m.Layers) == 2 {
		if m.Layers[1].MediaType != SignatureMediaType {
			return Parsed{}, fmt.Errorf("evidence manifest's second layer is %s, want %s", m.Layers[1].MediaType, SignatureMediaType)
		}
		p.Signature = &m.Layers[1]
	}
	return p, nil
}
