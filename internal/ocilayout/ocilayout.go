// Package ocilayout is how a built image is handed from the image stage to the stages after it
// (scan, push): an OCI image layout holding one image, annotated with its name and with the
// repository its base layers came from, so that a push to the same registry mounts them
// instead of uploading them.
package ocilayout

import (
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Annotations of the image descriptor in a layout's index.json.
const (
	annotationRefName = "org.opencontainers.image.ref.name"
	// annotationBaseName records the repository the image's base layers came from, so that a
	// push of the layout to the same registry mounts them instead of uploading them.
	annotationBaseName = "org.opencontainers.image.base.name"
)

// Write writes img as the only image of an OCI image layout in dir, annotated with ref
// (org.opencontainers.image.ref.name) and, when its layers know the repository they came
// from, that repository (org.opencontainers.image.base.name). Blobs already in dir are kept.
func Write(dir string, img v1.Image, ref string) error {
	ann := map[string]string{annotationRefName: ref}
	if base, err := mountSource(img); err != nil {
		return fmt.Errorf("write layout %s: %w", dir, err)
	} else if base != "" {
		ann[annotationBaseName] = base
	}
	idx := mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Annotations: ann}})
	if _, err := layout.Write(dir, idx); err != nil {
		return fmt.Errorf("write layout %s: %w", dir, err)
	}
	return nil
}

// Read reads the image of an OCI image layout written by Write (or by a builder: one image, or
// one index holding one image). Its layers are mountable from the repository in
// org.opencontainers.image.base.name.
func Read(dir string) (v1.Image, error) {
	img, desc, err := readLayout(dir, nil)
	if err != nil {
		return nil, err
	}
	if base := desc.Annotations[annotationBaseName]; base != "" {
		ref, err := name.ParseReference(base)
		if err != nil {
			return nil, fmt.Errorf("read layout %s: %s: %w", dir, annotationBaseName, err)
		}
		img = Mountable(img, ref)
	}
	return img, nil
}

// ReadPlatform reads the image of a layout that a builder wrote: an index is resolved to its
// only image, or to the one for platform.
func ReadPlatform(dir string, platform *v1.Platform) (v1.Image, error) {
	img, _, err := readLayout(dir, platform)
	return img, err
}

// readLayout returns the image of a layout and its descriptor in index.json. An index is
// resolved to its only image, or to the one for platform.
func readLayout(dir string, platform *v1.Platform) (v1.Image, v1.Descriptor, error) {
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, v1.Descriptor{}, fmt.Errorf("read layout %s: %w", dir, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, v1.Descriptor{}, fmt.Errorf("read layout %s: %w", dir, err)
	}
	if len(im.Manifests) != 1 {
		return nil, v1.Descriptor{}, fmt.Errorf("read layout %s: %d manifests in index.json, want 1", dir, len(im.Manifests))
	}
	desc := im.Manifests[0]
	for desc.MediaType.IsIndex() {
		child, err := idx.ImageIndex(desc.Digest)
		if err != nil {
			return nil, desc, fmt.Errorf("read layout %s: %w", dir, err)
		}
		cm, err := child.IndexManifest()
		if err != nil {
			return nil, desc, fmt.Errorf("read layout %s: %w", dir, err)
		}
		var pick []v1.Descriptor
		for _, m := range cm.Manifests {
			if platform == nil || m.Platform == nil || m.Platform.Satisfies(*platform) {
				pick = append(pick, m)
			}
		}
		if len(pick) != 1 {
			return nil, desc, fmt.Errorf("read layout %s: index %s has %d matching manifests, want 1", dir, desc.Digest, len(pick))
		}
		idx, desc = child, pick[0]
	}
	img, err := idx.Image(desc.Digest)
	if err != nil {
		return nil, desc, fmt.Errorf("read layout %s: %w", dir, err)
	}
	return img, desc, nil
}

// mountSource returns the repository the image's mountable layers come from, or "".
func mountSource(img v1.Image) (string, error) {
	layers, err := img.Layers()
	if err != nil {
		return "", err
	}
	for _, l := range layers {
		if ml, ok := l.(*remote.MountableLayer); ok {
			return ml.Reference.String(), nil
		}
	}
	return "", nil
}

// Mountable makes every layer of img a remote.MountableLayer of ref's repository.
func Mountable(img v1.Image, ref name.Reference) v1.Image { return &mountable{Image: img, ref: ref} }

// mountable makes every layer of an image a remote.MountableLayer of ref, so that
// remote.Write asks the registry to mount blobs from ref's repository before uploading them.
// A registry that does not have a blob there answers with a normal upload.
type mountable struct {
	v1.Image
	ref name.Reference
}

var _ v1.Image = (*mountable)(nil)

func (m *mountable) Layers() ([]v1.Layer, error) {
	ls, err := m.Image.Layers()
	if err != nil {
		return nil, err
	}
	out := make([]v1.Layer, len(ls))
	for i, l := range ls {
		out[i] = &remote.MountableLayer{Layer: l, Reference: m.ref}
	}
	return out, nil
}

func (m *mountable) LayerByDigest(h v1.Hash) (v1.Layer, error) {
	l, err := m.Image.LayerByDigest(h)
	if err != nil {
		return nil, err
	}
	return &remote.MountableLayer{Layer: l, Reference: m.ref}, nil
}
