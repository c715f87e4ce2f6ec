#!/usr/bin/env bash
# Measures the engine's own cost per stage (pipeline/bench_test.go) where the run store lives
# and, for comparison, on tmpfs, where creating files and fsync cost almost nothing: the
# difference is the filesystem's share. Figures and targets: docs/PERFORMANCE.md, "Engine".
#
#   bench/engine.sh            # $TMPDIR (default /tmp), then /dev/shm when it exists
#   COUNT=5 bench/engine.sh    # more repetitions (default 3)
#
# The benchmarks put their run stores in b.TempDir(), so TMPDIR chooses the filesystem.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
count=${COUNT:-3}

measure() {
  echo "## TMPDIR=$1 ($(df -T "$1" | awk 'NR == 2 { print $2 }'))"
  # Whole runs: a few are enough, and each 100x10 run creates about 2000 files and folders.
  TMPDIR=$1 go -C "$root" test -run '^$' -bench 'EngineNoOp100x10|EngineCachedRerun' \
    -benchtime 5x -count "$count" ./pipeline/ | grep '^Benchmark'
  # Single operations: enough of them for the disk to show its sustained cost.
  TMPDIR=$1 go -C "$root" test -run '^$' -bench 'JournalAppend|Filesystem' \
    -benchtime 2000x -count "$count" ./pipeline/ | grep '^Benchmark'
}

measure "${TMPDIR:-/tmp}"
if [ -d /dev/shm ]; then
  echo
  measure /dev/shm
fi
