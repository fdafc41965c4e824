#!/usr/bin/env bash
# Builds the three benchmark datasets with a real Redis 7.0 server and saves them as .rdb files.
#
#   benches/gen_datasets.sh [OUTDIR=benches/data] [--scale S]
#
# For each dataset a private /usr/bin/redis-server (127.0.0.1, free port, temp dir, --save '')
# is filled, `SAVE` is timed from the client side, the file is copied to OUTDIR, and the server
# is restarted on that file to time its load (process start until INFO says loading:0).
#
#   small-strings.rdb  5 M keys: DEBUG POPULATE 5000000 key 16
#   mixed.rdb          1 M keys of every type and compact encoding (rdb_testkit::gen::mixed,
#                      ~6% expiring, ~400 big collections/streams, strings of 100-2000
#                      semi-compressible bytes), sent with `redis-cli --pipe`
#   big-values.rdb     30 k strings of 4-64 KiB semi-compressible bytes, `redis-cli --pipe`
#
# --scale S multiplies every key count (e.g. 0.01 for a quick run). OUTDIR/datasets.json gets
# sizes, key counts, SAVE and load seconds. Environment: REDIS_SERVER, REDIS_CLI (default the
# Debian 7.0 binaries in /usr/bin), RDBKIT_BENCH (a prebuilt rdbkit-bench; otherwise it is
# built with `cargo build --release`, honouring CARGO_TARGET_DIR).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUTDIR="$ROOT/benches/data"
SCALE=1
while [ $# -gt 0 ]; do
    case "$1" in
    --scale) SCALE="${2:?--scale needs a value}"; shift 2 ;;
    --scale=*) SCALE="${1#--scale=}"; shift ;;
    -h | --help) sed -n '2,20p' "$0"; exit 0 ;;
    -*) echo "gen_datasets.sh: unknown option $1" >&2; exit 2 ;;
    *) OUTDIR="$1"; shift ;;
    esac
done

REDIS_SERVER="${REDIS_SERVER:-/usr/bin/redis-server}"
REDIS_CLI="${REDIS_CLI:-/usr/bin/redis-cli}"
for b in "$REDIS_SERVER" "$REDIS_CLI"; do
    [ -x "$b" ] || { echo "gen_datasets.sh: $b not found (Debian redis-server 7.0 package)" >&2; exit 2; }
done

if [ -z "${RDBKIT_BENCH:-}" ]; then
    (cd "$ROOT" && cargo build --release -q -p rdb-testkit --bin rdbkit-bench)
    RDBKIT_BENCH="${CARGO_TARGET_DIR:-$ROOT/target}/release/rdbkit-bench"
fi

scaled() { awk -v n="$1" -v s="$SCALE" 'BEGIN { k = int(n * s + 0.5); if (k < 1) k = 1; print k }'; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

N_SMALL=$(scaled 5000000)
N_MIXED=$(scaled 1000000)
N_BIG=$(scaled 30000)

mkdir -p "$OUTDIR"
OUTDIR="$(cd "$OUTDIR" && pwd)"
TMP="$(mktemp -d "${TMPDIR:-/tmp}/rdbkit-datasets.XXXXXX")"
SERVER_PID=""
PORT=""

stop_server() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        "$REDIS_CLI" -p "$PORT" SHUTDOWN NOSAVE >/dev/null 2>&1 || true
        for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$SERVER_PID" 2>/dev/null && kill -9 "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    SERVER_PID=""
}
cleanup() {
    stop_server
    rm -rf "$TMP"
    rm -f "$OUTDIR"/.{small-strings,mixed,big-values}.rdb.tmp "$OUTDIR/.datasets.json.tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null ||
        echo $((20000 + RANDOM % 30000))
}

cli() { "$REDIS_CLI" -p "$PORT" "$@"; }

# start_server DBFILENAME: starts the server on $PORT (picked by the caller, outside any timed
# region: `free_port` starts a Python) in $TMP, loading DBFILENAME if it exists, and waits
# until it answers (PONG, or LOADING while it loads).
start_server() {
    "$REDIS_SERVER" --port "$PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
        --dir "$TMP" --dbfilename "$1" --enable-debug-command yes \
        --logfile "$TMP/server.log" &
    SERVER_PID=$!
    for _ in $(seq 3000); do
        kill -0 "$SERVER_PID" 2>/dev/null || { tail -20 "$TMP/server.log" >&2; echo "server died" >&2; exit 1; }
        case "$(cli PING 2>/dev/null || true)" in PONG | LOADING*) return 0 ;; esac
        sleep 0.01
    done
    echo "server did not answer on port $PORT" >&2
    exit 1
}

