#!/usr/bin/env bash
# Our writer vs the server's own SAVE, on the datasets of gen_datasets.sh.
#
#   benches/compare_save.sh [DATA_DIR=benches/data]
#   benches/compare_save.sh FILE.rdb...      (e.g. the per-type files of split_by_type.sh)
#
# For each of small-strings.rdb, mixed.rdb, big-values.rdb in DATA_DIR (or each FILE), one run of
# `rdbkit-bench compare-save` (release build): it reads the file into a Keyspace once (untimed),
# starts /usr/bin/redis-server on a copy of it (and checks that it holds the same keys), pins
# the server and itself to core CPUS (taskset), then alternates ROUNDS (default 3) rounds of
#   SAVE                    (timed from the client: the server's serialisation + fsync + rename)
#   write_keyspace          (to a file, LZF on, target redis-7.0, direct I/O + fsync)
#   write_keyspace x2       (big-values only: the keyspace split by hash slot into two node
#                            groups, two writers in parallel on cores SPLIT_CPUS)
# and prints seconds, MB/s, keys/s and the SAVE/writer time ratio per round and the medians.
# Results are appended as JSON lines to DATA_DIR/compare_save.jsonl (truncated first; with FILE
# arguments, compare_save.jsonl in the first file's directory).
# Environment: ROUNDS, REDIS_SERVER, RDBKIT_BENCH (prebuilt binary; otherwise built with cargo,
# honouring CARGO_TARGET_DIR), SPLIT_ALL=1 (the x2 variant on every dataset), CPUS (default 0:
# the core of the server and the one-file writer), SPLIT_CPUS (default 0,1).
# Scratch files (the server's copy, our output) live in a private TMPDIR that an exit or an
# interruption removes, with any server still running there.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FILES=()
if [ $# -gt 0 ] && [ -f "$1" ]; then
    FILES=("$@")
    DATA="$(dirname "$1")"
else
    DATA="${1:-$ROOT/benches/data}"
fi
ROUNDS="${ROUNDS:-3}"
REDIS_SERVER="${REDIS_SERVER:-/usr/bin/redis-server}"
[ -x "$REDIS_SERVER" ] || { echo "compare_save.sh: $REDIS_SERVER not found" >&2; exit 2; }
[ -d "$DATA" ] || { echo "compare_save.sh: $DATA not found (run benches/gen_datasets.sh)" >&2; exit 2; }
if [ ${#FILES[@]} -eq 0 ]; then
    for name in small-strings mixed big-values; do
        if [ -f "$DATA/$name.rdb" ]; then
            FILES+=("$DATA/$name.rdb")
        else
            echo "skipping $name: $DATA/$name.rdb missing"
        fi
    done
fi

if [ -z "${RDBKIT_BENCH:-}" ]; then
    (cd "$ROOT" && cargo build --release -q -p rdb-testkit --bin rdbkit-bench)
    RDBKIT_BENCH="${CARGO_TARGET_DIR:-$ROOT/target}/release/rdbkit-bench"
fi

PIN=(--cpus "${CPUS:-0}" --split-cpus "${SPLIT_CPUS:-0,1}")
command -v taskset >/dev/null || { PIN=(--no-pin); echo "taskset not found: running unpinned"; }

# A private TMPDIR: rdbkit-bench cleans up after itself, but not when it is killed; then the
# trap stops the servers working there (their working directory) and removes it all.
SCRATCH="$(mktemp -d "${TMPDIR:-/tmp}/rdbkit-compare-save.XXXXXX")"
export TMPDIR="$SCRATCH"
cleanup() {
    for pid in $(pgrep -x redis-server || true); do
        case "$(readlink "/proc/$pid/cwd" 2>/dev/null)" in
        "$SCRATCH"/*) kill -9 "$pid" 2>/dev/null || true ;;
        esac
    done
    rm -rf "$SCRATCH"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

OUT="$DATA/compare_save.jsonl"
: >"$OUT"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)  nproc: $(nproc)  server: $("$REDIS_SERVER" --version | cut -d' ' -f3)"
found=0
for f in "${FILES[@]}"; do
    [ -f "$f" ] || { echo "compare_save.sh: $f not found" >&2; exit 2; }
    name="$(basename "$f" .rdb)"
    found=1
    split=1
    if [ "$name" = big-values ] || [ "${SPLIT_ALL:-0}" = 1 ]; then split=2; fi
    echo "== $name ($(stat -c %s "$f") bytes)"
    "$RDBKIT_BENCH" compare-save --rdb "$f" --name "$name" --rounds "$ROUNDS" --split "$split" \
        --server "$REDIS_SERVER" --json "$OUT" "${PIN[@]}"
done
[ "$found" = 1 ] || { echo "compare_save.sh: no dataset in $DATA" >&2; exit 2; }
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "results: $OUT"
