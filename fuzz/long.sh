#!/usr/bin/env bash
# The longer run: every target for FUZZ_SECONDS (default 1800) on all
# cores, then the corpus it grew is minimized into fuzz/corpus-run/<t>.min
# (copy new inputs worth keeping into fuzz/corpus/<t>/ by hand).
#
#   fuzz/long.sh [target ...]      FUZZ_SECONDS=1800 FUZZ_JOBS=<cores>
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

export FUZZ_SECONDS=${FUZZ_SECONDS:-1800}
export FUZZ_JOBS=${FUZZ_JOBS:-$(nproc)}

rc=0
fuzz/run.sh "$@" || rc=$?

if [ $# -eq 0 ]; then
    set -- $(cd fuzz && ls fuzz_*.c | sed 's/\.c$//')
fi

for t in "$@"; do
    name=${t#fuzz_}
    rm -rf "fuzz/corpus-run/$name.min"
    mkdir -p "fuzz/corpus-run/$name.min"
    fuzz/build/"$t" -merge=1 "fuzz/corpus-run/$name.min" \
        "fuzz/corpus-run/$name" "fuzz/corpus/$name" > /dev/null 2>&1 || true
    echo "fuzz: $name: $(ls "fuzz/corpus-run/$name.min" | wc -l) inputs after minimizing"
done

exit $rc
