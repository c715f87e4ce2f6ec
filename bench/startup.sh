#!/usr/bin/env bash
# startup.sh - how long `ferry version` takes to start, and which packages' init functions
# take that time (GODEBUG=inittrace=1). Usage: FERRY=bin/ferry bench/startup.sh [runs]
set -euo pipefail
FERRY=${FERRY:?set FERRY to the ferry binary}
runs=${1:-50}
python3 - "$FERRY" "$runs" <<'PY'
import subprocess, sys, time
ferry, runs = sys.argv[1], int(sys.argv[2])
ts = []
for _ in range(runs):
    t = time.perf_counter()
    subprocess.run([ferry, "version"], stdout=subprocess.DEVNULL, check=True)
    ts.append((time.perf_counter() - t) * 1000)
ts.sort()
print(f"ferry version: median {ts[len(ts)//2]:.1f} ms, min {ts[0]:.1f} ms, p90 {ts[int(len(ts)*0.9)]:.1f} ms over {runs} runs")
PY
echo "package init, largest first (ms, package):"
GODEBUG=inittrace=1 "$FERRY" version 2>&1 >/dev/null | awk '/^init /{ms[$2]+=$5; total+=$5} END {for (p in ms) printf "%6.2f %s\n", ms[p], p; printf "%6.2f total\n", total}' | sort -rn | head -12
