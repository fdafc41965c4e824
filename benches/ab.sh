#!/usr/bin/env bash
# A/B timing of two commands, alternated, each pinned to core 1 (CORE=n to change):
#
#   benches/ab.sh N CMD_A... -- CMD_B...
#
# Runs A then B, N times, timing each run (wall, from `date +%s%N`; output discarded) and
# prints both lists of milliseconds sorted, so that two builds can be compared under the same
# machine noise. A run that exits non-zero stops the script (exit 1): compare commands that
# succeed (rdb-verify's exit 1 for findings counts as failing). Example (a copy of the old binary against the new one):
#
#   benches/ab.sh 9 /tmp/rdb-verify.old --jobs 1 benches/data/small-strings.rdb -- \
#       target/release/rdb-verify --jobs 1 benches/data/small-strings.rdb
set -euo pipefail
[ $# -ge 4 ] || { echo "usage: $0 N CMD_A... -- CMD_B..." >&2; exit 2; }
N=$1
shift
A=()
B=()
side=A
for arg in "$@"; do
    if [ "$arg" = "--" ] && [ "$side" = A ]; then side=B; continue; fi
    if [ "$side" = A ]; then A+=("$arg"); else B+=("$arg"); fi
done
[ ${#A[@]} -gt 0 ] && [ ${#B[@]} -gt 0 ] || { echo "$0: two commands needed, split by --" >&2; exit 2; }
PIN=()
command -v taskset >/dev/null && PIN=(taskset -c "${CORE:-1}")
# A failing command (a typo in a binary's path) would time as a fast run: stop instead.
ms() {
    local s e rc=0
    s=$(date +%s%N)
    "${PIN[@]}" "$@" >/dev/null 2>&1 || rc=$?
    e=$(date +%s%N)
    if [ "$rc" -ne 0 ]; then
        echo "$0: exit code $rc from: $*" >&2
        return 1
    fi
    echo $(((e - s) / 1000000))
}
ta=()
tb=()
for _ in $(seq "$N"); do
    ta+=("$(ms "${A[@]}")")
    tb+=("$(ms "${B[@]}")")
done
echo "A ms: $(printf '%s\n' "${ta[@]}" | sort -n | tr '\n' ' ')"
echo "B ms: $(printf '%s\n' "${tb[@]}" | sort -n | tr '\n' ' ')"
