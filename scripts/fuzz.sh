#!/usr/bin/env bash
# Fuzzes what the server does with a client's bytes before and during login (framing limits,
# message-body shapes, pgwire message decoding, SCRAM-SHA-256), each target for a bounded
# time or a fixed number of runs.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]          (default 60; a fresh random seed each time)
#   scripts/fuzz.sh --runs N [--seed S]           (N inputs from seed S, default 1: the same
#                                                  inputs every time, as the test command uses)
#
# Uses cargo-fuzz (libFuzzer) on the machine's stable toolchain: RUSTC_BOOTSTRAP=1 allows the
# sanitizer flags a nightly would. The corpus grows under $CARGO_TARGET_DIR/fuzz/corpus (not
# in git; the seeds are in wire/fuzz/corpus). A crash is written to
# wire/fuzz/artifacts/<target>/ and the script fails; copy a fixed crash into
# wire/fuzz/regressions/<target>/ so `cargo test -p segmint-wire` replays it forever.
set -euo pipefail

limit=(-max_total_time=60)
case "${1:-}" in
    --runs)
        limit=(-runs="${2:?--runs needs a count}" -seed="${4:-1}")
        [ "${3:-}" = "" ] || [ "${3:-}" = "--seed" ] || { echo "usage: $0 --runs N [--seed S]" >&2; exit 2; }
        ;;
    "") ;;
    *) limit=(-max_total_time="$1") ;;
esac
root="$(cd "$(dirname "$0")/.." && pwd)"
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}/fuzz"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

cd "$root/wire"
for target in client_stream scram_exchange; do
    work="$CARGO_TARGET_DIR/corpus/$target"
    mkdir -p "$work"
    echo "fuzzing $target (${limit[*]})" >&2
    # The working corpus first (new finds go there), then the seeds from git.
    cargo fuzz run --fuzz-dir fuzz "$target" "$work" "fuzz/corpus/$target" \
        -- "${limit[@]}" -max_len=8192 -rss_limit_mb=2048 -print_final_stats=1
done
echo "no crashes" >&2
