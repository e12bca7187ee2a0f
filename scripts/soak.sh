#!/usr/bin/env bash
# The soak, from nothing: sets up what is missing (scripts/setup.sh), installs pg_bearer into
# the PostgreSQL 18 under test, builds and runs pg_bearer_soak (tools/soak/): OAuth logins at
# a steady rate against a throwaway PostgreSQL 18 (built with assertions by setup.sh) while
# the mock provider hangs, goes down and is restarted.
# Prints the report and exits non-zero unless the run passes: no unexpected outcome, no
# crash, no internal error of the validator, the rate reached, memory flat, no token bytes in
# the server log. docs/testing.md ("Soak") explains the run; docs/reports/soak.md has a report.
#
#   scripts/soak.sh [--minutes N] [--rate R] [--min-rate R] [--workers W] [--report FILE]
#
# Defaults: 10 minutes at 60 logins/s, passing at 50/s or more; the report goes to stdout and,
# with --report, to FILE too. pg_bearer is installed as the debug build the test suite uses.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/lib.sh
eval "$(scripts/setup.sh)"
export PG_CONFIG
echo "soak: building pg_bearer and installing it into $("$PG_CONFIG" --pkglibdir)" >&2
install_pg_bearer "$PG_CONFIG"
echo "soak: building the soak" >&2
cargo build --quiet --locked -p pg_bearer_soak
exec cargo run --quiet --locked -p pg_bearer_soak -- "$@"
