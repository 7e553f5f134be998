#!/usr/bin/env bash
# Fuzzes what the server does with a client's bytes before and during login (framing limits,
# pgwire message decoding, SCRAM-SHA-256), each target for a bounded time.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]     (default 60)
#
# Uses cargo-fuzz (libFuzzer) on the machine's stable toolchain: RUSTC_BOOTSTRAP=1 allows the
# sanitizer flags a nightly would. New corpus entries stay in target/fuzz-corpus (not in git);
# a crash is written to wire/fuzz/artifacts/<target>/ and the script fails. Copy a fixed crash
# into wire/fuzz/regressions/<target>/ so `cargo test -p segmint-wire` replays it forever.
set -euo pipefail

seconds="${1:-60}"
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
    echo "fuzzing $target for ${seconds}s" >&2
    # The working corpus first (new finds go there), then the seeds from git.
    cargo fuzz run --fuzz-dir fuzz "$target" "$work" "fuzz/corpus/$target" \
        -- -max_total_time="$seconds" -max_len=8192 -rss_limit_mb=2048 -print_final_stats=1
done
echo "no crashes" >&2
