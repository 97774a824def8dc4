#!/usr/bin/env bash
# fuzz/run.sh build|smoke|run|merge [NAME...]
# libFuzzer targets for the parsers that see untrusted input (fuzz/fuzz_<name>.cpp): jwt,
# service_url, topic_name, glob. Built with clang 16 (Debian's clang-16 and libclang-rt-16-dev,
# installed here when missing: clang 14 cannot parse libstdc++ 12's <expected>), with
# AddressSanitizer and UndefinedBehaviorSanitizer, into $FUZZ_BUILD_DIR (build-fuzz/).
#   build   compile the fuzzers                                   (make fuzz)
#   smoke   build, then run each for $FUZZ_SMOKE_RUNS executions  (make fuzz-smoke; CI)
#   run     build, then run each for $FUZZ_RUNS executions        (make fuzz-run)
#   merge   minimise what `run` found into fuzz/corpus/<name>/ (the committed corpus)
# Runs start from the committed corpus (read only); new inputs go to $FUZZ_BUILD_DIR/corpus/<name>/,
# crashes to $FUZZ_BUILD_DIR/artifacts/. Exits non-zero when a fuzzer finds a crash.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

mode=${1:-}
case "$mode" in
  build | smoke | run | merge) shift ;;
  *)
    echo "usage: $0 build|smoke|run|merge [NAME...]" >&2
    exit 2
    ;;
esac
names=("$@")
if [[ ${#names[@]} -eq 0 ]]; then
  names=(jwt service_url topic_name glob)
fi

out=${FUZZ_BUILD_DIR:-build-fuzz}
: "${FUZZ_SMOKE_RUNS:=50000}"
: "${FUZZ_RUNS:=1000000}"
if [[ -z "${FUZZ_CXX:-}" ]]; then
  bash scripts/deps.sh clang-16 libclang-rt-16-dev libfmt-dev
  FUZZ_CXX=clang++-16
fi

# libstdc++ 12 guards std::expected with __cpp_concepts >= 202002L; clang 16 implements what it
# needs but still reports 201907L (see scripts/tidy.sh).
flags=(-std=c++2b -U__cpp_concepts -D__cpp_concepts=202002L -Wno-builtin-macro-redefined
  -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
  -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wsign-conversion -Wold-style-cast -Werror
  -Iinclude)

mkdir -p "$out/artifacts"
for name in "${names[@]}"; do
  src=fuzz/fuzz_${name}.cpp
  bin=$out/fuzz_${name}
  if [[ ! -f "$src" ]]; then
    echo "fuzz: no $src" >&2
    exit 2
  fi
  if [[ ! -x "$bin" || "$src" -nt "$bin" || -n "$(find include -newer "$bin" -name '*.hpp' -print -quit)" ]]; then
    echo "fuzz: building $bin"
    "$FUZZ_CXX" "${flags[@]}" "$src" -o "$bin" -lfmt
  fi
done
[[ "$mode" == build ]] && exit 0

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
failed=()
for name in "${names[@]}"; do
  bin=$out/fuzz_${name}
  corpus=$out/corpus/$name
  mkdir -p "$corpus"
  case "$mode" in
    smoke) runs=$FUZZ_SMOKE_RUNS ;;
    run) runs=$FUZZ_RUNS ;;
    merge)
      tmp=$(mktemp -d)
      "$bin" -merge=1 "$tmp" "fuzz/corpus/$name" "$corpus" 2>"$out/merge_${name}.log" || {
        failed+=("$name")
        continue
      }
      rm -f "fuzz/corpus/$name"/*
      cp "$tmp"/* "fuzz/corpus/$name"/ 2>/dev/null || true
      rm -rf "$tmp"
      echo "fuzz: $name corpus: $(find "fuzz/corpus/$name" -type f | wc -l) inputs"
      continue
      ;;
  esac
  max_len=4096
  [[ "$name" == glob ]] && max_len=256
  echo "fuzz: $name, $runs runs"
  if "$bin" -runs="$runs" -max_len="$max_len" -artifact_prefix="$out/artifacts/${name}-" -print_final_stats=1 \
    "$corpus" "fuzz/corpus/$name" >"$out/${name}.log" 2>&1; then
    grep -E '^(Done|stat::number_of_executed_units)' "$out/${name}.log" | sed "s/^/fuzz: $name: /"
  else
    tail -n 40 "$out/${name}.log"
    failed+=("$name")
  fi
done
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "fuzz: FAILED: ${failed[*]} (crash inputs in $out/artifacts/)" >&2
  exit 1
fi
echo "fuzz: ${#names[@]} fuzzers passed ($mode)"
