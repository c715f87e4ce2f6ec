#!/usr/bin/env bash
# Runs Ferry's main job on the bundled example monorepo (examples/shipping, the drone-delivery
# shape: delivery, package, workflow, dronescheduler and a web frontend), unattended:
#   1. prepares a local OCI registry, a local Kubernetes cluster (kube-apiserver,
#      controller-manager, scheduler, etcd, kwok) and Trivy's offline vulnerability DB;
#   2. makes a git repository of the example, with a bare repository as its remote (origin);
#   3. a feature push of a change to the shared library: only the services that build with it
#      build and test, with the reasons;
#   4. the pull request into main: build, test, image (native, and buildah for the Dockerfile
#      with RUN), scan, with a finding in the summary;
#   5. ferry release cut delivery --bump auto --push, the release pipeline through QA on the
#      cluster, two demo approvers signing prod's gate with their SSH keys, promotion by digest
#      and the production deploy;
#   6. the release record (ferry status) and ferry verify of the production image.
# Everything it starts (registry, cluster, temporary folder) is stopped and removed at the end,
# also on Ctrl-C.
#
# `make demo` builds ferry, the pinned Trivy and the cluster's binaries first (cached by version
# in the tools folder: the first build takes about 5 minutes for Trivy and 10-20 minutes for the
# cluster on 2 cores; later runs reuse them) and calls this script with FERRY, FERRY_MKDB,
# FERRY_TRIVY and K8S_LAB (make k8s-cluster) set. Needs git, docker-registry, buildah, openssl, curl, python3.
# The machine needs no network: the scan uses a tiny offline DB made by tools/mkdb (the one the
# tests use), the Go module the example needs (go-cmp) is one Ferry itself is built with.
set -euo pipefail
FERRY=${FERRY:?set FERRY to the ferry binary (make demo does)}
MKDB=${FERRY_MKDB:?set FERRY_MKDB to the mkdb tool (make tools builds it)}
K8S_LAB=${K8S_LAB:?set K8S_LAB to the Kubernetes lab folder (make k8s-cluster builds it)}
# The demo plays the git events itself (plan and run flags): a CI job's variables must not
# make Ferry read the job's event instead.
unset GITHUB_ACTIONS TF_BUILD
here=$(cd "$(dirname "$0")" && pwd)
lab_scripts=$here/../internal/testenv/k8slab
work=$(mktemp -d "${TMPDIR:-/tmp}/ferry-demo.XXXXXX")
registry_pid=""
t0=$SECONDS

