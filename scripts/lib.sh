# Shared by the scripts: where things live. Sourced, not run.
pg_bearer_prefix() { echo "${PG_BEARER_PREFIX:-$([ "$(id -u)" = 0 ] && echo /opt/pg_bearer/pg18 || echo "$HOME/.local/pg_bearer/pg18")}"; }
pg_bearer_cache() { echo "${PG_BEARER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pg_bearer}"; }
pg_bearer_pg_user() { echo "${PG_BEARER_PG_USER:-pgbearer}"; }
pg_config_is_18() { [ -x "$1" ] && "$1" --version 2>/dev/null | grep -qE '^PostgreSQL 18(\.|beta|rc)'; }
# The pg_config of a PostgreSQL 18 to use: $PG_CONFIG, our own build, or one on PATH.
find_pg_config() {
  local c
  for c in "${PG_CONFIG:-}" "$(pg_bearer_prefix)/bin/pg_config" "$(command -v pg_config 2>/dev/null)" \
           /usr/lib/postgresql/18/bin/pg_config; do
    [ -n "$c" ] && pg_config_is_18 "$c" && { echo "$c"; return 0; }
  done
  return 1
}

# Builds pg_bearer and installs it into the PostgreSQL of PG_CONFIG_PATH (sudo when its
# library directory is not writable):   install_pg_bearer PG_CONFIG_PATH [--release]
# The old pg_bearer.so is unlinked first: cargo pgrx install rewrites the file in place, which
# would change the code under running servers that have it mapped; a new file leaves them
# theirs until they restart.
install_pg_bearer() {
  local pg_config=$1; shift
  local libdir sudo=()
  libdir=$("$pg_config" --pkglibdir)
  if [ "$(id -u)" != 0 ] && [ ! -w "$libdir" ]; then sudo=(sudo -E env "PATH=$PATH"); fi
  "${sudo[@]}" rm -f "$libdir/pg_bearer.so"
  "${sudo[@]}" cargo pgrx install --pg-config "$pg_config" "$@" >/dev/null
}

# Builds PostgreSQL 18 from Debian's source package and installs it into PREFIX:
#   build_postgres_18 PREFIX BUILD_DIR_NAME [CONFIGURE_FLAG...]
# The source package is downloaded once into the cache; BUILD_DIR_NAME names the build tree
# under the cache (one per configuration, so builds with different flags do not overwrite each
# other). Every build has --with-libcurl --with-openssl --without-icu; the flags are added.
# Skips configure when the tree is configured with the same flags; `make` and `make install` are
# idempotent.
build_postgres_18() {
  local prefix=$1 name=$2; shift 2
  local cache sudo=() mirror tarball version build aptopts
  cache=$(pg_bearer_cache)
  [ "$(id -u)" = 0 ] || sudo=(sudo)
  mkdir -p "$cache/apt/lists/partial" "$cache/src"
  tarball=$(ls "$cache"/src/postgresql-18_*.orig.tar.bz2 2>/dev/null | sort -V | tail -n1 || true)
  if [ -z "$tarball" ]; then
    # Debian 12 packages PostgreSQL 15 only; the development suite has the 18 source package.
    # The mirror is the one this machine already uses: taken from its own apt configuration.
    mirror=$( { grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}';
                grep -hE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | awk '{print $2}'; } |
              grep -v -- "-security" | head -n1 || true)
    [ -n "$mirror" ] || { echo "no Debian mirror found in /etc/apt; set PG_CONFIG to a PostgreSQL 18 pg_config" >&2; return 1; }
    printf 'deb-src %s sid main\n' "$mirror" > "$cache/apt/sources.list"
    aptopts=(-o "Dir::Etc::sourcelist=$cache/apt/sources.list" -o Dir::Etc::sourceparts=/dev/null
             -o "Dir::State::Lists=$cache/apt/lists" -o APT::Sandbox::User=root)
    echo "downloading the postgresql-18 source package (mirror from /etc/apt)" >&2
    apt-get "${aptopts[@]}" update -qq
    (cd "$cache/src" && apt-get "${aptopts[@]}" source --download-only -qq postgresql-18)
    tarball=$(ls "$cache"/src/postgresql-18_*.orig.tar.bz2 | sort -V | tail -n1)
  fi
  version=$(basename "$tarball" | sed -E 's/postgresql-18_(.*)\.orig\.tar\.bz2/\1/')
  build="$cache/$name/postgresql-$version"
  # A tree configured with other flags (an older set-up's) is configured again.
  if [ ! -f "$build/GNUmakefile" ] || [ "$(cat "$cache/$name/configure.flags" 2>/dev/null)" != "$*" ]; then
    rm -rf "$build"; mkdir -p "$cache/$name"
    tar -xjf "$tarball" -C "$cache/$name"
    (cd "$build" && ./configure --prefix="$prefix" --with-libcurl --with-openssl --without-icu "$@" \
        >"$cache/$name/configure.log" 2>&1) ||
      { tail -n 30 "$cache/$name/configure.log" >&2; return 1; }
    printf '%s' "$*" > "$cache/$name/configure.flags"
  fi
  (cd "$build" && make -s -j"$(nproc)" >"$cache/$name/make.log" 2>&1 &&
     "${sudo[@]}" make -s install >>"$cache/$name/make.log" 2>&1) ||
    { tail -n 30 "$cache/$name/make.log" >&2; return 1; }
  pg_config_is_18 "$prefix/bin/pg_config" ||
    { echo "build finished but $prefix/bin/pg_config is not PostgreSQL 18" >&2; return 1; }
}
# Where the benchmark's PostgreSQL 18 without assertions lives (scripts/bench.sh).
pg_bearer_release_prefix() { echo "${PG_BEARER_RELEASE_PREFIX:-$(pg_bearer_prefix)-release}"; }
