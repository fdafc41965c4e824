#!/usr/bin/env bash
# Compare `redis-check-rdb` (the server's own checker) with `rdb-verify --jobs 1`.
#
# Usage: benches/compare_verify.sh [FILE.rdb ...]
#
# Files: the arguments; else benches/data/*.rdb if any; else three generated files written to
# benches/data/ (JSONL made by awk, turned into RDB 10 by `rdbkit export --target redis-7.0`):
#   strings.rdb      many small string keys (ints and 16-200 byte text), some with TTLs
#   collections.rdb  hashes, sets, sorted sets and lists of 20-400 elements
#   big.rdb          string values of 32-160 KiB
# SCALE (default 1, decimals allowed) multiplies the generated sizes (1: about 50, 100, 190 MB).
#
# Each file is checked ROUNDS (default 3) times, the two tools alternating; every run is timed
# with `/usr/bin/time -f "%e %M %U"` (wall seconds, peak RSS, user CPU seconds). The table shows
# the median of each column apart (the lower median for an even ROUNDS). A row where either
# tool exited non-zero in any run is marked FAIL, and the script then exits 1. The binaries are
# used as built (`cargo build --release` first): their build time is printed, with a warning
# when a source file is newer.
# Environment: REDIS_CHECK_RDB (default /usr/bin/redis-check-rdb), CARGO_TARGET_DIR, DATA_DIR
# (default benches/data), VERIFY_ARGS (extra rdb-verify options, e.g. --no-duplicate-check),
# JOBS (rdb-verify --jobs, default 1: one thread; 2 verifies each file in two parts at once,
# and the cpu ratio then compares one thread's CPU time with two threads' together).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
VERIFY="$TARGET_DIR/release/rdb-verify"
RDBKIT="$TARGET_DIR/release/rdbkit"
CHECK="${REDIS_CHECK_RDB:-/usr/bin/redis-check-rdb}"
ROUNDS="${ROUNDS:-3}"
JOBS="${JOBS:-1}"
SCALE="${SCALE:-1}"
DATA="${DATA_DIR:-$ROOT/benches/data}"
read -r -a VERIFY_ARGS <<< "${VERIFY_ARGS:-}"

die() { echo "compare_verify: $*" >&2; exit 2; }

[ -x "$CHECK" ] || die "$CHECK not found (apt-get install redis-tools)"
if [ ! -x /usr/bin/time ]; then
    echo "installing GNU time ..." >&2
    if [ "$(id -u)" = 0 ]; then apt-get install -y time >/dev/null; else sudo apt-get install -y time >/dev/null; fi
fi
if [ ! -x "$VERIFY" ] || [ ! -x "$RDBKIT" ]; then
    echo "building release binaries in $TARGET_DIR ..." >&2
    (cd "$ROOT" && cargo build --release -p rdb-cli --bins)
fi
echo "rdb-verify: $VERIFY, built $(date -r "$VERIFY" '+%Y-%m-%d %H:%M:%S')" >&2
if [ -n "$(find "$ROOT/crates" -name '*.rs' -path '*/src/*' -newer "$VERIFY" -print -quit)" ]; then
    echo "warning: sources newer than $VERIFY: run cargo build --release to time the current code" >&2
fi

# ---- data -----------------------------------------------------------------------------------
gen_pool() { # seed -> 512 KiB of random base64 characters on one line (LZF finds no repeats)
    awk -v seed="$1" 'BEGIN {
        srand(seed); a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
        for (i = 0; i < 524288; i++) printf "%s", substr(a, 1 + int(rand() * 64), 1)
        print ""
    }'
}

gen_jsonl() { # kind n seed pool-file
    awk -v kind="$1" -v n="$2" -v seed="$3" -v poolfile="$4" '
    function text(len) { return substr(pool, 1 + int(rand() * (plen - len)), len) }
    BEGIN {
        srand(seed); getline pool < poolfile; plen = length(pool)
        split("hash set zset list", names, " ")
        for (k = 0; k < n; k++) {
            if (kind == "strings") {
                v = (rand() < 0.3) ? sprintf("%d", int(rand() * 1000000000)) : text(16 + int(rand() * 185))
                ttl = (rand() < 0.1) ? sprintf("%.0f", 4102444800000 + k * 1000) : "null"
                printf "{\"db\":0,\"key\":\"str:%010d\",\"type\":\"string\",\"expire_at_ms\":%s,\"value\":\"%s\"}\n", k, ttl, v
            } else if (kind == "big") {
                printf "{\"db\":0,\"key\":\"big:%08d\",\"type\":\"string\",\"expire_at_ms\":null,\"value\":\"%s\"}\n", k, text(32768 + int(rand() * 131072))
            } else {
                t = k % 4; m = 20 + int(rand() * 380); out = ""
                for (j = 0; j < m; j++) {
                    if (t == 0) e = sprintf("[\"field:%d\",\"%s\"]", j, text(8 + int(rand() * 40)))
                    else if (t == 1) e = sprintf("\"member:%d:%s\"", j, text(6))
                    else if (t == 2) e = sprintf("[\"m:%d:%s\",\"%d\"]", j, text(4), j)
                    else e = sprintf("\"%s\"", text(4 + int(rand() * 60)))
                    out = out (j ? "," : "") e
                }
                printf "{\"db\":0,\"key\":\"coll:%d:%08d\",\"type\":\"%s\",\"expire_at_ms\":null,\"value\":[%s]}\n", t, k, names[t + 1], out
            }
        }
    }'
}

