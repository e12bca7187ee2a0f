#!/usr/bin/env bash
# The demo, from nothing: sets up what is missing (scripts/setup.sh), installs pg_bearer into
# PostgreSQL 18, builds the demo and runs it (tools/demo/): a real OpenID provider and a
# throwaway PostgreSQL 18 on 127.0.0.1, psql's device-flow login as alice, a service's
# client_credentials login, a tampered token refused. Everything it starts is stopped when it
# exits, also on Ctrl-C. Arguments go to the demo (--auto-approve: approve the device code
# without asking, even at a terminal).
#
# pg_bearer is installed as the debug build the test suite also uses: a fresh build takes a
# few minutes less than the release build (fat LTO) and is plenty for a demo. For real use:
# `cargo pgrx install --release --pg-config "$PG_CONFIG"`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/lib.sh
eval "$(scripts/setup.sh)"
export PG_CONFIG
echo "demo: building pg_bearer and installing it into $("$PG_CONFIG" --pkglibdir)" >&2
install_pg_bearer "$PG_CONFIG"
echo "demo: building the demo" >&2
# The demo runs pg_bearer_client from its own target directory: build both.
cargo build --quiet -p pg_bearer_client -p pg_bearer_demo --bins
exec cargo run --quiet -p pg_bearer_demo -- "$@"