wait_loaded() {
    while ! cli INFO persistence 2>/dev/null | grep -q '^loading:0'; do
        kill -0 "$SERVER_PID" 2>/dev/null || { tail -20 "$TMP/server.log" >&2; echo "server died while loading" >&2; exit 1; }
        sleep 0.01
    done
}

# populate NAME: fills the server; redis-cli exits 0 on an error reply, so the key count is
# checked against the one asked for (and `--pipe` must have sent replies without errors).
populate() {
    local name=$1 out want
    case "$name" in
    small-strings)
        want=$N_SMALL
        out=$(cli DEBUG POPULATE "$N_SMALL" key 16 2>&1)
        [ "$out" = OK ] || { echo "DEBUG POPULATE: $out" >&2; exit 1; } ;;
    mixed | big-values)
        want=$N_MIXED
        [ "$name" = big-values ] && want=$N_BIG
        out=$("$RDBKIT_BENCH" resp "$name" --keys "$want" --seed 1 | cli --pipe 2>&1)
        if ! grep -q 'errors: 0,' <<<"$out" || grep -q 'replies: 0$' <<<"$out"; then
            echo "$out" >&2
            echo "redis-cli --pipe reported errors (or no reply) for $name" >&2
            exit 1
        fi ;;
    esac
    local have
    have=$(cli DBSIZE)
    [ "$have" = "$want" ] || { echo "$name: asked for $want keys, the server holds $have" >&2; exit 1; }
}

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)  scale: $SCALE  server: $("$REDIS_SERVER" --version | cut -d' ' -f3)"
# A run that fails half-way must not leave a datasets.json describing other files.
rm -f "$OUTDIR/datasets.json"
JSON="["
sep=""
for name in small-strings mixed big-values; do
    rm -f "$TMP/$name.rdb" "$TMP/server.log"
    PORT=$(free_port)
    start_server "$name.rdb"
    t0=$(now); populate "$name"; t1=$(now)
    pop=$(elapsed "$t0" "$t1")
    keys=$(cli DBSIZE)
    mem=$(cli INFO memory | tr -d '\r' | awk -F: '$1 == "used_memory" { print $2 }')
    t0=$(now); reply=$(cli SAVE); t1=$(now)
    [ "$reply" = OK ] || { echo "SAVE: $reply" >&2; exit 1; }
    save=$(elapsed "$t0" "$t1")
    stop_server
    cp "$TMP/$name.rdb" "$OUTDIR/.$name.rdb.tmp"
    mv -f "$OUTDIR/.$name.rdb.tmp" "$OUTDIR/$name.rdb"
    bytes=$(stat -c %s "$OUTDIR/$name.rdb")

    rm -f "$TMP/server.log"
    PORT=$(free_port)
    t0=$(now); start_server "$name.rdb"; wait_loaded; t1=$(now)
    load=$(elapsed "$t0" "$t1")
    server_load=$(sed -n 's/.*DB loaded from disk: \([0-9.]*\) seconds.*/\1/p' "$TMP/server.log" | tail -1)
    loaded=$(cli DBSIZE)
    stop_server
    [ "$loaded" = "$keys" ] || { echo "$name: saved $keys keys, loaded $loaded" >&2; exit 1; }

    printf '%-14s %9s keys %10s bytes  populate %7ss  SAVE %7ss  load %7ss (server log: %ss)  used_memory %s\n' \
        "$name" "$keys" "$bytes" "$pop" "$save" "$load" "${server_load:-?}" "$mem"
    JSON+="$sep
  {\"name\": \"$name\", \"file\": \"$name.rdb\", \"bytes\": $bytes, \"keys\": $keys, \"used_memory\": $mem, \"populate_seconds\": $pop, \"save_seconds\": $save, \"load_seconds\": $load, \"server_load_seconds\": ${server_load:-null}}"
    sep=","
done
JSON+="
]"
printf '%s\n' "$JSON" >"$OUTDIR/.datasets.json.tmp"
mv -f "$OUTDIR/.datasets.json.tmp" "$OUTDIR/datasets.json"
echo "wrote $OUTDIR/{small-strings,mixed,big-values}.rdb and datasets.json"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
