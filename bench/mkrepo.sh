#!/usr/bin/env bash
# Builds a synthetic monorepo for the change-detection benchmarks.
#
#   bench/mkrepo.sh NAME SERVICES FILES_PER_SERVICE COMMITS [OUTDIR]
#   bench/mkrepo.sh small 50 100 2000
#   bench/mkrepo.sh large 1000 100 20000   # ~108k files, ~376k objects, ~30 s on 2 cores
#
# Layout (see bench/monorepo-gen): src/svc-NNNN/... one folder per service, libs/lib-NN/...,
# deploy/svc-NNNN/*.yaml, a few top-level files; one initial commit, then small commits on main,
# and a branch "feature" of 5 commits forked 100 commits before main's tip (for new-branch
# benchmarks; main is the same as without it).
# Writes OUTDIR/NAME (as packed by git fast-import) and OUTDIR/NAME-gc (after git gc), because
# the two pack layouts perform differently. OUTDIR defaults to ${FERRY_BENCH_DIR:-/tmp/ferry-bench}.
set -euo pipefail
if [ $# -lt 4 ]; then
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2
  exit 2
fi
root=$(cd "$(dirname "$0")/.." && pwd)
NAME=$1 S=$2 F=$3 C=$4 OUT=${5:-${FERRY_BENCH_DIR:-/tmp/ferry-bench}}
mkdir -p "$OUT"
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
(cd "$root" && go build -o "$bin/gen" ./bench/monorepo-gen)
R=$OUT/$NAME
rm -rf "$R" "$R-gc"
git init -q -b main "$R"
back=$(( C > 100 ? 100 : C - 1 ))
"$bin/gen" -services "$S" -files "$F" -commits "$C" -feature-commits 5 -feature-back "$back" |
  git -C "$R" fast-import --quiet
git -C "$R" symbolic-ref HEAD refs/heads/main
cp -r "$R" "$R-gc"
git -C "$R-gc" gc -q
echo "$R and $R-gc: $(git -C "$R" rev-list --count main) commits, $(git -C "$R" ls-tree -r main | wc -l) files;" \
  "feature: $(git -C "$R" rev-list --count main..feature) commits on main~$back"
