#!/usr/bin/env bash
# scripts/format.sh fix|check [FILE...]
# Runs clang-format (the style in .clang-format, pinned to clang-format 14 as on Debian 12) over the
# C++ sources of include/ src/ tests/ examples/ tools/ bench/ fuzz/, never generated/.
#   fix    rewrite the files in place                              (make format)
#   check  change nothing; list the files that need formatting and fail if any do (make format-check)
# With FILE arguments only those files are processed. CLANG_FORMAT overrides the binary.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

mode=${1:-}
case "$mode" in
  fix | check) shift ;;
  *)
    echo "usage: $0 fix|check [FILE...]" >&2
    exit 2
    ;;
esac

want_major=14
if [[ -z "${CLANG_FORMAT:-}" ]]; then
  if command -v "clang-format-$want_major" >/dev/null 2>&1; then
    CLANG_FORMAT=clang-format-$want_major
  elif command -v clang-format >/dev/null 2>&1; then
    CLANG_FORMAT=clang-format
  else
    bash scripts/deps.sh clang-format
    CLANG_FORMAT=clang-format
  fi
fi
version=$("$CLANG_FORMAT" --version)
major=$(sed -E 's/.*version ([0-9]+).*/\1/' <<<"$version")
if [[ "$major" != "$want_major" ]]; then
  echo "format: warning: $version; the style is pinned to clang-format $want_major, other versions may disagree" >&2
fi

if [[ $# -gt 0 ]]; then
  files=("$@")
else
  dirs=()
  for d in include src tests examples tools bench fuzz; do
    [[ -d "$d" ]] && dirs+=("$d")
  done
  files=()
  if [[ ${#dirs[@]} -gt 0 ]]; then
    mapfile -t files < <(find "${dirs[@]}" -type f \
      \( -name '*.hpp' -o -name '*.cpp' -o -name '*.h' -o -name '*.cc' -o -name '*.ipp' -o -name '*.cxx' \) \
      -not -path '*/generated/*' | LC_ALL=C sort)
  fi
fi

if [[ ${#files[@]} -eq 0 ]]; then
  echo "format: no C++ files found"
  exit 0
fi

if [[ "$mode" == fix ]]; then
  "$CLANG_FORMAT" --style=file -i "${files[@]}"
  echo "format: formatted ${#files[@]} files with $CLANG_FORMAT ($major)"
  exit 0
fi

unformatted=()
for f in "${files[@]}"; do
  if ! "$CLANG_FORMAT" --style=file --dry-run --Werror "$f" >/dev/null 2>&1; then
    unformatted+=("$f")
  fi
done
if [[ ${#unformatted[@]} -eq 0 ]]; then
  echo "format-check: all ${#files[@]} files are formatted (clang-format $major: $CLANG_FORMAT)"
  exit 0
fi
echo "format-check: ${#unformatted[@]} of ${#files[@]} files need formatting (clang-format $major: $CLANG_FORMAT):"
for f in "${unformatted[@]}"; do
  echo "  $f"
done
echo "format-check: the first differences:"
for f in "${unformatted[@]:0:3}"; do
  "$CLANG_FORMAT" --style=file "$f" | diff -u --label "$f" --label "$f (formatted)" "$f" - | head -n 20 || true
done
echo "format-check: run 'make format' to fix" >&2
exit 1
