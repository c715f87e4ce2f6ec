// Package ocierr classifies the errors of OCI registry calls made with go-containerregistry.
package ocierr

import (
	"errors"
	"net/http"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// NotFound reports a registry's 404: an unknown tag, manifest, blob or repository.
func NotFound(err error) bool {
	var terr *transport.Error
	return errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound
}
