#!/usr/bin/env bash
# A fuzz campaign as fuzz/README.md reports them: each target in turn on one core at low
# priority, with the project's dictionaries, for SECONDS each; logs and a summary line per
# target in LOGDIR (default /tmp/fuzz-campaign).
#   fuzz/campaign.sh CORE SECONDS TARGET...     e.g. fuzz/campaign.sh 1 150 read_slice verify
# Needs cargo-fuzz (nightly, or RUSTC_BOOTSTRAP=1 on stable as here) and taskset.
set -uo pipefail
if [ $# -lt 3 ]; then
    sed -n '2,6p' "$0" >&2
    exit 2
fi
core=$1; secs=$2; shift 2
logs=$(realpath -m "${LOGDIR:-/tmp/fuzz-campaign}")
mkdir -p "$logs"
cd "$(dirname "$0")"
for t in "$@"; do
    dict=dict/rdb.dict
    [ "$t" = text_inputs ] && dict=dict/text.dict
    extra=()
    # convert, export_cluster: the export's rayon threads may outlive a run (fuzz/README.md, `convert`).
    [ "$t" = convert ] || [ "$t" = export_cluster ] && extra=(-detect_leaks=0)
    mkdir -p "corpus/$t"
    RUSTC_BOOTSTRAP=1 nice -n 19 taskset -c "$core" cargo fuzz run "$t" "corpus/$t" -- \
        -max_total_time="$secs" -dict="$dict" -rss_limit_mb=2048 -print_final_stats=1 \
        "${extra[@]}" > "$logs/$t.log" 2>&1
    echo "$t rc $?" | tee -a "$logs/summary.txt"
done
