#!/usr/bin/env bash
# Installs the clients of the driver compatibility suite (tests/compat.rs) on Debian:
# pgjdbc and a JDK, psqlODBC with unixODBC, Node.js, the moto S3 test server, and the Python drivers (psycopg,
# asyncpg, SQLAlchemy, pandas, pyodbc, pgcli, dbt-postgres) in a virtual environment under
# $SEGMINT_COMPAT_DIR (default: <target dir>/compat), with node-postgres beside it.
#
#   ./scripts/compat-setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${SEGMINT_COMPAT_DIR:-${CARGO_TARGET_DIR:-$PWD/target}/compat}"
mkdir -p "$dir"

need_apt=()
[ -f /usr/share/java/postgresql.jar ] || need_apt+=(libpostgresql-jdbc-java)
command -v javac >/dev/null 2>&1 || need_apt+=(openjdk-17-jdk-headless)
odbcinst -q -d -n "PostgreSQL Unicode" >/dev/null 2>&1 || need_apt+=(odbc-postgresql unixodbc)
command -v node >/dev/null 2>&1 || need_apt+=(nodejs)
command -v npm >/dev/null 2>&1 || need_apt+=(npm)
# Headless Chromium renders the report pages in the reports tests.
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium fonts-dejavu-core)
python3 -m venv --help >/dev/null 2>&1 || need_apt+=(python3-venv)
if ((${#need_apt[@]})); then
  echo "installing ${need_apt[*]}" >&2
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

requirements=tests/compat/requirements.txt
if ! cmp -s "$requirements" "$dir/venv/requirements.txt" 2>/dev/null; then
  echo "creating the Python client environment in $dir/venv" >&2
  rm -rf "$dir/venv"
  python3 -m venv "$dir/venv"
  "$dir/venv/bin/pip" install -q --disable-pip-version-check -r "$requirements"
  cp "$requirements" "$dir/venv/requirements.txt"
fi

if ! cmp -s tests/compat/node/package.json "$dir/node/package.json" 2>/dev/null; then
  echo "installing node-postgres in $dir/node" >&2
  rm -rf "$dir/node"
  mkdir -p "$dir/node"
  cp tests/compat/node/package.json "$dir/node/"
  (cd "$dir/node" && npm install --no-audit --no-fund --silent)
fi
echo "$dir"
