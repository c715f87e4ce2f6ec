#!/usr/bin/env bash
# Runs Ferry's main job on the bundled example monorepo (examples/shipping): it makes a git
# repository of it, then plans and runs
#   - the feature pipeline of a change to a shared folder (build, test of the affected services),
#   - the pull request pipeline (build, test, image, scan),
#   - the release pipeline of release/delivery/v1.0.2 through deploy:qa, against a local registry
#     and a local Kubernetes cluster (kube-apiserver, controller-manager, scheduler, etcd, kwok),
# and shows the run journal and the QA Deployment's image, pinned by digest. `make demo` builds
# ferry, the tools and the cluster's binaries (cached by version; the first build of the
# cluster takes 10-20 minutes on 2 cores) and calls this script.
#
# This machine has no network, so the scan uses a tiny offline vulnerability DB made by
# tools/mkdb (the one the tests use), and the registry is Debian's docker-registry on a free
# loopback port. Needs: FERRY (the ferry binary), FERRY_MKDB, git; docker-registry for the
# release part.
set -euo pipefail
FERRY=${FERRY:?set FERRY to the ferry binary (make demo does)}
MKDB=${FERRY_MKDB:?set FERRY_MKDB to the mkdb tool (make tools builds it)}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/ferry-demo.XXXXXX")
registry_pid=""
K8S_LAB=${K8S_LAB:-}
cleanup() {
  [ -n "$registry_pid" ] && kill "$registry_pid" 2>/dev/null || true
  [ -s "$work/k8s/pids/apiserver.pid" ] && LAB=$K8S_LAB RUN=$work/k8s "$here/../internal/testenv/k8slab/down.sh" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
git_() { git -c user.name=Demo -c user.email=demo@example.com -c init.defaultBranch=main "$@"; }

step "a git repository from examples/shipping"
repo=$work/repo
mkdir -p "$repo" && cp -r "$here/shipping/." "$repo/" && cd "$repo"
"$MKDB" -cache-dir "$work/trivy" "$here/../stages/scan/testdata/trivy-db.yaml" 2>/dev/null
sed -i "s|trivy: {offline: true}|trivy: {offline: true, cacheDir: $work/trivy}|" ferry.yaml
git_ init -q && git_ add -A && git_ commit -qm "shipping example"
"$FERRY" validate

step "feature branch: a change to the shared folder src/shipping/common"
git_ checkout -qb feature/tracking
printf '\n// Regions lists where we ship.\nvar Regions = []string{"eu", "us"}\n' >> src/shipping/common/common.go
git_ commit -qam "add regions"
"$FERRY" plan
"$FERRY" run --no-progress

step "the same commit again: every stage is reused from the cache"
"$FERRY" run --no-progress

step "pull request into main: build, test, image, scan"
"$FERRY" plan --event pr --base main
"$FERRY" run --event pr --base main --no-progress

step "release branch release/delivery/v1.0.2: the release pipeline up to push"
git_ checkout -qb release/delivery/v1.0.2
"$FERRY" plan
if ! command -v docker-registry >/dev/null; then
  echo "docker-registry is not installed (apt-get install docker-registry): skipping the push"
  exit 0
fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$work/registry"
cat > "$work/registry/config.yml" <<CFG
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $work/registry/data}}
http: {addr: 127.0.0.1:$port}
CFG
docker-registry serve "$work/registry/config.yml" >"$work/registry/log" 2>&1 &
registry_pid=$!
for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$port/v2/" >/dev/null 2>&1 && break; sleep 0.1; done
until=push
if [ -n "$K8S_LAB" ] && [ -x "$K8S_LAB/bin/kube-apiserver" ]; then
  step "a local Kubernetes cluster for QA (kwok makes pods Ready)"
  LAB=$K8S_LAB RUN=$work/k8s "$here/../internal/testenv/k8slab/up.sh" | tail -1
  export KUBECONFIG=$work/k8s/kubeconfig
  for ctx in qa prod; do "$K8S_LAB/bin/kubectl" config set-context "$ctx" --cluster k8s-lab --user admin >/dev/null; done
  until=deploy:qa
else
  echo "no Kubernetes test cluster built (make k8s-lab): the release stops after push"
fi
"$FERRY" run --until "$until" --registry "127.0.0.1:$port/shipping" --no-progress
run=$("$FERRY" runs -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
if [ "$until" = deploy:qa ]; then
  step "the QA Deployment runs the pushed image, pinned by digest"
  "$K8S_LAB/bin/kubectl" -n backend-qa get deploy delivery -o jsonpath='{.spec.template.spec.containers[0].image}{"\n"}'
  "$FERRY" history delivery --env qa
fi

step "the run's journal: ferry status $run"
"$FERRY" status "$run"
step "pushed tags in the registry"
curl -fsS "http://127.0.0.1:$port/v2/shipping/delivery/tags/list"; echo
