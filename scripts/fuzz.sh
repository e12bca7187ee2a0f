#!/usr/bin/env bash
# Fuzzes pg_bearer_core's parsers of untrusted bytes with cargo-fuzz (libFuzzer). See
# docs/testing.md ("Fuzzing") for the targets; each target file states its oracle.
#
#   scripts/fuzz.sh [--seconds N] [--merge] [target ...]
#
# Default: every target, 600 s each, one after the other, one libFuzzer process (no -jobs or
# -workers). Each target runs on a temporary copy of its committed seeds (fuzz/corpus/<target>),
# so the repository stays untouched; with --merge, the inputs that add coverage are minimized
# into fuzz/corpus/<target> (-merge=1) afterwards. Prints, per target: executions, exec/s,
# corpus size, coverage, and the path of any crash artefact (kept in fuzz/artifacts/<target>).
# Exits non-zero if any target crashed (a panic, a broken oracle, a timeout or running out of
# memory) or could not run.
#
# Toolchain: Rust here is stable only. cargo-fuzz needs nightly compiler flags (-Z...), which
# stable rustc accepts with RUSTC_BOOTSTRAP=1. The AddressSanitizer runtime ships with stable
# rustc (librustc-stable_rt.asan.a): when it is present the targets are built with
# --sanitizer address, otherwise with --sanitizer none (panics and the oracles still work; only
# memory errors in unsafe code of dependencies would go unseen). PG_BEARER_FUZZ_SANITIZER
# overrides the choice. Debug assertions and overflow checks are always on (-a).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

CARGO_FUZZ_VERSION=0.13.2
ALL_TARGETS=(json envelope jwt claims jwks discovery introspection userinfo)
seconds=600
merge=0
targets=()
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) [ $# -ge 2 ] || usage; seconds=$2; shift 2 ;;
    --seconds=*) seconds=${1#*=}; shift ;;
    --merge) merge=1; shift ;;
    -h|--help) usage ;;
    -*) echo "fuzz: unknown option $1" >&2; usage ;;
    *) targets+=("$1"); shift ;;
  esac
done
[[ "$seconds" =~ ^[1-9][0-9]*$ ]] || { echo "fuzz: --seconds needs a positive number" >&2; exit 2; }
[ ${#targets[@]} -gt 0 ] || targets=("${ALL_TARGETS[@]}")
for t in "${targets[@]}"; do
  [[ " ${ALL_TARGETS[*]} " == *" $t "* ]] || { echo "fuzz: unknown target $t (have: ${ALL_TARGETS[*]})" >&2; exit 2; }
done
log() { printf 'fuzz: %s\n' "$*" >&2; }

# cargo-fuzz, pinned (scripts/setup.sh installs it too).
if ! cargo fuzz --version 2>/dev/null | grep -q "cargo-fuzz $CARGO_FUZZ_VERSION\$"; then
  log "installing cargo-fuzz $CARGO_FUZZ_VERSION"
  cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked --quiet
fi

export RUSTC_BOOTSTRAP=1
host=$(rustc -vV | sed -n 's/^host: //p')
sanitizer=${PG_BEARER_FUZZ_SANITIZER:-}
if [ -z "$sanitizer" ]; then
  if [ -f "$(rustc --print sysroot)/lib/rustlib/$host/lib/librustc-stable_rt.asan.a" ]; then
    sanitizer=address
  else
    sanitizer=none
  fi
fi
# cargo fuzz has no --locked: check that fuzz/Cargo.lock needs no change before building.
cargo metadata --manifest-path fuzz/Cargo.toml --locked --format-version 1 >/dev/null
log "building ${#targets[@]} target(s) with --sanitizer $sanitizer, debug assertions on"
build=(--release --debug-assertions --sanitizer "$sanitizer")
for t in "${targets[@]}"; do
  (cd fuzz && cargo fuzz build "${build[@]}" "$t")
done
bin_dir="fuzz/target/$host/release"

work=$(mktemp -d "${TMPDIR:-/tmp}/pg_bearer-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
failed=()
summary=()
for t in "${targets[@]}"; do
  corpus="$work/corpus/$t"
  artifacts="fuzz/artifacts/$t"
  mkdir -p "$corpus" "$artifacts"
  cp fuzz/corpus/"$t"/* "$corpus"/ 2>/dev/null || true
  seeds=$(find "$corpus" -type f | wc -l)
  dict=()
  case "$t" in
    envelope|jwt) dict=(-dict=fuzz/dict/jws.dict) ;;
    *) dict=(-dict=fuzz/dict/json.dict) ;;
  esac
  before=$(find "$artifacts" -type f | sort)
  log "$t: ${seconds}s from $seeds seed(s)"
  status=0
  "$bin_dir/$t" "$corpus" "${dict[@]}" -max_total_time="$seconds" -max_len=20000 \
    -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$artifacts/" \
    >"$work/$t.log" 2>&1 || status=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$t.log" | tail -n1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/$t.log" | tail -n1)
  last=$(grep -E '^#[0-9]+' "$work/$t.log" | grep 'cov:' | tail -n1 || true)
  cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$last")
  ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$last")
  corp=$(sed -nE 's/.* corp: ([0-9]+\/[0-9]+[a-zA-Z]*).*/\1/p' <<<"$last")
  new_artifacts=$(comm -13 <(printf '%s\n' "$before") <(find "$artifacts" -type f | sort) | sed '/^$/d')
  line=$(printf '%-13s executions %-10s exec/s %-6s corpus %-12s cov %-5s ft %-6s' \
    "$t" "${execs:-?}" "${rate:-?}" "${corp:-?}" "${cov:-?}" "${ft:-?}")
  if [ "$status" -ne 0 ] || [ -n "$new_artifacts" ]; then
    failed+=("$t")
    line="$line CRASH (exit $status)"
    grep -E 'panicked at|^==[0-9]+==ERROR|^SUMMARY|Test unit written' "$work/$t.log" | head -n 8 | sed 's/^/    /' >&2 || true
    for a in $new_artifacts; do line="$line"$'\n'"    artefact: $a (reproduce: $bin_dir/$t $a)"; done
  else
    line="$line ok"
  fi
  summary+=("$line")
  printf '%s\n' "$line"
  if [ "$merge" = 1 ] && [ "$status" -eq 0 ]; then
    before_merge=$(find "fuzz/corpus/$t" -type f | wc -l)
    "$bin_dir/$t" -merge=1 "fuzz/corpus/$t" "$corpus" "${dict[@]}" -max_len=20000 \
      >"$work/$t.merge.log" 2>&1 || { log "$t: merge failed"; tail -n 5 "$work/$t.merge.log" >&2; failed+=("$t-merge"); }
    after_merge=$(find "fuzz/corpus/$t" -type f | wc -l)
    log "$t: merged $((after_merge - before_merge)) new input(s) into fuzz/corpus/$t"
  fi
done

printf '\nfuzz summary (%s s per target, sanitizer %s):\n' "$seconds" "$sanitizer"
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  printf 'fuzz: FAILED: %s\n' "${failed[*]}"
  exit 1
fi
