#!/usr/bin/env bash
# Installs ferry into BIN (default ./bin) the fastest trustworthy way:
#   - FERRY_VERSION is a release tag (v1.2.3, v1.3.0-rc.1): download that release's binary for
#     this OS and CPU and its checksums.txt, and install it only when the sha256 matches;
#   - FERRY_VERSION is anything else (a branch, a commit, latest): go install that version;
#   - FERRY_VERSION is empty: build the source in FERRY_SOURCE (a Ferry checkout).
# The GitHub Action and the Azure Pipelines template both install Ferry with this script.
#
#   FERRY_VERSION=v1.2.3 BIN=$HOME/.local/bin internal/release/install.sh
set -euo pipefail
BIN=${BIN:-bin}
FERRY_VERSION=${FERRY_VERSION:-}
FERRY_RELEASES=${FERRY_RELEASES:-https://github.com/ferry-ci/ferry/releases/download}
mkdir -p "$BIN"

fail() { echo "install ferry: $*" >&2; exit 1; }

platform() {
  local os arch
  case "$(uname -s)" in
    Linux) os=linux ;;
    Darwin) os=darwin ;;
    MINGW* | MSYS* | CYGWIN* | Windows_NT) os=windows ;;
    *) fail "no release binary for the OS $(uname -s): set FERRY_VERSION to a branch or commit to build it" ;;
  esac
  case "$(uname -m)" in
    x86_64 | amd64) arch=amd64 ;;
    aarch64 | arm64) arch=arm64 ;;
    *) fail "no release binary for the CPU $(uname -m): set FERRY_VERSION to a branch or commit to build it" ;;
  esac
  echo "${os}_${arch}"
}

sha256() {
  if command -v sha256sum >/dev/null; then sha256sum "$1" | cut -d' ' -f1; else shasum -a 256 "$1" | cut -d' ' -f1; fi
}

download() { # URL FILE
  curl --fail --silent --show-error --location --retry 3 --retry-connrefused -o "$2" "$1" ||
    fail "download $1 failed (is $FERRY_VERSION a published Ferry release?)"
}

install_release() {
  local p name ext="" tmp want got
  p=$(platform)
  [[ $p == windows_* ]] && ext=.exe
  name="ferry_${FERRY_VERSION}_${p}${ext}"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' RETURN
  download "$FERRY_RELEASES/$FERRY_VERSION/checksums.txt" "$tmp/checksums.txt"
  want=$(awk -v n="$name" '$2 == n || $2 == "*" n { print $1 }' "$tmp/checksums.txt")
  [ -n "$want" ] || fail "checksums.txt of $FERRY_VERSION lists no $name"
  download "$FERRY_RELEASES/$FERRY_VERSION/$name" "$tmp/$name"
  got=$(sha256 "$tmp/$name")
  [ "$got" = "$want" ] || fail "$name: sha256 $got, but checksums.txt of $FERRY_VERSION says $want: not installed"
  chmod +x "$tmp/$name"
  mv "$tmp/$name" "$BIN/ferry$ext"
  echo "installed ferry $FERRY_VERSION ($p, sha256 $got) in $BIN"
}

if [[ "$FERRY_VERSION" =~ ^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]]; then
  install_release
elif [ -n "$FERRY_VERSION" ]; then
  GOBIN=$(cd "$BIN" && pwd) CGO_ENABLED=0 GOWORK=off GOTOOLCHAIN=auto \
    go install -trimpath "github.com/ferry-ci/ferry/cmd/ferry@$FERRY_VERSION"
  echo "built ferry $FERRY_VERSION from the module proxy in $BIN"
else
  : "${FERRY_SOURCE:?set FERRY_VERSION to a release tag, or FERRY_SOURCE to a Ferry checkout}"
  ldflags=""
  [ -n "${FERRY_BUILD_VERSION:-}" ] && ldflags="-X main.version=$FERRY_BUILD_VERSION"
  CGO_ENABLED=0 GOWORK=off GOTOOLCHAIN=auto \
    go -C "$FERRY_SOURCE" build -trimpath -ldflags "$ldflags" -o "$(cd "$BIN" && pwd)/ferry" ./cmd/ferry
  echo "built ferry from $FERRY_SOURCE in $BIN"
fi
