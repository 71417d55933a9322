#!/usr/bin/env bash
# Runs every libFuzzer target for a while: FUZZ_SECONDS each (default 30),
# starting from the seeds in fuzz/corpus/<target>/ and keeping what it
# finds in fuzz/corpus-run/<target>/ (not committed).  A crash stops the
# run with its input saved as fuzz/corpus-run/<target>/crash-*; replay it
# with "fuzz/build/<target> <file>".  Prints one line of figures a target.
#
#   fuzz/run.sh [target ...]        FUZZ_SECONDS=30 FUZZ_JOBS=1
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

seconds=${FUZZ_SECONDS:-30}
jobs=${FUZZ_JOBS:-1}

fuzz/build.sh

if [ $# -eq 0 ]; then
    set -- $(cd fuzz && ls fuzz_*.c | sed 's/\.c$//')
fi

summary=()
rc=0

for t in "$@"; do
    name=${t#fuzz_}
    run=fuzz/corpus-run/$name
    log=$run/fuzz.log
    mkdir -p "$run"

    echo "fuzz: $t for ${seconds}s (jobs $jobs)"

    args=(-max_total_time="$seconds" -print_final_stats=1
          -artifact_prefix="$run/" -timeout=10 -rss_limit_mb=2048)
    [ -f "fuzz/$name.dict" ] && args+=(-dict="fuzz/$name.dict")

    set +e
    if [ "$jobs" -gt 1 ]; then
        fuzz/build/"$t" "${args[@]}" -fork="$jobs" -ignore_crashes=0 \
            "$run" "fuzz/corpus/$name" > "$log" 2>&1
    else
        fuzz/build/"$t" "${args[@]}" "$run" "fuzz/corpus/$name" > "$log" 2>&1
    fi
    status=$?
    set -e

    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)
    ft=$(grep -o 'ft: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)
    corpus=$(ls "$run" | grep -vc -e '^fuzz.log$' -e '^crash-' -e '^leak-' -e '^timeout-' || true)
    crashes=$(ls "$run" | grep -c -e '^crash-' -e '^leak-' -e '^timeout-' || true)

    line=$(printf '%-18s %8ss %12s execs %8s/s  cov %5s  ft %6s  corpus %5s  crashes %s' \
           "$name" "$seconds" "${execs:-?}" "${speed:-?}" "${cov:-?}" "${ft:-?}" "$corpus" "$crashes")
    summary+=("$line")

    if [ $status -ne 0 ]; then
        echo "fuzz: $t FAILED (exit $status); the end of $log:" >&2
        tail -n 40 "$log" >&2
        rc=1
    fi
done

echo
echo "fuzz: summary"
printf '  %s\n' "${summary[@]}"
exit $rc
