#!/usr/bin/env bash
# Measures `ferry plan` end to end on the large synthetic monorepo and compares it with the git
# commands it replaces and with `ferry version` (the cost of starting the binary).
#
#   bench/plan.sh              # everything
#   bench/plan.sh --git-only   # only the git baselines (no ferry binary needed)
#
# Environment:
#   FERRY            ferry binary to measure (default: go build ./cmd/ferry into a temp dir)
#   FERRY_BENCH_DIR  where the repository is generated and cached (default /tmp/ferry-bench)
#   RUNS             hyperfine runs per command (default 20)
#
# The repository is bench/mkrepo.sh large 1000 100 20000 (~108k files, 20k commits, 30 s to
# make), used in its git-gc layout (like a CI clone) and checked out once; the checkout and a
# ferry.yaml with one service per src/svc-NNNN are cached with it. Results (hyperfine markdown
# and peak RSS) are written to $FERRY_BENCH_DIR/plan-results.md and printed.
set -euo pipefail

git_only=false
case "${1:-}" in
  --git-only) git_only=true ;;
  "") ;;
  *) echo "usage: $0 [--git-only]" >&2; exit 2 ;;
esac

root=$(cd "$(dirname "$0")/.." && pwd)
dir=${FERRY_BENCH_DIR:-/tmp/ferry-bench}
repo=$dir/large-gc
runs=${RUNS:-20}
out=$dir/plan-results.md
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

for tool in git hyperfine; do
  command -v "$tool" >/dev/null || { echo "$0: $tool is required" >&2; exit 1; }
done

# Peak RSS in KiB of one run of a command: GNU time, or BSD time on macOS.
if /usr/bin/time -f %M true >/dev/null 2>&1; then
  rss() { /usr/bin/time -f %M -o "$tmp/rss" "$@" >/dev/null 2>&1 || true; tail -n 1 "$tmp/rss"; }
elif /usr/bin/time -l true >/dev/null 2>&1; then
  rss() {
    /usr/bin/time -l "$@" >/dev/null 2>"$tmp/rss" || true
    awk '/maximum resident set size/ { print int($1 / 1024) }' "$tmp/rss"
  }
else
  rss() { echo "n/a (no GNU or BSD time)"; }
fi

# The repository: generate once, reuse while it has the feature branch the new-branch case needs.
if ! git -C "$repo" rev-parse -q --verify refs/heads/feature >/dev/null 2>&1; then
  echo "generating $repo (about 30 s)..."
  "$root/bench/mkrepo.sh" large 1000 100 20000 "$dir"
fi
if [ ! -f "$repo/src/svc-0000/go.mod" ]; then
  echo "checking out $repo..."
  git -C "$repo" checkout -q -f main
fi

# One service per src/svc-NNNN; every other one also depends on a shared lib (the generator
# makes max(5, services/20) libs: lib-00..lib-49 for 1000 services).
if [ ! -f "$repo/ferry.yaml" ]; then
  {
    echo "version: 1"
    echo "trunk: main"
    echo "registry: registry.example.com"
    echo "services:"
    for d in "$repo"/src/svc-*; do
      name=${d##*/}
      n=$((10#${name#svc-}))
      if [ $((n % 2)) -eq 0 ]; then
        printf '  %s: {path: src/%s, dependsOn: [libs/lib-%02d]}\n' "$name" "$name" $((n % 50))
      else
        printf '  %s: {path: src/%s}\n' "$name" "$name"
      fi
    done
    echo "triggers:"
    echo "  feature: {branches: {include: ['*']}, stages: [build, test]}"
  } >"$repo/ferry.yaml"
fi

if ! $git_only; then
  if [ -z "${FERRY:-}" ]; then
    echo "building ferry..."
    (cd "$root" && go build -o "$tmp/ferry" ./cmd/ferry)
    FERRY=$tmp/ferry
  fi
  "$FERRY" version >/dev/null
fi

rev() { git -C "$repo" rev-parse --verify "$1^{commit}"; }
head=$(rev main)
parent=$(rev main~1)
back=$(rev main~1000)
feature=$(rev feature)
base=$(git -C "$repo" merge-base main feature)
zeros=0000000000000000000000000000000000000000

cd "$repo"
{
  echo "# ferry plan on $(basename "$repo") ($(git rev-list --count main) commits, $(git ls-files | wc -l) files)"
  echo
  echo "$(date -u +%Y-%m-%d), $(nproc 2>/dev/null || sysctl -n hw.ncpu) cores, $(git --version), hyperfine --runs $runs"
  echo
} >"$out"

# bench NAME REF BEFORE AFTER DIFF_FROM: one hyperfine table and the peak RSS of each command.
bench() {
  local name=$1 ref=$2 before=$3 after=$4 from=$5
  local cmds=() names=()
  cmds+=("git diff-tree -r --name-only $from $after"); names+=("git diff-tree")
  if ! $git_only; then
    for backend in git go-git; do
      cmds+=("$FERRY plan --event push --ref $ref --before $before --after $after --output json --git $backend")
      names+=("ferry plan --git $backend")
    done
    cmds+=("$FERRY version"); names+=("ferry version")
    # Fail early and visibly if a command does not work, rather than timing an error.
    for c in "${cmds[@]}"; do
      $c >"$tmp/check" 2>&1 || { echo "failed: $c" >&2; cat "$tmp/check" >&2; exit 1; }
    done
  fi
  local args=()
  for i in "${!cmds[@]}"; do args+=(-n "${names[$i]}" "${cmds[$i]}"); done
  echo "== $name"
  hyperfine -N --warmup 3 --runs "$runs" --style basic --export-markdown "$tmp/table.md" "${args[@]}"
  {
    echo "## $name"
    echo
    echo "\`--before ${before:0:12} --after ${after:0:12}\`; git diff-tree ${from:0:12}..${after:0:12} lists $(git diff-tree -r --name-only "$from" "$after" | wc -l) paths"
    echo
    cat "$tmp/table.md"
    echo
    echo "| command | peak RSS (KiB) |"
    echo "|:---|---:|"
    for i in "${!cmds[@]}"; do
      # shellcheck disable=SC2086 # the commands are word lists by design
      echo "| ${names[$i]} | $(rss ${cmds[$i]}) |"
    done
    echo
  } >>"$out"
}

bench "push of one commit" refs/heads/main "$parent" "$head" "$parent"
bench "push of 1000 commits" refs/heads/main "$back" "$head" "$back"
bench "new branch (before=0000…, 5 commits on main~100)" refs/heads/feature "$zeros" "$feature" "$base"

echo
cat "$out"
