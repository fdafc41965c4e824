#!/usr/bin/env bash
# Cuts an .rdb into one file per RDB value type (intset sets, listpack sorted sets, quicklists,
# ...), to see on which kinds of value a tool is fast or slow:
#
#   benches/split_by_type.sh SRC.rdb OUTDIR [TARGET]
#
# Every key of db 0 goes through `rdbkit dump` (JSONL) and is written back with `rdbkit export
# --shards 1 --target TARGET` (default redis-7.0), which encodes each value as that server would
# (so a key keeps its type when SRC was saved by that server): the keys of RDB type N land in
# OUTDIR/type-N.rdb (e.g. type-11.rdb: intsets; type-17.rdb: listpack sorted sets). Then, e.g.:
#
#   benches/compare_verify.sh OUTDIR/type-*.rdb
#
# Needs python3 and the release binaries (built if missing; CARGO_TARGET_DIR honoured).
set -euo pipefail

[ $# -ge 2 ] || { sed -n '2,14p' "$0"; exit 2; }
SRC="$1"
OUT="$2"
TARGET="${3:-redis-7.0}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RDBKIT="${CARGO_TARGET_DIR:-$ROOT/target}/release/rdbkit"
if [ ! -x "$RDBKIT" ]; then
    (cd "$ROOT" && cargo build --release -q -p rdb-cli --bin rdbkit)
fi
mkdir -p "$OUT"
# A type the source no longer holds must not leave an older run's file behind.
rm -f "$OUT"/type-*.rdb
TMP="$(mktemp -d "${TMPDIR:-/tmp}/rdbkit-split.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT

# One JSONL file per RDB type (other records, e.g. AUX fields, are dropped).
"$RDBKIT" dump "$SRC" --db 0 | python3 -c '
import json, sys
out = {}
for line in sys.stdin:
    t = json.loads(line).get("rdb_type")
    if t is None:
        continue
    if t not in out:
        out[t] = open("%s/type-%d.jsonl" % (sys.argv[1], t), "w")
    out[t].write(line)
' "$TMP"

for j in "$TMP"/type-*.jsonl; do
    name="$(basename "$j" .jsonl)"
    "$RDBKIT" export --from "$j" --name "$name" --out "$TMP" --shards 1 --target "$TARGET" \
        >"$TMP/export.log" 2>&1 || { cat "$TMP/export.log" >&2; exit 1; }
    mv -f "$TMP/$name-0001.rdb" "$OUT/$name.rdb"
    keys=$(wc -l < "$j")
    printf '%-14s %8d keys %12d bytes\n' "$name.rdb" "$keys" "$(stat -c %s "$OUT/$name.rdb")"
done
