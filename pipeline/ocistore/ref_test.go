package ocistore

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestNewRejectsBadRefs(t *testing.T) {
	tests := []struct {
		ref  string
		want string
	}{
		{"oci://", "missing registry host and repository"},
		{"", "missing registry host and repository"},
		{"oci://host", "missing repository path"},
		{"oci://myrepo.azurecr.io", "missing repository path"},
		{"oci://myrepo.azurecr.io/", "missing repository path"},
		{"oci://myrepo.azurecr.io/Ferry/Runs", `repository "Ferry/Runs" must be lower case`},
		{"oci://myrepo/ferry", `"myrepo" is not a registry host`},
		{"https://myrepo.azurecr.io/ferry", "unsupported scheme"},
		{"oci://myrepo.azurecr.io/ferry:latest", "must not have a tag or digest"},
		{"oci://myrepo.azurecr.io/ferry@sha256:abc", "must not have a tag or digest"},
		{"oci://myrepo.azurecr.io/ferry//runs", `invalid repository "ferry//runs"`},
		{"oci://myrepo.azurecr.io/ferry/runs/", `invalid repository "ferry/runs/"`},
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			_, err := New(t.Context(), tt.ref, Options{CacheDir: t.TempDir()})
			if err == nil {
				t.Fatalf("New(%q) succeeded", tt.ref)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), tt.ref) {
				t.Errorf("New(%q) = %v, want an error naming the ref and saying %q", tt.ref, err, tt.want)
			}
		})
	}
}

func TestNewParsesRefs(t *testing.T) {
	tests := []struct {
		ref      string
		insecure bool
		wantRef  string
		scheme   string
	}{
		{"oci://myrepo.azurecr.io/ferry/runs", false, "oci://myrepo.azurecr.io/ferry/runs", "https"},
		{"myrepo.azurecr.io/ferry/runs", false, "oci://myrepo.azurecr.io/ferry/runs", "https"},
		{"oci://myrepo.azurecr.io/ferry/runs", true, "oci://myrepo.azurecr.io/ferry/runs", "http"},
		{"oci://127.0.0.1:5000/ferry", false, "oci://127.0.0.1:5000/ferry", "http"},
		{"oci://localhost:5000/ferry", false, "oci://localhost:5000/ferry", "http"},
		{"oci://192.168.1.20:5000/ferry", false, "oci://192.168.1.20:5000/ferry", "http"},
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			s, err := New(t.Context(), tt.ref, Options{CacheDir: t.TempDir(), Insecure: tt.insecure})
			if err != nil {
				t.Fatal(err)
			}
			if s.Ref() != tt.wantRef {
				t.Errorf("Ref() = %q, want %q", s.Ref(), tt.wantRef)
			}
			if got := s.repo.Scheme(); got != tt.scheme {
				t.Errorf("scheme = %q, want %q", got, tt.scheme)
			}
		})
	}
}

func TestNewDefaultCacheDir(t *testing.T) {
	cache := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", cache)
	t.Setenv("HOME", t.TempDir())
	s, err := New(t.Context(), "oci://127.0.0.1:5000/ferry/runs", Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(cache, "ferry", "state", "127.0.0.1_5000", "ferry", "runs", "runs", "r1")
	if got := s.Dir("r1"); got != want {
		t.Errorf("Dir = %q, want %q", got, want)
	}
}

func TestCacheTag(t *testing.T) {
	hex := strings.Repeat("ab", 32)
	tests := []struct {
		stage, digest string
		want          string
		wantErr       bool
	}{
		{"build", "sha256:" + hex, "cache-build-" + hex, false},
		{"image", "sha512:" + hex + hex, "cache-image-" + hex, false},
		{"Build", "sha256:" + hex, "", true},
		{"build", "sha256:xyz", "", true},
		{"build/x", "sha256:" + hex, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.stage+" "+tt.digest, func(t *testing.T) {
			got, err := cacheTag(tt.stage, tt.digest)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("cacheTag = %q, %v; want %q (error %v)", got, err, tt.want, tt.wantErr)
			}
			if err == nil && !tagRE.MatchString(got) {
				t.Errorf("%q is not a valid tag", got)
			}
		})
	}
}
