#!/usr/bin/env bash
# CTest for the danube-embedded-broker program: it announces its ephemeral port, exits 0 on
# SIGTERM, and rejects bad arguments with exit status 2.
# usage: embedded_broker_program.sh <path to danube-embedded-broker>
set -u

bin=$1
out=$(mktemp)
err=$(mktemp)
pid=
cleanup() {
  if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid" 2>/dev/null
  fi
  rm -f "$out" "$err"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  echo "--- stdout:" >&2
  cat "$out" >&2
  echo "--- stderr:" >&2
  cat "$err" >&2
  exit 1
}

# Bad arguments: usage on stderr, exit 2.
"$bin" --bogus >"$out" 2>"$err"
rc=$?
[[ $rc -eq 2 ]] || fail "--bogus exited $rc, expected 2"
grep -q '^usage: danube-embedded-broker' "$err" || fail "--bogus printed no usage on stderr"
"$bin" --listen >"$out" 2>"$err"
rc=$?
[[ $rc -eq 2 ]] || fail "--listen without a value exited $rc, expected 2"

# A malformed address is a start failure: "error: <code>: <message>", exit 1.
"$bin" --listen not-an-address >"$out" 2>"$err"
rc=$?
[[ $rc -eq 1 ]] || fail "a malformed address exited $rc, expected 1"
grep -q '^error: invalid_argument: ' "$err" || fail "a malformed address printed no error line"

# Start on an ephemeral port and wait (up to 10 s) for the announcement.
"$bin" --listen 127.0.0.1:0 >"$out" 2>"$err" &
pid=$!
for _ in $(seq 100); do
  [[ -s $out ]] && break
  kill -0 "$pid" 2>/dev/null || fail "the broker exited before announcing itself"
  sleep 0.1
done
line=$(head -n 1 "$out")
[[ $line =~ ^listening\ on\ http://127\.0\.0\.1:([0-9]+)$ ]] || fail "unexpected announcement '$line'"
port=${BASH_REMATCH[1]}
[[ $port -gt 0 ]] || fail "announced port $port"

# SIGTERM: exit 0 within 5 s.
kill -TERM "$pid"
for _ in $(seq 50); do
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
kill -0 "$pid" 2>/dev/null && fail "still running 5 s after SIGTERM"
wait "$pid"
rc=$?
pid=
[[ $rc -eq 0 ]] || fail "exited $rc after SIGTERM, expected 0"
echo "ok: announced port $port, clean exit on SIGTERM"
