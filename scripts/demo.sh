#!/usr/bin/env bash
# The demo, from nothing: sets up what is missing, installs pg_bearer into PostgreSQL 18, and
# runs a throwaway cluster that authenticates (and refuses) bearer tokens.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
eval "$(scripts/setup.sh)"
export PG_CONFIG
if [ "$(id -u)" = 0 ] || [ -w "$("$PG_CONFIG" --pkglibdir)" ]; then SUDO=(); else SUDO=(sudo -E env "PATH=$PATH"); fi
"${SUDO[@]}" cargo pgrx install --release --pg-config "$PG_CONFIG" >/dev/null
cargo run --quiet --release -p pg_bearer_e2e --bin pg_bearer_demo
