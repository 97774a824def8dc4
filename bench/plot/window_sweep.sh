#!/usr/bin/env bash
# bench/plot/window_sweep.sh BUILD_DIR [OUT_PNG] [perf_producer flags...]
# Runs perf_producer over max_in_flight windows 1..256 (client and bare gRPC in the same run) and
# plots throughput against window size with gnuplot (Debian: apt-get install gnuplot-nox).
# Run by hand; the PNG in docs/ is committed. The data is kept next to the PNG as .dat.
set -euo pipefail
build=${1:?usage: $0 BUILD_DIR [OUT_PNG] [perf_producer flags...]}
out=${2:-docs/images/throughput_vs_window.png}
shift $(($# >= 2 ? 2 : 1))
command -v gnuplot >/dev/null || { echo "gnuplot is not installed (apt-get install gnuplot-nox)" >&2; exit 1; }
command -v jq >/dev/null || { echo "jq is not installed (apt-get install jq)" >&2; exit 1; }
mkdir -p "$(dirname "$out")"
dat=${out%.png}.dat
json=$(mktemp)
trap 'rm -f "$json"' EXIT

"$build/bench/perf_producer" --no-sync --windows 1,2,4,8,16,32,64,128,256 --json "$@" | tee /dev/stderr |
  grep '^{' >"$json"
{
  echo "# window client_msgs_per_s bare_msgs_per_s ratio   ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg))"
  jq -r '[.window, .client_msgs_per_s, .bare_msgs_per_s, .ratio] | @tsv' "$json"
} >"$dat"
size=$(jq -r 'first(.size)' "$json" | head -n1)

gnuplot <<GP
set terminal pngcairo size 900,560 font "DejaVu Sans,11" noenhanced
set output "$out"
set title "SendMessage throughput against in-flight window (${size} B payloads, one embedded broker, 2 cores)"
set xlabel "calls in flight (producer max_in_flight / bare callback window)"
set ylabel "messages per second"
set logscale x 2
set xrange [0.8:320]
set xtics (1,2,4,8,16,32,64,128,256)
set grid
set key top left
set yrange [0:*]
set format y "%'.0f"
set decimalsign locale
plot "$dat" using 1:3 with linespoints lw 2 pt 7 title "bare gRPC (callback API)", \
     "$dat" using 1:2 with linespoints lw 2 pt 5 title "danube-cpp send_async"
GP
echo "wrote $out and $dat"
