#!/usr/bin/env bash
# bench/compile_cost.sh: what a user's translation unit pays for including danube-cpp, in both
# modes (docs/getting-started.md, "Header-only or separately compiled").
#
# Compiles three fixed files of bench/compile_cost/ with the compiler alone (no ccache, no PCH):
#   grpcpp_only.cpp   includes only <grpcpp/grpcpp.h> and makes a channel: the yardstick
#   user_client.cpp   a user's file: a client, a producer and a consumer (<danube/danube.hpp>)
#   user_test.cpp     a user's test file: an embedded broker and a client round trip
# header-only and, when the tree supports it, with -DDANUBE_SEPARATE_COMPILATION (the definitions
# then come from danube::compiled / src/danube.cpp, which is not measured: it is compiled once per
# program, not once per file). Each compile runs --repeat times, alternating the files so a machine
# that gets busier affects all of them; the table shows the medians of the wall time and of the
# peak memory (/usr/bin/time -v: the largest RSS of the compiler's processes), each also as a ratio
# to grpcpp_only.cpp. The load average is printed before and after: the machine may be shared.
#
#   bash bench/compile_cost.sh                       # -O2, 3 repeats, both modes
#   bash bench/compile_cost.sh --opt -O0 --repeat 5 --mode compiled
#   CXX=clang++ bash bench/compile_cost.sh
#
# No figure is checked: this prints, it does not pass or fail (except when a file does not compile).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
probes="${repo}/bench/compile_cost"
cxx=${CXX:-g++}
opt=-O2
repeat=3
modes=auto
json=false

usage() {
  sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
  echo "options: --opt FLAG (default -O2)  --repeat N (default 3)  --mode header-only|compiled|both"
  echo "         --json (one JSON line per file and mode after the table)"
}

while [[ $# -gt 0 ]]; do
  case $1 in
    --opt) opt=$2; shift 2 ;;
    --repeat) repeat=$2; shift 2 ;;
    --mode) modes=$2; shift 2 ;;
    --json) json=true; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "compile_cost.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
done
if ! [[ $repeat =~ ^[1-9][0-9]*$ ]]; then
  echo "compile_cost.sh: --repeat needs a positive number" >&2
  exit 2
fi
if [[ ! -x /usr/bin/time ]]; then
  echo "compile_cost.sh: /usr/bin/time is missing (Debian: apt-get install time; make deps does it)" >&2
  exit 1
fi

supports_compiled=false
if [[ -f "${repo}/src/danube.cpp" ]]; then
  supports_compiled=true
fi
case $modes in
  auto) if $supports_compiled; then modes="header-only compiled"; else modes="header-only"; fi ;;
  both) modes="header-only compiled" ;;
  header-only | compiled) ;;
  *) echo "compile_cost.sh: --mode must be header-only, compiled or both" >&2; exit 2 ;;
esac
if [[ $modes == *compiled* ]] && ! $supports_compiled; then
  echo "compile_cost.sh: this tree has no src/danube.cpp: no separately compiled mode to measure" >&2
  exit 2
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# compile FILE MODE: one compile; appends "seconds kilobytes" to $work/FILE.MODE.
compile() {
  local file=$1 mode=$2
  local defines=()
  if [[ $mode == compiled ]]; then
    defines=(-DDANUBE_SEPARATE_COMPILATION)
  fi
  if ! /usr/bin/time -v -o "${work}/time.txt" "$cxx" -std=c++23 "$opt" "${defines[@]}" -I"${repo}/include" \
    -isystem "${repo}/generated" -c "${probes}/${file}.cpp" -o "${work}/probe.o" 2>"${work}/errors.txt"; then
    echo "compile_cost.sh: ${file}.cpp does not compile (${mode}):" >&2
    head -n 30 "${work}/errors.txt" >&2
    exit 1
  fi
  local wall rss cpu
  cpu=$(awk -F': ' '/User time \(seconds\)|System time \(seconds\)/ { s += $2 } END { printf "%.2f", s }' "${work}/time.txt")
  wall=$(sed -n 's/^[[:space:]]*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "${work}/time.txt")
  rss=$(sed -n 's/^[[:space:]]*Maximum resident set size (kbytes): //p' "${work}/time.txt")
  # m:ss.cc or h:mm:ss -> seconds
  wall=$(awk -F: '{ s = 0; for (i = 1; i <= NF; ++i) s = s * 60 + $i; printf "%.2f", s }' <<<"$wall")
  echo "$wall $rss $cpu" >>"${work}/${file}.${mode}"
}

median() {  # median of the numbers on stdin
  sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

load() { cut -d' ' -f1-3 /proc/loadavg; }

compiler_version=$("$cxx" --version | head -n 1)
load_before=$(load)
echo "compile cost: ${compiler_version}, ${opt}, ${repeat} repeat(s), $(nproc) cores, load before ${load_before}"

for ((i = 0; i < repeat; ++i)); do
  compile grpcpp_only -
  for mode in $modes; do
    for file in user_client user_test; do
      compile "$file" "$mode"
    done
  done
done
load_after=$(load)

base_wall=$(cut -d' ' -f1 "${work}/grpcpp_only.-" | median)
base_rss=$(cut -d' ' -f2 "${work}/grpcpp_only.-" | median)
base_cpu=$(cut -d' ' -f3 "${work}/grpcpp_only.-" | median)

printf '\n%-12s %-12s %8s %8s %8s %8s %8s %8s\n' file mode "wall s" "x grpcpp" "cpu s" "x grpcpp" "peak MB" "x grpcpp"
json_lines=()
row() {
  local file=$1 mode=$2 wall rss cpu
  wall=$(cut -d' ' -f1 "${work}/${file}.${mode}" | median)
  rss=$(cut -d' ' -f2 "${work}/${file}.${mode}" | median)
  cpu=$(cut -d' ' -f3 "${work}/${file}.${mode}" | median)
  local wall_ratio rss_ratio cpu_ratio mb
  wall_ratio=$(awk -v a="$wall" -v b="$base_wall" 'BEGIN { printf "%.2f", a / b }')
  cpu_ratio=$(awk -v a="$cpu" -v b="$base_cpu" 'BEGIN { printf "%.2f", a / b }')
  rss_ratio=$(awk -v a="$rss" -v b="$base_rss" 'BEGIN { printf "%.2f", a / b }')
  mb=$(awk -v a="$rss" 'BEGIN { printf "%.0f", a / 1024 }')
  printf '%-12s %-12s %8s %8s %8s %8s %8s %8s\n' "$file" "$mode" "$wall" "$wall_ratio" "$cpu" "$cpu_ratio" "$mb" \
    "$rss_ratio"
  json_lines+=("{\"file\":\"${file}\",\"mode\":\"${mode}\",\"opt\":\"${opt}\",\"wall_s\":${wall},\"wall_ratio\":${wall_ratio},\"cpu_s\":${cpu},\"cpu_ratio\":${cpu_ratio},\"peak_mb\":${mb},\"peak_ratio\":${rss_ratio},\"repeat\":${repeat}}")
}
row grpcpp_only -
for mode in $modes; do
  for file in user_client user_test; do
    row "$file" "$mode"
  done
done
echo "load average before ${load_before}, after ${load_after} (1, 5, 15 min)"
if $json; then
  printf '%s\n' "${json_lines[@]}"
fi
