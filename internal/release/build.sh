#!/usr/bin/env bash
# Builds Ferry's release files into OUT (default dist/): one static binary per platform,
# a CycloneDX SBOM per binary and checksums.txt (sha256) over all of them.
#
#   VERSION=v1.2.3 internal/release/build.sh            # every platform
#   VERSION=v0.0.0-snapshot PLATFORMS=linux/amd64 OUT=/tmp/d internal/release/build.sh
#
# The binaries are reproducible: the same commit and Go toolchain give the same bytes on any
# machine and in any checkout folder (-trimpath, no build id, no VCS stamp, CGO off), so anyone
# can rebuild a release and compare it with checksums.txt.
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${VERSION:?set VERSION, e.g. v1.2.3 (a snapshot: v0.0.0-snapshot)}"
if ! [[ "$VERSION" =~ ^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]]; then
  echo "build.sh: VERSION=$VERSION is not a semantic version tag (vMAJOR.MINOR.PATCH[-PRE])" >&2
  exit 2
fi
OUT=${OUT:-dist}
PLATFORMS=${PLATFORMS:-linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64 windows/arm64}
GO=${GO:-go}

rm -rf "$OUT"
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd) # go -C tools below runs in another folder
for platform in $PLATFORMS; do
  os=${platform%/*} arch=${platform#*/}
  ext=""
  [ "$os" = windows ] && ext=.exe
  bin="ferry_${VERSION}_${os}_${arch}${ext}"
  echo "build $bin"
  CGO_ENABLED=0 GOOS=$os GOARCH=$arch GOFLAGS=-buildvcs=false \
    "$GO" build -trimpath -ldflags "-s -w -buildid= -X main.version=$VERSION" -o "$OUT/$bin" ./cmd/ferry
  # The SBOM lists the modules linked into this very binary (read from its build info), with
  # no serial number or timestamp so that it is reproducible too.
  "$GO" -C tools tool cyclonedx-gomod bin -json -noserial -notimestamp -version "$VERSION" \
    -output "$OUT/$bin.cdx.json" "$OUT/$bin"
done
(cd "$OUT" && sha256sum -- * > checksums.txt)
echo "wrote $(ls "$OUT" | wc -l) files to $OUT"
