#!/usr/bin/env bash
# A file holding two 200 MB string values, for rdb-verify's memory figure (RSS must not grow
# with the largest key): one raw (base64 of random bytes: LZF finds nothing to save) and one
# LZF-compressed (words and numbers).
#
#   benches/gen_big_strings.sh [OUT_DIR=/tmp/bigstr]
#   /usr/bin/time -v target/release/rdb-verify --jobs 1 /tmp/bigstr/out/big-0001.rdb
#
# Writes OUT_DIR/big.jsonl (400 MB, `rdbkit dump`'s key-line shape) and turns it into
# OUT_DIR/out/big-0001.rdb (≈ 316 MB, RDB 10) with `rdbkit export --shards 1`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${1:-/tmp/bigstr}"
RDBKIT="${CARGO_TARGET_DIR:-$ROOT/target}/release/rdbkit"
[ -x "$RDBKIT" ] || (cd "$ROOT" && cargo build --release -q -p rdb-cli --bins)
mkdir -p "$OUT"
python3 - "$OUT/big.jsonl" <<'PY'
import base64, json, random, sys
random.seed(1)
size = 200 * 1000 * 1000
raw = base64.b64encode(random.randbytes(size * 3 // 4 + 3)).decode()[:size]  # seeded: the same file every run
words = ["alpha", "beta", "gamma", "delta", "redis", "valkey", "12345", "678", "cache", "token"]
parts, n = [], 0
while n < size:
    w = random.choice(words) + str(random.randint(0, 99999)) + " "
    parts.append(w)
    n += len(w)
lzf = "".join(parts)[:size]
with open(sys.argv[1], "w") as f:
    for key, value in (("raw", raw), ("lzf", lzf)):
        f.write(json.dumps({"db": 0, "expire_at_ms": None, "key": key, "type": "string", "value": value}) + "\n")
PY
rm -rf "$OUT/out"
mkdir -p "$OUT/out"
"$RDBKIT" export --from "$OUT/big.jsonl" --name big --out "$OUT/out" --shards 1
ls -l "$OUT/out"
