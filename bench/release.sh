#!/usr/bin/env bash
# release.sh - the example's release pipeline (release/delivery/v1.0.2 through deploy:qa) with
# Ferry, cold and warm, against the same pipeline as the shell script of tools a team would
# otherwise write: go build/test, buildah (build, push), trivy (scan), helm (package, push,
# upgrade --install --wait). Prints wall times and the bytes each added to the registry.
# Needs: FERRY, FERRY_MKDB, FERRY_TRIVY (make tools), K8S_LAB (make k8s-lab: kubectl, helm),
# docker-registry, buildah. Usage: make build tools k8s-lab && FERRY=bin/ferry \
#   FERRY_MKDB=... FERRY_TRIVY=... K8S_LAB=... bench/release.sh
set -euo pipefail
FERRY=$(realpath "${FERRY:?}") MKDB=${FERRY_MKDB:?} TRIVY=${FERRY_TRIVY:?} LAB=${K8S_LAB:?}
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/ferry-bench.XXXXXX")
reg_pid=""
cleanup() {
  [ -n "$reg_pid" ] && kill "$reg_pid" 2>/dev/null || true
  LAB=$LAB RUN=$work/k8s "$here/internal/testenv/k8slab/down.sh" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.1f s", b-a}'; }
regbytes() { du -sb "$work/registry/data" 2>/dev/null | cut -f1 || echo 0; }
git_() { git -c user.name=Bench -c user.email=bench@example.com -c init.defaultBranch=main "$@"; }

# registry and cluster
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$work/registry/data"
printf 'version: 0.1\nlog: {level: error, accesslog: {disabled: true}}\nstorage: {filesystem: {rootdirectory: %s}, delete: {enabled: true}}\nhttp: {addr: 127.0.0.1:%s}\n' \
  "$work/registry/data" "$port" > "$work/registry/config.yml"
docker-registry serve "$work/registry/config.yml" >/dev/null 2>&1 & reg_pid=$!
for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$port/v2/" >/dev/null 2>&1 && break; sleep 0.1; done
LAB=$LAB RUN=$work/k8s "$here/internal/testenv/k8slab/up.sh" >/dev/null
export KUBECONFIG=$work/k8s/kubeconfig
for ctx in qa prod; do "$LAB/bin/kubectl" config set-context "$ctx" --cluster k8s-lab --user admin >/dev/null; done
"$MKDB" -cache-dir "$work/trivy" "$here/stages/scan/testdata/trivy-db.yaml" 2>/dev/null

repo=$work/repo
mkdir -p "$repo" && cp -r "$here/examples/shipping/." "$repo/" && cd "$repo"
sed -i "s|trivy: {offline: true}|trivy: {offline: true, cacheDir: $work/trivy}|; s|namespace: backend-qa,|namespace: bench-ferry,|" ferry.yaml
git_ init -q && git_ add -A && git_ commit -qm example && git_ checkout -qb release/delivery/v1.0.2
export FERRY_CACHE_DIR=$work/cache FERRY_TOOLS_DIR=$(dirname "$(dirname "$TRIVY")") GOFLAGS=-count=1

b0=$(regbytes); t=$(now)
"$FERRY" run --until deploy:qa --registry "127.0.0.1:$port/ferry" --no-progress >"$work/ferry-cold.log" 2>&1 || { cat "$work/ferry-cold.log"; exit 1; }
cold=$(since "$t"); b1=$(regbytes)
t=$(now)
"$FERRY" run --until deploy:qa --registry "127.0.0.1:$port/ferry" --no-progress >"$work/ferry-warm.log" 2>&1
warm=$(since "$t"); b2=$(regbytes)

script() { # the same pipeline, tool by tool
  local reg=127.0.0.1:$port/script svc=src/shipping/delivery
  (cd $svc && CGO_ENABLED=0 go build -trimpath -o bin/delivery . && go test ./... >/dev/null)
  buildah bud -q --layers=false -t "$reg/delivery:1.0.2" -f $svc/Dockerfile $svc >/dev/null
  buildah push -q --tls-verify=false "$reg/delivery:1.0.2" "oci:$work/layout:1.0.2" >/dev/null
  "$TRIVY" image --quiet --skip-db-update --skip-java-db-update --offline-scan --skip-version-check \
    --cache-dir "$work/trivy" --severity HIGH,CRITICAL --exit-code 1 --input "$work/layout" >/dev/null
  buildah push -q --tls-verify=false --digestfile "$work/digest" "$reg/delivery:1.0.2" "docker://$reg/delivery:1.0.2"
  "$LAB/bin/helm" package charts/delivery --version 1.0.2 --app-version 1.0.2 -d "$work" >/dev/null
  "$LAB/bin/helm" push "$work/delivery-1.0.2.tgz" "oci://$reg/helm" --plain-http >/dev/null 2>&1
  "$LAB/bin/helm" upgrade --install delivery "oci://$reg/helm/delivery" --version 1.0.2 --plain-http \
    --namespace bench-script --create-namespace --wait=watcher --timeout 2m \
    --set image.repository="$reg/delivery" --set image.tag="1.0.2@$(cat "$work/digest")" >/dev/null
}
t=$(now); script; scold=$(since "$t"); b3=$(regbytes)
t=$(now); script; swarm=$(since "$t"); b4=$(regbytes)

echo "| pipeline | cold | warm | bytes added to the registry (cold / warm) |"
echo "|---|---|---|---|"
echo "| ferry run --until deploy:qa | $cold | $warm | $((b1 - b0)) / $((b2 - b1)) |"
echo "| shell script (go, buildah, trivy, helm) | $scold | $swarm | $((b3 - b2)) / $((b4 - b3)) |"
