#!/usr/bin/env bash
# Runs Segmint's whole test suite on a fresh Debian machine: installs what the tests need
# (the psql client) when it is missing, checks formatting and lints, then runs every test.
#
#   ./scripts/test.sh
#
# CARGO_TARGET_DIR may point at a cache outside the clone to reuse builds between runs.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n== %s\n' "$*" >&2; }

need_apt=()
command -v psql >/dev/null 2>&1 || need_apt+=(postgresql-client)
command -v cc >/dev/null 2>&1 || need_apt+=(build-essential)
if ((${#need_apt[@]})); then
  log "installing ${need_apt[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo not found: install Rust (https://rustup.rs) first" >&2
  exit 1
fi

start=$(date +%s)
log "cargo fmt --check"
cargo fmt --all -- --check

log "cargo clippy (all targets, warnings are errors)"
cargo clippy --all-targets --locked -- -D warnings

log "cargo test (unit tests, integration tests through the pgwire endpoint, psql, CLI)"
cargo test --workspace --locked

log "done in $(( $(date +%s) - start )) s"
