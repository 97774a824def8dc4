#!/usr/bin/env bash
# scripts/tidy.sh BUILD_DIR FILE...
# Runs clang-tidy (.clang-tidy) on FILE... with the flags CMake recorded in
# BUILD_DIR/compile_commands.json (configure with -DCMAKE_EXPORT_COMPILE_COMMANDS=ON and build the
# danube_proto target first, so the generated headers exist; `make tidy` does both).
# clang-tidy 16 is required: clang 14 cannot parse libstdc++ 12's <expected> (it needs P0848,
# conditionally trivial special members). clang-tidy-16 is a Debian 12 package and is installed when
# missing. CLANG_TIDY overrides the binary. Exits non-zero when any file has findings.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ $# -lt 2 ]]; then
  echo "usage: $0 BUILD_DIR FILE..." >&2
  exit 2
fi
build_dir=$1
shift

if [[ ! -f "$build_dir/compile_commands.json" ]]; then
  echo "tidy: $build_dir/compile_commands.json is missing; configure with -DCMAKE_EXPORT_COMPILE_COMMANDS=ON" >&2
  exit 1
fi
if [[ -z "${CLANG_TIDY:-}" ]]; then
  command -v clang-tidy-16 >/dev/null 2>&1 || bash scripts/deps.sh clang-tidy-16
  CLANG_TIDY=clang-tidy-16
fi

python3 scripts/tidy_compdb.py "$build_dir" "$build_dir/tidy"

# libstdc++ 12 guards std::expected with __cpp_concepts >= 202002L; clang 16 implements what it
# needs but still reports 201907L (undefined first, so that no redefinition warning is raised).
extra=(--extra-arg=-U__cpp_concepts --extra-arg=-D__cpp_concepts=202002L --extra-arg=-Wno-unknown-warning-option)

failed=()
for f in "$@"; do
  echo "tidy: $f"
  if ! "$CLANG_TIDY" -p "$build_dir/tidy" --quiet "${extra[@]}" "$f"; then
    failed+=("$f")
  fi
done
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "tidy: findings in ${#failed[@]} of $# files: ${failed[*]}" >&2
  exit 1
fi
echo "tidy: no findings in $# files ($("$CLANG_TIDY" --version | grep -o 'version [0-9.]*'))"
