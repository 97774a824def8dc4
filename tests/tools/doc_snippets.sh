#!/usr/bin/env bash
# Checks that C++ snippets in the docs are taken from the compiled examples.
#
#   tests/tools/doc_snippets.sh <source dir>     check README.md and docs/*.md
#   tests/tools/doc_snippets.sh --self-test      check that the checker finds drift
#
# A snippet is marked by a line `<!-- snippet: examples/<file>.cpp -->` (the path relative to the
# source directory) immediately before its ```cpp fence. Every non-blank line of the block, with
# leading and trailing whitespace trimmed, must be a line of that file (trimmed the same way). A
# line starting with `// ...` marks an elision and is not checked. Unmarked blocks are not checked.
# Fails when a marked line is missing from its example, the example does not exist, a marker is
# not followed by a ```cpp fence, a block is not closed, or no marker is found at all (so a broken
# marker pattern cannot pass by checking nothing).
set -u

trim() {
  local s="${1%$'\r'}"
  s="${s#"${s%%[![:space:]]*}"}"
  s="${s%"${s##*[![:space:]]}"}"
  printf '%s' "$s"
}

# check_docs <source dir> <markdown file>...: prints each problem, returns 1 if there was one.
check_docs() {
  local root="$1"
  shift
  local failures=0 blocks=0 checked=0
  local doc
  for doc in "$@"; do
    local rel="${doc#"$root"/}"
    local -a lines=()
    mapfile -t lines <"$doc"
    local n=${#lines[@]} i=0
    while ((i < n)); do
      local line
      line="$(trim "${lines[i]}")"
      if [[ "$line" =~ ^\<!--[[:space:]]*snippet:[[:space:]]*([^[:space:]]+)[[:space:]]*--\>$ ]]; then
        local example="${BASH_REMATCH[1]}" marker_line=$((i + 1))
        ((blocks++))
        if ((i + 1 >= n)) || [[ "$(trim "${lines[i + 1]}")" != '```cpp' ]]; then
          echo "$rel:$marker_line: the snippet marker for $example is not immediately followed by a \`\`\`cpp fence"
          ((failures++))
          ((i++))
          continue
        fi
        if [[ ! -f "$root/$example" ]]; then
          echo "$rel:$marker_line: $example does not exist"
          ((failures++))
        fi
        local -A known=()
        if [[ -f "$root/$example" ]]; then
          local source_line
          while IFS= read -r source_line || [[ -n "$source_line" ]]; do
            source_line="$(trim "$source_line")"
            [[ -n "$source_line" ]] && known["$source_line"]=1
          done <"$root/$example"
        fi
        local j=$((i + 2)) closed=0
        while ((j < n)); do
          local text
          text="$(trim "${lines[j]}")"
          if [[ "$text" == '```' ]]; then
            closed=1
            break
          fi
          if [[ -n "$text" && "$text" != "// ..."* && -f "$root/$example" ]]; then
            ((checked++))
            if [[ -z "${known["$text"]+x}" ]]; then
              echo "$rel:$((j + 1)): not a line of $example: $text"
              ((failures++))
            fi
          fi
          ((j++))
        done
        unset known
        if ((!closed)); then
          echo "$rel:$marker_line: the snippet from $example is not closed by \`\`\`"
          ((failures++))
        fi
        i=$((j + 1))
        continue
      fi
      ((i++))
    done
  done
  if ((blocks == 0)); then
    echo "no snippet markers (<!-- snippet: examples/<file>.cpp -->) found"
    return 1
  fi
  echo "$blocks marked snippet(s), $checked line(s) checked, $failures problem(s)"
  ((failures == 0))
}

self_test() {
  local dir
  dir="$(mktemp -d)"
  trap 'rm -rf "$dir"' RETURN
  mkdir -p "$dir/examples" "$dir/docs"
  printf '%s\n' 'int main() {' '  auto x = f();   ' '  return x;' '}' >"$dir/examples/a.cpp"
  local ok=0
  expect() {  # expect <0|1> <description> <markdown text>
    printf '%s\n' "$3" >"$dir/docs/t.md"
    check_docs "$dir" "$dir/docs/t.md" >"$dir/out" 2>&1
    local status=$?
    if { [[ "$1" == 0 ]] && ((status != 0)); } || { [[ "$1" == 1 ]] && ((status == 0)); }; then
      echo "self-test failed: $2 (exit $status)"
      cat "$dir/out"
      ok=1
    fi
  }
  local fence='```'
  expect 0 "lines of the example, indented differently, with an elision" \
    "<!-- snippet: examples/a.cpp -->
${fence}cpp
auto x = f();

    // ... more here
return x;
${fence}"
  expect 1 "a line that is not in the example" \
    "<!-- snippet: examples/a.cpp -->
${fence}cpp
auto x = g();
${fence}"
  expect 1 "a part of a line only" \
    "<!-- snippet: examples/a.cpp -->
${fence}cpp
auto x
${fence}"
  expect 1 "a missing example" \
    "<!-- snippet: examples/b.cpp -->
${fence}cpp
return x;
${fence}"
  expect 1 "a marker not immediately before the fence" \
    "<!-- snippet: examples/a.cpp -->

${fence}cpp
return x;
${fence}"
  expect 1 "an unclosed block" \
    "<!-- snippet: examples/a.cpp -->
${fence}cpp
return x;"
  expect 1 "no markers at all" \
    "${fence}cpp
anything();
${fence}"
  expect 0 "unmarked blocks are not checked" \
    "${fence}cpp
anything();
${fence}
<!-- snippet: examples/a.cpp -->
${fence}cpp
return x;
${fence}"
  if ((ok == 0)); then
    echo "self-test passed"
  fi
  return "$ok"
}

if [[ "${1:-}" == "--self-test" ]]; then
  self_test
  exit $?
fi
if [[ $# -ne 1 || ! -d "$1" ]]; then
  echo "usage: $0 <source dir> | --self-test" >&2
  exit 2
fi
root="$(cd "$1" && pwd)"
docs=("$root/README.md")
for f in "$root"/docs/*.md; do
  docs+=("$f")
done
check_docs "$root" "${docs[@]}"
