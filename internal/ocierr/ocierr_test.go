package ocierr_test

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/ferry-ci/ferry/internal/ocierr"
)

func TestNotFound(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want bool
	}{
		{"404", &transport.Error{StatusCode: http.StatusNotFound}, true},
		{"wrapped 404", fmt.Errorf("head x: %w", &transport.Error{StatusCode: http.StatusNotFound}), true},
		{"401", &transport.Error{StatusCode: http.StatusUnauthorized}, false},
		{"other error", errors.New("connection reset"), false},
		{"nil", nil, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := ocierr.NotFound(tc.err); got != tc.want {
				t.Errorf("NotFound(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}