make_rdb() { # name kind n seed
    local name="$1" tmp
    [ -f "$DATA/$name.rdb" ] && return
    tmp="$(mktemp -d)"
    echo "generating $DATA/$name.rdb ..." >&2
    gen_pool "$4" > "$tmp/pool"
    gen_jsonl "$2" "$3" "$4" "$tmp/pool" > "$tmp/$name.jsonl"
    "$RDBKIT" export --from "$tmp/$name.jsonl" --name "$name" --out "$tmp" --shards 1 --target redis-7.0 >&2
    mv "$tmp/$name-0001.rdb" "$DATA/$name.rdb"
    rm -rf "$tmp"
}

FILES=("$@")
if [ ${#FILES[@]} -eq 0 ]; then
    shopt -s nullglob
    FILES=("$DATA"/*.rdb)
    shopt -u nullglob
    if [ ${#FILES[@]} -eq 0 ]; then
        mkdir -p "$DATA"
        scaled() { awk -v n="$1" -v s="$SCALE" 'BEGIN { v = int(n * s); print (v < 1 ? 1 : v) }'; }
        make_rdb strings strings "$(scaled 500000)" 1
        make_rdb collections collections "$(scaled 20000)" 2
        make_rdb big big "$(scaled 2000)" 3
        FILES=("$DATA/strings.rdb" "$DATA/collections.rdb" "$DATA/big.rdb")
    fi
fi

# ---- timing ---------------------------------------------------------------------------------
TIMES="$(mktemp)"
ONE="$(mktemp)"
trap 'rm -f "$TIMES" "$ONE"' EXIT

run() { # tool file -> "wall_seconds maxrss_kb user_seconds exit_code" (and a warning when the tool rejects the file)
    local tool="$1" file="$2" rc=0
    if [ "$tool" = check ]; then
        /usr/bin/time -f "%e %M %U" -o "$ONE" "$CHECK" "$file" >/dev/null 2>&1 || rc=$?
    else
        /usr/bin/time -f "%e %M %U" -o "$ONE" "$VERIFY" --jobs "$JOBS" ${VERIFY_ARGS[@]+"${VERIFY_ARGS[@]}"} "$file" >/dev/null 2>&1 || rc=$?
    fi
    [ "$rc" = 0 ] || echo "warning: $tool exited $rc on $file" >&2
    echo "$(tail -n 1 "$ONE") $rc"
}

# Read every file once untimed: on this project's VMs the page cache sometimes drops a dataset,
# and the first timed run would then also pay for the disk.
for f in "${FILES[@]}"; do cat "$f" > /dev/null; done

for round in $(seq 1 "$ROUNDS"); do
    for f in "${FILES[@]}"; do
        echo "$f check $(run check "$f")" >> "$TIMES"
        echo "$f verify $(run verify "$f")" >> "$TIMES"
    done
done

median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

failed=0
printf "%-22s %8s | %8s %8s %7s %7s | %8s %8s %7s %7s | %7s %7s\n" \
    file "size MB" "check s" "user s" "MB/s" "RSS MB" "verify s" "user s" "MB/s" "RSS MB" "ratio" "cpu"
for f in "${FILES[@]}"; do
    size=$(stat -c %s "$f")
    mb=$(awk -v s="$size" 'BEGIN { printf "%.1f", s / 1048576 }')
    col() { awk -v f="$f" -v t="$1" -v c="$2" '$1 == f && $2 == t { print $c }' "$TIMES" | median; }
    bad=$(awk -v f="$f" '$1 == f && $6 != 0 { n++ } END { print n + 0 }' "$TIMES")
    [ "$bad" = 0 ] || failed=1
    awk -v name="$(basename "$f")" -v mb="$mb" -v bad="$bad" \
        -v cs="$(col check 3)" -v cm="$(col check 4)" -v cu="$(col check 5)" \
        -v vs="$(col verify 3)" -v vm="$(col verify 4)" -v vu="$(col verify 5)" 'BEGIN {
        # A time under /usr/bin/time'"'"'s 10 ms resolution (0.00) gives no rate or ratio: n/a.
        crate = (cs > 0) ? sprintf("%7.1f", mb / cs) : "    n/a"
        vrate = (vs > 0) ? sprintf("%7.1f", mb / vs) : "    n/a"
        ratio = (vs > 0 && cs > 0) ? sprintf("%6.2fx", cs / vs) : "    n/a"
        cpu = (vu > 0 && cu > 0) ? sprintf("%6.2fx", cu / vu) : "    n/a"
        printf "%-22s %8.1f | %8.2f %8.2f %s %7.1f | %8.2f %8.2f %s %7.1f | %s %s%s\n",
            name, mb, cs, cu, crate, cm / 1024, vs, vu, vrate, vm / 1024, ratio, cpu,
            (bad > 0) ? "  FAIL (" bad " runs exited non-zero)" : "" }'
done
echo "(median of $ROUNDS alternating runs; ratio = redis-check-rdb wall time / rdb-verify wall time," \
    "cpu = the same for user CPU seconds; MB/s from wall time; rdb-verify --jobs $JOBS" \
    "${VERIFY_ARGS[*]+${VERIFY_ARGS[*]}}; $("$CHECK" --version 2>/dev/null | head -n 1 || true);" \
    "load average now: $(cut -d' ' -f1-3 /proc/loadavg))"
[ "$failed" = 0 ] || { echo "compare_verify: a tool rejected a file (FAIL rows): its times are not a comparison" >&2; exit 1; }
