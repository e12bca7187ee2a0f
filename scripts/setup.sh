#!/usr/bin/env bash
# Installs everything pg_bearer needs to build and test, skipping each step that is already
# done: Debian build packages, PostgreSQL 18 (an existing pg_config 18, else built from
# Debian's source package), cargo-pgrx 0.18.1, `cargo pgrx init`, (when run as root) the
# unprivileged OS user that runs `postgres`, and the test identity provider's Node packages
# (pgrx-tests/fixtures/oidc-provider). Prints `export` lines for the rest to source.
#
# Knobs (environment): PG_CONFIG (use this pg_config 18), PG_BEARER_PREFIX (where to install a
# PostgreSQL we build), PG_BEARER_CACHE (downloads and build trees), PG_BEARER_PG_USER.
set -euo pipefail

PGRX_VERSION=0.18.1
CARGO_FUZZ_VERSION=0.13.2   # also in scripts/fuzz.sh
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"

if [ "$(id -u)" = 0 ]; then SUDO=(); else SUDO=(sudo); fi
log() { printf 'setup: %s\n' "$*" >&2; }

# --- 1. Debian packages ------------------------------------------------------------------
packages=(build-essential pkg-config flex bison libreadline-dev zlib1g-dev libssl-dev
  libcurl4-openssl-dev libclang-dev clang sudo ca-certificates bzip2 xz-utils openssl python3
  libpam0g-dev postgresql-15)
# libpam0g-dev: PostgreSQL 18 is built --with-pam, for the PAM module's tests (pam/); Debian's
# postgresql-15 is the older server that module is tested against.
# Node.js runs the test identity provider; many images ship their own build of it, whose npm
# conflicts with Debian's package, so Debian's is only installed when there is none.
command -v node >/dev/null && command -v npm >/dev/null || packages+=(nodejs npm)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  "${SUDO[@]}" apt-get update -qq
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  log "Debian packages: present"
fi

# --- 2. PostgreSQL 18 --------------------------------------------------------------------
PG_CONFIG=$(find_pg_config || true)
# The PAM module (pam/) is also tested against PostgreSQL 18, which needs --with-pam: our own
# build is redone when an earlier one lacks it; someone else's is used as it is.
if [ -n "$PG_CONFIG" ] && ! "$PG_CONFIG" --configure | grep -q -- "--with-pam"; then
  if [ "$PG_CONFIG" = "$(pg_bearer_prefix)/bin/pg_config" ]; then
    log "PostgreSQL 18 at $PG_CONFIG was built without PAM: building it again"
    PG_CONFIG=
  else
    log "warning: $PG_CONFIG was built without --with-pam; the PAM tests against PostgreSQL 18 will fail"
  fi
fi
if [ -z "$PG_CONFIG" ]; then
  prefix=$(pg_bearer_prefix)
  log "building PostgreSQL 18 with assertions into $prefix (about 4 minutes on 2 cores)"
  build_postgres_18 "$prefix" build --enable-debug --enable-cassert --with-pam
  PG_CONFIG="$prefix/bin/pg_config"
else
  log "PostgreSQL 18: $("$PG_CONFIG" --version) at $PG_CONFIG"
fi

# --- 3. cargo-pgrx, pinned (pgrx 0.19 needs a newer rustc than this toolchain) ------------
if cargo pgrx --version 2>/dev/null | grep -q "cargo-pgrx $PGRX_VERSION\$"; then
  log "cargo-pgrx $PGRX_VERSION: present"
else
  log "installing cargo-pgrx $PGRX_VERSION (about 5 minutes)"
  cargo install cargo-pgrx --version "$PGRX_VERSION" --locked --quiet
fi
pgrx_home=${PGRX_HOME:-$HOME/.pgrx}
if ! grep -qsF "pg18 = \"$PG_CONFIG\"" "$pgrx_home/config.toml"; then
  log "registering $PG_CONFIG with cargo pgrx"
  cargo pgrx init --pg18 "$PG_CONFIG" >/dev/null
fi

# --- 3b. cargo-fuzz, pinned, for scripts/fuzz.sh (the fuzz step of scripts/test.sh) --------
if cargo fuzz --version 2>/dev/null | grep -q "cargo-fuzz $CARGO_FUZZ_VERSION\$"; then
  log "cargo-fuzz $CARGO_FUZZ_VERSION: present"
else
  log "installing cargo-fuzz $CARGO_FUZZ_VERSION (about 1.5 minutes)"
  cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked --quiet
fi

# --- 4. An unprivileged OS user to run postgres (PostgreSQL refuses to run as root) -------
if [ "$(id -u)" = 0 ]; then
  user=$(pg_bearer_pg_user)
  if ! id -u "$user" >/dev/null 2>&1; then
    log "creating OS user $user to run postgres"
    useradd --system --user-group --home-dir /nonexistent --shell /usr/sbin/nologin "$user"
  fi
fi

# --- 5. Node packages for the test identity provider (npm `oidc-provider`) ---------------
# In pgrx-tests/fixtures/oidc-provider, pinned by its package-lock.json.
idp="$here/../pgrx-tests/fixtures/oidc-provider"
if [ "$idp/node_modules/.package-lock.json" -nt "$idp/package-lock.json" ]; then
  log "test identity provider packages: present"
else
  log "installing the test identity provider's Node packages (npm ci)"
  (cd "$idp" && npm ci --no-audit --no-fund --silent >&2)
fi
log "ready"
printf 'export PG_CONFIG=%q\n' "$PG_CONFIG"
