#!/usr/bin/env bash
# CTest for the danube-embedded-broker program: it announces its ephemeral port, exits 0 on
# SIGTERM, rejects bad arguments with exit status 2, runs a cluster with --brokers N (one
# announcement per broker), serves TLS from --tls-cert/--tls-key files (a file it cannot read or
# use is exit 1 naming the file) and prints a token with --jwt-secret.
# usage: embedded_broker_program.sh <path to danube-embedded-broker>
set -u

bin=$1
out=$(mktemp)
err=$(mktemp)
pem=$(mktemp -d)
pid=
cleanup() {
  if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid" 2>/dev/null
  fi
  rm -f "$out" "$err"
  rm -rf "$pem"
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
stop_broker() {
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
}
stop_broker
echo "ok: announced port $port, clean exit on SIGTERM"

# expect_usage_error ARGS...: exit 2 with the usage on stderr.
expect_usage_error() {
  "$bin" "$@" >"$out" 2>"$err"
  rc=$?
  [[ $rc -eq 2 ]] || fail "'$*' exited $rc, expected 2"
  grep -q '^usage: danube-embedded-broker' "$err" || fail "'$*' printed no usage on stderr"
}
expect_usage_error --listen 127.0.0.1:0 --listen 127.0.0.1:0
expect_usage_error --brokers 0
expect_usage_error --brokers two
expect_usage_error --brokers 2 --listen 127.0.0.1:6650
expect_usage_error --tls-cert "$pem/cert.pem"
expect_usage_error --tls-key "$pem/key.pem"
expect_usage_error --tls-client-ca "$pem/ca.pem"
expect_usage_error --api-key key-1
expect_usage_error --namespace ''
expect_usage_error --namespace a/b
expect_usage_error --namespace 'a b'
expect_usage_error --jwt-secret=

# start_broker LINES ARGS...: starts the broker in the background and waits (up to 10 s) until it
# has printed LINES lines.
start_broker() {
  local lines=$1
  shift
  "$bin" "$@" >"$out" 2>"$err" &
  pid=$!
  for _ in $(seq 100); do
    [[ $(wc -l <"$out") -ge $lines ]] && return 0
    kill -0 "$pid" 2>/dev/null || fail "'$*' exited before announcing itself"
    sleep 0.1
  done
  fail "'$*' printed fewer than $lines lines within 10 s"
}

# --brokers 2: a cluster, one "listening on" line per broker, two different ports.
start_broker 2 --brokers 2
mapfile -t lines <"$out"
[[ ${#lines[@]} -eq 2 ]] || fail "--brokers 2 printed ${#lines[@]} lines, expected 2"
[[ ${lines[0]} =~ ^listening\ on\ http://127\.0\.0\.1:([0-9]+)$ ]] || fail "unexpected line '${lines[0]}'"
first=${BASH_REMATCH[1]}
[[ ${lines[1]} =~ ^listening\ on\ http://127\.0\.0\.1:([0-9]+)$ ]] || fail "unexpected line '${lines[1]}'"
second=${BASH_REMATCH[1]}
[[ $first -ne $second ]] || fail "both brokers announced port $first"
stop_broker
echo "ok: --brokers 2 announced ports $first and $second"

# --namespace (repeatable): the broker starts with the extra namespaces.
start_broker 1 --listen 127.0.0.1:0 --namespace tenant --namespace other_ns-2
[[ $(sed -n 1p "$out") =~ ^listening\ on\ http:// ]] || fail "unexpected announcement '$(sed -n 1p "$out")'"
stop_broker
echo "ok: --namespace twice"

# --jwt-secret: tokens required, and a token printed after the announcement.
start_broker 2 --listen 127.0.0.1:0 --jwt-secret test-secret --api-key key-1 --api-key key-2
[[ $(sed -n 1p "$out") =~ ^listening\ on\ http:// ]] || fail "unexpected announcement '$(sed -n 1p "$out")'"
[[ $(sed -n 2p "$out") =~ ^token\ [A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$ ]] ||
  fail "no 'token JWT' line: '$(sed -n 2p "$out")'"
stop_broker
echo "ok: --jwt-secret printed a token"

# TLS files: one that does not exist is exit 1 naming it.
"$bin" --listen 127.0.0.1:0 --tls-cert "$pem/missing-cert.pem" --tls-key "$pem/missing-key.pem" >"$out" 2>"$err"
rc=$?
[[ $rc -eq 1 ]] || fail "a missing --tls-cert file exited $rc, expected 1"
grep -q "^error: invalid_argument: cannot read --tls-cert file '$pem/missing-cert.pem'" "$err" ||
  fail "the error does not name the missing --tls-cert file"

# A file that is not PEM: exit 1, the broker's reason, naming the flag and the file.
echo "not a certificate" >"$pem/garbage.pem"
"$bin" --listen 127.0.0.1:0 --tls-cert "$pem/garbage.pem" --tls-key "$pem/garbage.pem" >"$out" 2>"$err"
rc=$?
[[ $rc -eq 1 ]] || fail "a --tls-cert file that is not PEM exited $rc, expected 1"
grep -q "^error: invalid_argument: TLS certificate '$pem/garbage.pem': " "$err" ||
  fail "the error does not name the --tls-cert file"
echo "ok: unreadable and malformed --tls-cert files are exit 1 naming the file"

# A working certificate (when the openssl program is there to make one): https:// announced.
if command -v openssl >/dev/null 2>&1; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=localhost \
    -addext subjectAltName=IP:127.0.0.1,DNS:localhost -keyout "$pem/key.pem" -out "$pem/cert.pem" \
    >/dev/null 2>&1 || fail "openssl could not make a test certificate"
  start_broker 1 --listen 127.0.0.1:0 --tls-cert "$pem/cert.pem" --tls-key "$pem/key.pem" \
    --tls-client-ca "$pem/cert.pem"
  line=$(head -n 1 "$out")
  [[ $line =~ ^listening\ on\ https://127\.0\.0\.1:[0-9]+$ ]] || fail "unexpected TLS announcement '$line'"
  stop_broker
  # The certificate with another certificate's key: exit 1, naming the key file.
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=other \
    -keyout "$pem/other-key.pem" -out "$pem/other-cert.pem" >/dev/null 2>&1 ||
    fail "openssl could not make a second test certificate"
  "$bin" --listen 127.0.0.1:0 --tls-cert "$pem/cert.pem" --tls-key "$pem/other-key.pem" >"$out" 2>"$err"
  rc=$?
  [[ $rc -eq 1 ]] || fail "a key that does not match the certificate exited $rc, expected 1"
  grep -q "^error: invalid_argument: TLS private key '$pem/other-key.pem': does not match" "$err" ||
    fail "the error does not name the --tls-key file"
  echo "ok: TLS from files (https:// announced), mismatched key refused naming the file"
else
  echo "skipped: the TLS start (no openssl program to make a certificate)"
fi
