#!/usr/bin/env bash
# Runs the real-broker suite against the danube-embedded-broker program (CTest
# real_broker_suite_on_embedded_broker): starts it on a free port, points DANUBE_BROKER_URL at it.
# usage: run_on_embedded_broker.sh <danube-embedded-broker> <danube_real_broker_tests>
set -u
broker_bin=$1
suite=$2
out=$(mktemp)
pid=
cleanup() {
  if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  fi
  rm -f "$out"
}
trap cleanup EXIT

"$broker_bin" --listen 127.0.0.1:0 >"$out" &
pid=$!
for _ in $(seq 100); do
  [[ -s $out ]] && break
  kill -0 "$pid" 2>/dev/null || { echo "FAIL: the broker exited before announcing itself" >&2; exit 1; }
  sleep 0.1
done
line=$(head -n 1 "$out")
[[ $line =~ ^listening\ on\ (http://[0-9.:]+)$ ]] || { echo "FAIL: unexpected announcement '$line'" >&2; exit 1; }
echo "real-broker suite against the embedded broker at ${BASH_REMATCH[1]}"
DANUBE_BROKER_URL=${BASH_REMATCH[1]} "$suite"
