#!/usr/bin/env bash
# Load test: many pgbench clients run an analyst mix (tests/load/analyst.pgbench) against a
# real `segmint serve --demo` for a bounded time. Fails unless every transaction succeeds,
# the server still answers afterwards, and its peak memory stays under a bound.
#
#   scripts/load.sh [--bin PATH] [--clients N] [--seconds S] [--customers N]
#                   [--protocol simple|extended|prepared] [--max-rss-mb M]
#
# Defaults: target/release/segmint (built if missing), 32 clients, 60 s, 20,000 customers,
# extended protocol, 2048 MiB. Prints one summary line:
#   load: clients=32 seconds=60 transactions=... tps=... failed=0 baseline_rss_mb=... peak_rss_mb=... peak_to_baseline=...
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
bin=""
clients=32
seconds=60
customers=20000
protocol=extended
max_rss_mb=2048
while [ $# -gt 0 ]; do
    case "$1" in
        --bin) bin="$2"; shift 2 ;;
        --clients) clients="$2"; shift 2 ;;
        --seconds) seconds="$2"; shift 2 ;;
        --customers) customers="$2"; shift 2 ;;
        --protocol) protocol="$2"; shift 2 ;;
        --max-rss-mb) max_rss_mb="$2"; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
if [ -z "$bin" ]; then
    bin="${CARGO_TARGET_DIR:-$root/target}/release/segmint"
    [ -x "$bin" ] || cargo build --release --locked --manifest-path "$root/Cargo.toml"
fi
command -v pgbench >/dev/null || { echo "pgbench is missing (apt-get install postgresql-client)" >&2; exit 2; }

work="$(mktemp -d)"
server=""
cleanup() {
    [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

cat > "$work/segmint.toml" <<TOML
[server]
listen = "127.0.0.1:0"
max_connections = $((clients + 8))

[engine]
memory_limit = "1GiB"
query_memory_limit = "128MiB"
spill_dir = "$work/spill"

[reports]
scheduler = false              # no report runs (nor a demo's first runs) during the measurement

[demo]
customers = $customers
cache_dir = "${SEGMINT_LOAD_CACHE:-$work/demo}"
TOML

SEGMINT_LOG=warn "$bin" serve --demo --config "$work/segmint.toml" 2> "$work/server.log" &
server=$!
port=""
for _ in $(seq 1 600); do
    port="$(sed -n 's/^Segmint listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/server.log")"
    [ -n "$port" ] && break
    kill -0 "$server" 2>/dev/null || { cat "$work/server.log" >&2; exit 1; }
    sleep 0.5
done
[ -n "$port" ] || { echo "the server did not start" >&2; cat "$work/server.log" >&2; exit 1; }

rss_mb() { awk -v key="$1:" '$1 == key { printf "%d", $2 / 1024 }' "/proc/$server/status"; }
psql_at() { psql -h 127.0.0.1 -p "$port" -U segmint -d segmint -XAtqc "$1"; }

# Warm up (views, caches), then measure the baseline.
psql_at "SELECT count(*) FROM customer_360" > /dev/null
baseline="$(rss_mb VmRSS)"

timeout $((seconds + 300)) pgbench -n -h 127.0.0.1 -p "$port" -U segmint \
    -c "$clients" -j 2 -T "$seconds" -M "$protocol" \
    -D customers="$customers" -f "$root/tests/load/analyst.pgbench" segmint \
    > "$work/pgbench.out" 2> "$work/pgbench.err" || {
    cat "$work/pgbench.out" "$work/pgbench.err" >&2
    tail -20 "$work/server.log" >&2
    echo "load: pgbench failed" >&2
    exit 1
}
processed="$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$work/pgbench.out")"
failed="$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$work/pgbench.out")"
# pgbench before 15 prints no failure count: there a failed statement aborts its client.
if [ -z "$failed" ]; then
    failed="$(grep -c 'aborted' "$work/pgbench.out" "$work/pgbench.err" | awk -F: '{ n += $2 } END { print n + 0 }')"
fi
tps="$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$work/pgbench.out" | tail -1)"
peak="$(rss_mb VmHWM)"
alive="$(psql_at "SELECT 1")"

ratio="$(awk -v p="$peak" -v b="$baseline" 'BEGIN { printf "%.2f", p / (b > 0 ? b : 1) }')"
echo "load: clients=$clients seconds=$seconds protocol=$protocol transactions=$processed tps=$tps failed=${failed:-?} baseline_rss_mb=$baseline peak_rss_mb=$peak peak_to_baseline=$ratio"
status=0
[ "${failed:-1}" = "0" ] || { echo "load: failed transactions" >&2; status=1; }
[ "${processed:-0}" -gt 0 ] || { echo "load: no transaction completed" >&2; status=1; }
[ "$alive" = "1" ] || { echo "load: the server stopped answering" >&2; status=1; }
[ "$peak" -le "$max_rss_mb" ] || { echo "load: peak RSS $peak MiB is over $max_rss_mb MiB" >&2; status=1; }
[ "$status" = 0 ] || { cat "$work/pgbench.out" >&2; tail -20 "$work/server.log" >&2; }
exit "$status"
