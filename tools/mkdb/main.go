// Command mkdb builds a tiny Trivy vulnerability database (trivy-db schema v2) from YAML
// fixtures, so that tests can run the real Trivy CLI with no network:
//
//	mkdb -cache-dir DIR fixtures.yaml...
//	    writes DIR/db/trivy.db and DIR/db/metadata.json; then
//	    trivy image --cache-dir DIR --skip-db-update --skip-java-db-update --offline-scan ...
//
//	mkdb -cache-dir DIR -push HOST/REPO:TAG fixtures.yaml...
//	    also publishes the DB as an OCI artifact, the way ghcr.io/aquasecurity/trivy-db:2 serves
//	    it, so that Trivy can download it with --db-repository HOST/REPO:TAG.
//
// The fixture format is bolt-fixtures YAML: buckets of key/value pairs as trivy-db stores them.
// Exit codes: 0 success, 1 failure, 2 usage error.
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"time"

	fixtures "github.com/aquasecurity/bolt-fixtures"
	trivydb "github.com/aquasecurity/trivy-db/pkg/db"
	"github.com/aquasecurity/trivy-db/pkg/metadata"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Media types Trivy expects of a DB artifact (pkg/db in trivy).
const (
	dbConfigMediaType = "application/vnd.aquasec.trivy.config.v1+json"
	dbLayerMediaType  = "application/vnd.aquasec.trivy.db.layer.v1.tar+gzip"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := Main(ctx, os.Args[1:], os.Stderr)
	stop()
	os.Exit(code)
}

// Main runs mkdb with args (without the program name) and returns the exit code.
func Main(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("mkdb", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cacheDir := fs.String("cache-dir", "", "Trivy --cache-dir to populate (required)")
	push := fs.String("push", "", "also push the DB as an OCI artifact to this reference, e.g. 127.0.0.1:5000/trivy-db:2")
	insecure := fs.Bool("insecure", false, "allow plain HTTP for -push (loopback registries use HTTP anyway)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: mkdb -cache-dir DIR [-push REF] fixtures.yaml...")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *cacheDir == "" || fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	if err := run(ctx, *cacheDir, *push, *insecure, fs.Args(), stderr); err != nil {
		fmt.Fprintf(stderr, "mkdb: %v\n", err)
		return 1
	}
	return 0
}

func run(ctx context.Context, cacheDir, push string, insecure bool, fixtureFiles []string, stderr io.Writer) error {
	dbDir := filepath.Join(cacheDir, "db") // trivy's pkg/db.Dir(cacheDir)
	if err := os.MkdirAll(dbDir, 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", dbDir, err)
	}
	dbPath := trivydb.Path(dbDir)
	if err := os.Remove(dbPath); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing old %s: %w", dbPath, err)
	}
	loader, err := fixtures.New(dbPath, fixtureFiles)
	if err != nil {
		return fmt.Errorf("opening %s: %w", dbPath, err)
	}
	loadErr := loader.Load()
	if err := errors.Join(loadErr, loader.Close()); err != nil {
		return fmt.Errorf("loading fixtures %v: %w", fixtureFiles, err)
	}

	now := time.Now().UTC()
	meta := metadata.Metadata{
		Version:    trivydb.SchemaVersion, // must equal the scanner's schema
		NextUpdate: now.Add(100 * 365 * 24 * time.Hour),
		UpdatedAt:  now,
		// Non-zero, else Trivy without --skip-db-update thinks the DB is corrupted.
		DownloadedAt: now,
	}
	if err := metadata.NewClient(dbDir).Update(meta); err != nil {
		return fmt.Errorf("writing metadata in %s: %w", dbDir, err)
	}
	fmt.Fprintf(stderr, "mkdb: wrote %s and %s\n", dbPath, metadata.Path(dbDir))

	if push == "" {
		return nil
	}
	img, err := dbArtifact(now, dbPath, metadata.Path(dbDir))
	if err != nil {
		return err
	}
	var opts []name.Option
	if insecure {
		opts = append(opts, name.Insecure)
	}
	ref, err := name.ParseReference(push, opts...)
	if err != nil {
		return fmt.Errorf("parsing -push %q: %w", push, err)
	}
	if err := remote.Write(ref, img, remote.WithContext(ctx)); err != nil {
		return fmt.Errorf("pushing DB artifact to %s: %w", ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		return fmt.Errorf("digest of DB artifact: %w", err)
	}
	fmt.Fprintf(stderr, "mkdb: pushed DB artifact to %s@%s\n", ref, d)
	return nil
}

// dbArtifact packs the DB files into the OCI artifact Trivy downloads: one layer db.tar.gz
// holding trivy.db and metadata.json.
func dbArtifact(now time.Time, files ...string) (v1.Image, error) {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", f, err)
		}
		hdr := &tar.Header{Name: filepath.Base(f), Mode: 0o644, Size: int64(len(b)), ModTime: now, Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("packing %s: %w", f, err)
		}
		if _, err := tw.Write(b); err != nil {
			return nil, fmt.Errorf("packing %s: %w", f, err)
		}
	}
	if err := errors.Join(tw.Close(), gz.Close()); err != nil {
		return nil, fmt.Errorf("packing db.tar.gz: %w", err)
	}
	layer := static.NewLayer(buf.Bytes(), dbLayerMediaType)
	base := mutate.MediaType(mutate.ConfigMediaType(empty.Image, dbConfigMediaType), types.OCIManifestSchema1)
	img, err := mutate.Append(base, mutate.Addendum{
		Layer:       layer,
		Annotations: map[string]string{"org.opencontainers.image.title": "db.tar.gz"},
	})
	if err != nil {
		return nil, fmt.Errorf("assembling DB artifact: %w", err)
	}
	return img, nil
}
