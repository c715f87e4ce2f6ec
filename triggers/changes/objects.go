package changes

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// objectReader reads objects through go-git's storage: loose objects, packs and their deltas,
// and alternates (objects/info/alternates, absolute or relative, as git writes them).
type objectReader struct {
	st *filesystem.Storage
}

// Object types, as plumbing.ObjectType numbers them.
const (
	objCommit = int(plumbing.CommitObject)
	objTree   = int(plumbing.TreeObject)
	objTag    = int(plumbing.TagObject)
)

// errMissing is returned when the repository lacks an object.
var errMissing = errors.New("object missing")

// read returns an object's type and content.
func (r objectReader) read(h plumbing.Hash) (int, []byte, error) {
	o, err := r.st.EncodedObject(plumbing.AnyObject, h)
	if errors.Is(err, plumbing.ErrObjectNotFound) {
		return 0, nil, fmt.Errorf("%s: %w", h, errMissing)
	}
	if err != nil {
		return 0, nil, fmt.Errorf("read %s: %w", h, err)
	}
	rc, err := o.Reader()
	if err != nil {
		return 0, nil, fmt.Errorf("read %s: %w", h, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		return 0, nil, fmt.Errorf("read %s: %w", h, err)
	}
	return int(o.Type()), data, nil
}

// prefixed returns the objects whose hex name starts with prefix (at least 4 digits).
func (r objectReader) prefixed(prefix string) ([]plumbing.Hash, error) {
	prefix = strings.ToLower(prefix)
	raw, err := hex.DecodeString(prefix[:len(prefix)&^1])
	if err != nil {
		return nil, fmt.Errorf("short SHA %q: %w", prefix, err)
	}
	all, err := r.st.HashesWithPrefix(raw)
	if err != nil {
		return nil, err
	}
	var out []plumbing.Hash
	for _, h := range all {
		if strings.HasPrefix(h.String(), prefix) {
			out = append(out, h)
		}
	}
	return out, nil
}
