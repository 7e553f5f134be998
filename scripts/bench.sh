#!/usr/bin/env bash
# Side-by-side benchmark: Segmint against DuckDB (CRM suite) and PostgreSQL 15 (1M-row
# transfers, pgbench small queries), in one run; writes docs/performance.md.
#
#   scripts/bench.sh [--scales S1,S10[,S50]] [--layouts demo,foreign] [--runs N]
#                    [--pgbench-seconds S] [--baseline BIN]
#   scripts/bench.sh --cluster [--scales S10] [--runs N]
#
# Installs what it needs: DuckDB, pyarrow, psycopg and lifetimes 0.11.3 in a virtual environment
# ($SEGMINT_BENCH_VENV, default <target dir>/bench-venv), and starts a throw-away
# PostgreSQL 15 on loopback. Demo data is generated once into target/bench-data/.
#
# --layouts: the file layouts every scale is measured on (default both): `demo`, the files
# `segmint demo` writes, and `foreign`, the same rows as pyarrow writes them by default (orders
# sorted by time in a few large files, 1Mi-row row groups, snappy, no page index).
#
# --baseline BIN: also measures the wire section (transfers, pgbench, cancel) on an earlier
# `segmint` binary in the same run, and writes a before/after table (each build as its ratio
# to PostgreSQL measured beside it).
#
# --cluster: the CRM suite (default S10 only) through pgwire on a single-node `segmint serve`
# and on the same server with `--cluster` in front of a local Ballista cluster (one
# `segmint scheduler`, 1 and then 2 `segmint executor` processes with cores / executors task
# slots each), all on this machine and interleaved; also the fixed cost of a trivial query and
# the stages of each query. Needs neither DuckDB nor PostgreSQL. Writes only the
# "On a Ballista cluster" section of docs/performance.md (between its cluster markers).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
scales=""
layouts=""
runs=5
pgbench_seconds=10
cluster=0
baseline=""
while [ $# -gt 0 ]; do
    case "$1" in
        --scales) scales="$2"; shift 2 ;;
        --layouts) layouts="$2"; shift 2 ;;
        --runs) runs="$2"; shift 2 ;;
        --pgbench-seconds) pgbench_seconds="$2"; shift 2 ;;
        --cluster) cluster=1; shift ;;
        --baseline) baseline="$(realpath "$2")"; shift 2 ;;
        *) echo "unknown option $1 (see the header of $0)" >&2; exit 2 ;;
    esac
done
target="${CARGO_TARGET_DIR:-$root/target}"
log() { echo "bench: $*" >&2; }

if [ "$cluster" = 1 ]; then
    scales="${scales:-S10}"
    # Building the benchmark builds the release `segmint` too (see below).
    log "building segmint and the benchmark (release)"
    cargo bench --locked --manifest-path "$root/Cargo.toml" --bench suite --no-run
    log "running the suite on one machine and on a local Ballista cluster (scales $scales, $runs runs each)"
    SEGMINT_BIN="$target/release/segmint" \
    SEGMINT_BENCH_CLUSTER=1 \
    SEGMINT_BENCH_SCALES="$scales" \
    SEGMINT_BENCH_RUNS="$runs" \
        cargo bench --locked --manifest-path "$root/Cargo.toml" --bench suite
    exit 0
fi
scales="${scales:-S1,S10}"

# PostgreSQL 15 (server, psql, pgbench) and Python's venv module.
need_apt=()
pg_bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)"
[ -x "$pg_bin/initdb" ] || need_apt+=(postgresql)
command -v psql >/dev/null 2>&1 || need_apt+=(postgresql-client)
python3 -c "import venv, ensurepip" >/dev/null 2>&1 || need_apt+=(python3-venv)
if [ ${#need_apt[@]} -gt 0 ]; then
    log "installing ${need_apt[*]}"
    sudo_cmd=""; [ "$(id -u)" = 0 ] || sudo_cmd=sudo
    $sudo_cmd apt-get update -qq && $sudo_cmd apt-get install -y -qq "${need_apt[@]}" >/dev/null
    pg_bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
fi

venv="${SEGMINT_BENCH_VENV:-$target/bench-venv}"
if ! "$venv/bin/python" -c "import duckdb, pyarrow, psycopg, lifetimes" >/dev/null 2>&1; then
    log "installing DuckDB, pyarrow, psycopg and lifetimes 0.11.3 into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --upgrade pip
    "$venv/bin/pip" install -q duckdb pyarrow 'psycopg[binary]' lifetimes==0.11.3
fi

# Building the benchmark builds the release `segmint` too, with the same features (a separate
# `cargo build --release` would compile DataFusion a second time without the dev-dependencies).
log "building segmint and the benchmark (release)"
cargo bench --locked --manifest-path "$root/Cargo.toml" --bench suite --no-run

# A throw-away PostgreSQL cluster on a free loopback port, as an unprivileged user.
pg_dir="$(mktemp -d)"
pg_port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
as_pg=()
if [ "$(id -u)" = 0 ]; then
    as_pg=(runuser -u postgres --)
    chown postgres "$pg_dir"
    chmod 755 "$pg_dir"
fi
cleanup() {
    "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$pg_dir/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$pg_dir"
}
trap cleanup EXIT
log "starting PostgreSQL ($("$pg_bin/postgres" --version)) on 127.0.0.1:$pg_port"
"${as_pg[@]}" "$pg_bin/initdb" -D "$pg_dir/data" -U postgres --auth=trust >/dev/null
"${as_pg[@]}" "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/server.log" -w \
    -o "-c listen_addresses=127.0.0.1 -c port=$pg_port -c unix_socket_directories=$pg_dir" start >/dev/null

log "running the suite (scales $scales, $runs runs each)"
SEGMINT_BIN="$target/release/segmint" \
SEGMINT_BENCH_BASELINE_BIN="$baseline" \
SEGMINT_BENCH_PYTHON="$venv/bin/python" \
SEGMINT_BENCH_PG_PORT="$pg_port" \
SEGMINT_BENCH_SCALES="$scales" \
SEGMINT_BENCH_LAYOUTS="$layouts" \
SEGMINT_BENCH_RUNS="$runs" \
SEGMINT_BENCH_PGBENCH_SECONDS="$pgbench_seconds" \
    cargo bench --locked --manifest-path "$root/Cargo.toml" --bench suite