cleanup() {
  local rc=$?
  trap - EXIT
  trap "" INT TERM   # a second Ctrl-C must not cut the cleanup short
  printf '\n== cleaning up: '
  if [ -n "$registry_pid" ]; then kill "$registry_pid" 2>/dev/null || true; wait "$registry_pid" 2>/dev/null || true; printf 'registry stopped; '; fi
  if [ -s "$work/k8s/pids/apiserver.pid" ]; then
    LAB=$K8S_LAB RUN=$work/k8s "$lab_scripts/down.sh" >/dev/null 2>&1 || true
    printf 'cluster stopped; '
  fi
  rm -rf "$work"
  printf '%s removed (%ds in all)\n' "$work" "$((SECONDS - t0))"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

step() { printf '\n\033[1m== [%3ds] %s\033[0m\n' "$((SECONDS - t0))" "$*"; }
say() { printf '   %s\n' "$*"; }
git_() { git -c user.name=Demo -c user.email=demo@example.com -c init.defaultBranch=main -c advice.detachedHead=false "$@"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
json() { python3 -c "import json,sys; d=json.load(sys.stdin); $1"; }

step "1. what the demo needs: registry, Kubernetes cluster, Trivy and its offline DB"
for tool in git docker-registry buildah openssl curl python3 setsid; do
  command -v "$tool" >/dev/null || { echo "demo: $tool is not installed (on Debian: apt-get install git docker-registry buildah openssl curl python3)" >&2; exit 1; }
done
for b in etcd kube-apiserver kube-controller-manager kube-scheduler kwok kwok-stages.yaml; do
  [ -e "$K8S_LAB/bin/$b" ] || { echo "demo: $K8S_LAB/bin/$b missing: run make k8s-cluster (10-20 minutes the first time)" >&2; exit 1; }
done
say "ferry:   $("$FERRY" version)"
say "trivy:   ${FERRY_TRIVY:-the pinned Trivy} (built once into the tools folder, about 5 minutes the first time; reused)"
say "cluster: $K8S_LAB (built once, 10-20 minutes on 2 cores the first time; reused)"
"$MKDB" -cache-dir "$work/trivy" "$here/../stages/scan/testdata/trivy-db.yaml" >/dev/null 2>&1
say "trivy DB: an offline fixture DB in $work/trivy (two Go advisories, built in a second)"

port=$(free_port)
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
curl -fsS "http://127.0.0.1:$port/v2/" >/dev/null || { echo "demo: the registry did not start:" >&2; cat "$work/registry/log" >&2; exit 1; }
registry=127.0.0.1:$port
say "registry: docker-registry at $registry"

api_port=$(free_port)
env_ports=(API_PORT="$api_port")
for name in ETCD_PORT ETCD_PEER_PORT KCM_PORT SCHED_PORT KWOK_PORT; do env_ports+=("$name=$(free_port)"); done
t_cluster=$SECONDS
env LAB="$K8S_LAB" RUN="$work/k8s" "${env_ports[@]}" "$lab_scripts/up.sh" >"$work/cluster.log" 2>&1 ||
  { echo "demo: the cluster did not start:" >&2; tail -20 "$work/cluster.log" >&2; exit 1; }
say "cluster: kube-apiserver at https://127.0.0.1:$api_port with one kwok node, up in $((SECONDS - t_cluster))s"
export KUBECONFIG=$work/k8s/kubeconfig
# The example's environments name the contexts qa and prod: both are this one cluster here.
sed -i 's/^contexts:$/contexts:\n- name: qa\n  context: {cluster: k8s-lab, user: admin}\n- name: prod\n  context: {cluster: k8s-lab, user: admin}/' "$KUBECONFIG"
kube() { # METHOD PATH [BODY]: the cluster's API with the admin's client certificate
  curl -fsS --cacert "$work/k8s/certs/ca.crt" --cert "$work/k8s/certs/admin.crt" --key "$work/k8s/certs/admin.key" \
    -X "$1" -H 'Content-Type: application/json' "https://127.0.0.1:$api_port$2" ${3:+-d "$3"}
}
# qa's namespace is created by the deploy (createNamespace: true); prod's belongs to the admins.
kube POST /api/v1/namespaces '{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"backend"}}' >/dev/null
deployed_image() { kube GET "/apis/apps/v1/namespaces/$1/deployments/$2" | json 'print(d["spec"]["template"]["spec"]["containers"][0]["image"])'; }

step "2. a git repository from examples/shipping, with a bare remote"
repo=$work/repo
mkdir -p "$repo" && cp -r "$here/shipping/." "$repo/" && cd "$repo"
chmod 600 deploy/demo-keys/alice deploy/demo-keys/bob deploy/demo-keys/carol   # ssh refuses keys others can read
sed -i "s|trivy: {offline: true}|trivy: {offline: true, cacheDir: $work/trivy}|; s|^registry: 127.0.0.1:5000/shipping|registry: $registry/shipping|" ferry.yaml
git_ init -q && git_ add -A && git_ commit -qm "chore: the shipping example"
git_ init -q --bare "$work/origin.git"
git_ remote get-url origin >/dev/null 2>&1 || git_ remote add origin "$work/origin.git"
git_ push -q -u origin main
say "$repo, pushed to origin = $work/origin.git"
"$FERRY" validate

step "3. feature push: a change to the shared library src/shipping/common"
git_ checkout -qb feature/tracking
printf '\n// Regions lists where we ship.\nvar Regions = []string{"eu", "us"}\n' >> src/shipping/common/common.go
git_ commit -qam "feat(common): list the regions we ship to"
git_ push -q origin feature/tracking
say "only the services that build with src/shipping/common are affected, with the reasons:"
"$FERRY" plan
"$FERRY" run

step "the same commit again: every stage is reused from the cache"
"$FERRY" run

step "4. pull request into main: build, test, image, scan"
"$FERRY" plan --event pr --base main
"$FERRY" run --event pr --base main
pr_run=$("$FERRY" runs -o json | json 'print(d[0]["id"])')
say "dronescheduler's scan found 1 high: it links github.com/google/go-cmp, which the demo DB flags"
say "HIGH with no fix, and the policy (ignoreUnfixed) lets it pass. The scan's summary, from"
say "ferry logs $pr_run --service dronescheduler --stage scan:"
"$FERRY" logs "$pr_run" --service dronescheduler --stage scan | sed -n '/Vulnerability scan/,$p' | sed 's/^/   /'
git_ checkout -q main
git_ merge -q --no-ff -m "Merge pull request: feature/tracking" feature/tracking
git_ push -q origin main
say "merged into main and pushed"

step "5. ferry release cut delivery --bump auto --push"
"$FERRY" release cut delivery --bump auto --push
branch=$(git_ for-each-ref --format='%(refname:short)' 'refs/heads/release/delivery/*' | head -1)
say "origin has it: $(git_ ls-remote origin "refs/heads/$branch" | cut -c1-12) $branch"
git_ checkout -q "$branch"

step "the release pipeline of $branch: through QA on the cluster, then prod's gate"
"$FERRY" plan
set +e
"$FERRY" run
code=$?
set -e
[ "$code" = 3 ] || { echo "demo: ferry run exited $code, want 3 (waiting for prod's approval)" >&2; exit 1; }
run=$("$FERRY" runs -o json | json 'print(d[0]["id"])')
say "exit 3: run $run waits for prod's approval (minApprovals: 2 of alice, bob, carol)"
say "QA runs the pushed image, pinned by digest: $(deployed_image backend-qa delivery)"

step "two demo approvers sign prod's gate with their SSH keys"
"$FERRY" approve "$run" --env prod --key deploy/demo-keys/alice --comment "QA passed"
"$FERRY" approve "$run" --env prod --key deploy/demo-keys/bob --comment "go"

step "ferry resume $run: promotion by digest, then the production deploy"
"$FERRY" resume "$run"
say "prod runs the promoted image: $(deployed_image backend delivery)"
"$FERRY" history delivery --env prod

step "6. the release record: ferry status $run"
"$FERRY" status "$run"
"$FERRY" status "$run" -o json > "$work/status.json"
json '
r = d["release"]["delivery"]
print("release record of delivery", r["version"])
print("  commit   ", r["commit"])
print("  image    ", r["image"])
print("  scan     ", r["scan"]["verdict"])
for e in r["environments"]:
    who = ", ".join(a["by"] for a in e.get("approvals", []))
    print("  %-9s" % e["name"], e["image"], "revision", e.get("revision"), "(same digest as pushed)" if e["sameDigest"] else "(ANOTHER DIGEST than pushed)", ("approved by " + who) if who else "")
' < "$work/status.json"
prod_image=$(json 'print([e for e in d["release"]["delivery"]["environments"] if e["name"] == "prod"][0]["image"])' < "$work/status.json")
"$FERRY" release list delivery

step "ferry verify $prod_image --env prod --config ferry.yaml"
"$FERRY" verify "$prod_image" --env prod --config ferry.yaml
step "done"
