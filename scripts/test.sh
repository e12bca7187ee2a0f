#!/usr/bin/env bash
# The whole test suite, from nothing: sets up what is missing (scripts/setup.sh), then checks
# formatting and lints, runs the pure-Rust core tests, fuzzes the core's parsers briefly
# (scripts/fuzz.sh), runs the in-server tests (`cargo pgrx test`), installs pg_bearer into the
# PostgreSQL 18 under test and runs the end-to-end tests, those of the PAM module (pam/) against
# Debian's PostgreSQL 15 and PostgreSQL 18 among them.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/lib.sh

eval "$(scripts/setup.sh)"
export PG_CONFIG
step() { printf '\n==> %s\n' "$*" >&2; }
# Every test runner's output also goes to a log, from which the closing line sums the counts.
results=$(mktemp)
trap 'rm -f "$results"' EXIT
tests() { "$@" 2>&1 | tee -a "$results"; }

step "format and lints"
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# The test-only code (Cargo feature `testing`, installed for the end-to-end suite) is linted too.
cargo clippy -p pg_bearer --features testing --all-targets --locked -- -D warnings

step "core: unit and battery tests"
tests cargo test -p pg_bearer_core --locked

# A short run of every fuzz target from its committed seeds: a crash (a panic or a broken
# oracle) fails the suite. The fuzz crate is outside the workspace, so it is linted here.
step "fuzz: lints, then ${PG_BEARER_FUZZ_SECONDS:-15} s per target (scripts/fuzz.sh; longer runs: docs/testing.md)"
cargo fmt --manifest-path fuzz/Cargo.toml --all --check
cargo clippy --manifest-path fuzz/Cargo.toml --all-targets --locked -- -D warnings
scripts/fuzz.sh --seconds "${PG_BEARER_FUZZ_SECONDS:-15}"

step "in-server tests (cargo pgrx test)"
runas=()
if [ "$(id -u)" = 0 ]; then
  pgdata=$(mktemp -d /tmp/pg_bearer-pgrx-test.XXXXXX)
  chown "$(pg_bearer_pg_user):" "$pgdata"
  trap 'rm -rf "$pgdata" "$results"' EXIT
  runas=(--runas "$(pg_bearer_pg_user)" --pgdata "$pgdata")
fi
tests cargo pgrx test pg18 "${runas[@]}"

# `cargo pgrx test` installed its own test build; put the real one in place, with the fault
# injection (`pg_bearer.test_fault`) that some end-to-end tests use. Release builds never have it.
step "install pg_bearer (with the Cargo feature testing) into $("$PG_CONFIG" --pkglibdir)"
install_pg_bearer "$PG_CONFIG" --features testing

step "end-to-end tests against PostgreSQL 18"
# The harness writes every token and secret it presents, every bearer login's error and every
# server log here; the scan below checks them all together.
suite_dir=$(mktemp -d /tmp/pg_bearer-suite.XXXXXX)
trap 'rm -rf "${pgdata:-}" "$results" "$suite_dir"' EXIT
export PG_BEARER_SUITE_DIR=$suite_dir

# The client is tested as users get it: `cargo install --path client` with no pgrx set-up
# (PGRX_HOME and PG_CONFIG unset, an empty home: only the Rust toolchain's own directories
# are kept) and without PostgreSQL 18's bin directory on PATH.
# Its tests and the demo's then run that installed binary (PG_BEARER_CLIENT_BIN).
step "install pg_bearer_client the way a user does (cargo install --path client)"
client_dir=$(mktemp -d /tmp/pg_bearer-client.XXXXXX)
trap 'rm -rf "${pgdata:-}" "$results" "$suite_dir" "$client_dir"' EXIT
mkdir -p "$client_dir/home"
env -u PGRX_HOME -u PG_CONFIG -u PGRX_PG_CONFIG_PATH \
  HOME="$client_dir/home" \
  CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}" RUSTUP_HOME="${RUSTUP_HOME:-$HOME/.rustup}" \
  PATH="$(dirname "$(command -v cargo)"):/usr/local/bin:/usr/bin:/bin" \
  cargo install --path client --locked --quiet --root "$client_dir" \
  --target-dir target/client-install
export PG_BEARER_CLIENT_BIN=$client_dir/bin/pg_bearer_client
"$PG_BEARER_CLIENT_BIN" --version

# The PAM module (PostgreSQL 14-17), with the Cargo feature testing like pg_bearer above; its
# end-to-end tests (pgrx-tests/tests/pam.rs) load it from here through /etc/pam.d.
step "build pam_bearer.so (with the Cargo feature testing)"
cargo build -p pam_bearer --features testing --locked --quiet
export PG_BEARER_PAM_MODULE=$PWD/target/debug/libpam_bearer.so

# One cargo test for the harness, the client and the tools.
tests cargo test -p pg_bearer_e2e -p pg_bearer_client -p pg_bearer_demo -p pg_bearer_soak -p pg_bearer_logscan -p pam_bearer -p pg_bearer_provider --locked

step "log hygiene across the whole end-to-end suite"
cargo run -q -p pg_bearer_logscan --locked -- "$suite_dir"

# One closing line for the whole suite.
sed -E 's/\x1b\[[0-9;]*m//g' "$results" | awk '/^test result:/ { p += $4; f += $6 } END { printf "\nsuite: %d passed, %d failed\n", p, f; exit (f > 0) }'
