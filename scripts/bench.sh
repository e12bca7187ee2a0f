#!/usr/bin/env bash
# Benchmarks, from nothing, in one command: writes docs/reports/benchmarks.md, its plot
# (docs/reports/bench/logins.svg) and the raw output (docs/reports/bench/raw.txt and
# criterion.txt).
#
#   scripts/bench.sh [pg_bearer_bench options, e.g. --rounds 2 --slice-ms 500 for a trial]
#
# Steps (each skipped when already done): scripts/setup.sh; PostgreSQL 18 without assertions
# (-O2) built from the same Debian source into its own prefix (pg_bearer_release_prefix in
# scripts/lib.sh, /opt/pg_bearer/pg18-release as root; about 3 minutes on 2 cores, once); the
# release pg_bearer.so installed into that PostgreSQL only; the criterion micro-benchmarks of
# pg_bearer_core; the baseline library (pg_bearer_baseline.so, see below); pg_bearer_bench
# (tools/bench/), built against that
# PostgreSQL's libpq, which runs the login benchmark and writes the report; then, as root, the
# PAM module's benchmark on Debian's PostgreSQL 15 (pam_bench), appended. About 12 minutes
# after the one-time builds. Run it on a quiet machine: the numbers are only as good as that.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/lib.sh
log() { printf 'bench: %s\n' "$*" >&2; }

eval "$(scripts/setup.sh)"

release=$(pg_bearer_release_prefix)
if ! pg_config_is_18 "$release/bin/pg_config" ||
   "$release/bin/pg_config" --configure | grep -q -- --enable-cassert; then
  log "building PostgreSQL 18 without assertions into $release (about 3 minutes on 2 cores)"
  build_postgres_18 "$release" build-release
fi
release_pg_config="$release/bin/pg_config"
log "PostgreSQL for the benchmark: $("$release_pg_config" --version) at $release"

log "installing the release pg_bearer.so into $("$release_pg_config" --pkglibdir)"
install_pg_bearer "$release_pg_config" --release
# The no-op validator that measures the floor of an OAuth login (tools/bench/floor_validator.c):
# into the benchmark's PostgreSQL only.
floor_tmp=$(mktemp /tmp/pg_bearer_bench_floor.XXXXXX.so)
${CC:-cc} -O2 -fPIC -shared -Wall -Werror -I"$("$release_pg_config" --includedir-server)" \
  -o "$floor_tmp" tools/bench/floor_validator.c
libdir=$("$release_pg_config" --pkglibdir)
if [ "$(id -u)" = 0 ] || [ -w "$libdir" ]; then SUDO=(); else SUDO=(sudo); fi
"${SUDO[@]}" install -m 0755 "$floor_tmp" "$libdir/pg_bearer_bench_floor.so.new"
"${SUDO[@]}" mv -f "$libdir/pg_bearer_bench_floor.so.new" "$libdir/pg_bearer_bench_floor.so"
rm -f "$floor_tmp"

target=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
# The "before" of the login-path work of issue 14: the same release library built with the
# Cargo feature bench_baseline (no session claims kept, no counters), installed beside the real
# one as pg_bearer_baseline.so into the benchmark's PostgreSQL only. Its own target directory
# keeps the two builds from invalidating each other.
log "building the baseline library (pg_bearer without session claims and counters)"
baseline_dir=$(mktemp -d /tmp/pg_bearer_baseline.XXXXXX)
CARGO_TARGET_DIR="$target/bench-baseline" cargo pgrx package --pg-config "$release_pg_config" \
  --features bench_baseline --out-dir "$baseline_dir" >/dev/null
baseline_so=$(find "$baseline_dir" -name pg_bearer.so | head -n1)
[ -n "$baseline_so" ] || { log "cargo pgrx package left no pg_bearer.so in $baseline_dir"; exit 1; }
"${SUDO[@]}" install -m 0755 "$baseline_so" "$libdir/pg_bearer_baseline.so.new"
"${SUDO[@]}" mv -f "$libdir/pg_bearer_baseline.so.new" "$libdir/pg_bearer_baseline.so"
rm -rf "$baseline_dir"
mkdir -p docs/reports/bench
log "micro-benchmarks (criterion)"
rm -rf "$target/criterion"
cargo bench --locked -p pg_bearer_core --bench core 2>/dev/null | tee docs/reports/bench/criterion.txt >&2

log "building pg_bearer_bench against $release_pg_config"
PG_CONFIG="$release_pg_config" cargo build --locked --release -p pg_bearer_bench

log "login benchmark"
command="scripts/bench.sh${*:+ $*}"
PG_BEARER_BENCH_RUSTC="$(rustc --version)" \
  "$target/release/pg_bearer_bench" --criterion "$target/criterion" --out docs/reports --command "$command" "$@"
# PostgreSQL 15 through the PAM module (tools/bench/src/bin/pam_bench.rs): pam_bearer beside
# pam_permit and scram-sha-256, appended to the same page. It writes /etc/pam.d, so root only.
if [ "$(id -u)" = 0 ]; then
  log "PAM benchmark on PostgreSQL 15"
  cargo build --locked --release -p pam_bearer
  "$target/release/pam_bench" --module "$target/release/libpam_bearer.so" >> docs/reports/benchmarks.md
else
  log "PAM benchmark skipped: it needs root (it writes /etc/pam.d)"
fi
log "done: docs/reports/benchmarks.md"
