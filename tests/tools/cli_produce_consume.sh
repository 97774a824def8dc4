#!/usr/bin/env bash
# CTest (label "cli") for danube-cpp-cli against the danube-embedded-broker program: usage errors,
# produce -> consume round trips (--json, plain, attributes, key, partitions, binary payloads, --stats),
# error reporting ("error: <code>: <message>", exit status) and --timeout.
# usage: cli_produce_consume.sh <path to danube-cpp-cli> <path to danube-embedded-broker>
set -u

source "$(dirname "${BASH_SOURCE[0]}")/cli_test_lib.sh" "$@"

# start_consumer NAME ARGS...: the consume command in the background; returns once it has
# announced "subscribed" on stderr (so messages published from now on reach it).
start_consumer() {
  local name=$1
  shift
  "$cli" consume -s "$url" "$@" >"$work/$name.out" 2>"$work/$name.err" &
  consumer_pid=$!
  for _ in $(seq 200); do
    grep -qs '^subscribed to ' "$work/$name.err" && return 0
    kill -0 "$consumer_pid" 2>/dev/null || fail "$name exited before subscribing"
    sleep 0.05
  done
  fail "$name did not subscribe within 10 s"
}

# wait_consumer NAME WANT: waits (bounded by the consumer's own --timeout) and checks its status.
wait_consumer() {
  wait "$consumer_pid"
  rc=$?
  consumer_pid=
  expect_rc "$1" "$2"
}

# --- Command-line errors: usage on stderr, exit 2; --help on stdout, exit 0 ---------------------
cli noargs
expect_rc "no arguments" 2
grep -q '^usage: danube-cpp-cli <produce|consume|schema>' "$work/noargs.err" || fail "no usage for no arguments"
cli bogus produce --bogus -m x
expect_rc "produce --bogus" 2
grep -q "unknown argument '--bogus'" "$work/bogus.err" || fail "--bogus not named"
grep -q '^usage: danube-cpp-cli produce' "$work/bogus.err" || fail "--bogus printed no produce usage"
cli nopayload produce -t /default/x
expect_rc "produce without -m/-f" 2
cli badcount consume --count 0
expect_rc "consume --count 0" 2
cli badsubtype consume --sub-type round_robin
expect_rc "consume --sub-type round_robin" 2
cli help produce --help
expect_rc "produce --help" 0
grep -q -- '--service-addr' "$work/help.out" || fail "produce --help lacks --service-addr"
cli help2 consume -h
expect_rc "consume -h" 0
grep -q -- '--key-filter' "$work/help2.out" || fail "consume --help lacks --key-filter"

# A token over http:// is refused before any connection, naming the risk.
cli token produce -s http://127.0.0.1:9 --token abc -m x
expect_rc "--token over http://" 2
grep -q '^error: invalid_argument: refusing to send --token over http://.*unencrypted' "$work/token.err" ||
  fail "--token over http:// not refused with the risk named"
cli tlshttp consume -s http://127.0.0.1:9 --ca-file /nonexistent
expect_rc "--ca-file with http://" 2
cli halfmtls produce -s https://127.0.0.1:9 --ca-file ca.pem --cert c.pem -m x
expect_rc "--cert without --key-file" 2

# The TLS client types load their PEM files in build(): a missing file is reported, exit 1.
cli cafile produce -s https://127.0.0.1:9 --ca-file "$work/missing-ca.pem" -m x
expect_rc "a missing --ca-file" 1
grep -q "^error: invalid_argument: .*missing-ca.pem" "$work/cafile.err" || fail "missing CA file not named"
cli mtls consume -s https://127.0.0.1:9 --token t --ca-file "$work/missing-ca.pem" --cert c.pem --key-file k.pem
expect_rc "mutual TLS with a missing CA file" 1
grep -q "^error: invalid_argument: .*missing-ca.pem" "$work/mtls.err" || fail "missing CA file not named (mTLS)"

# --- Start the broker on an ephemeral port -------------------------------------------------------
start_broker

# --- Round trip: 5 messages with attributes and a key, --json ---------------------------------
topic=/default/cli-e2e
# Consumers never create topics: the first produce does.
cli warmup produce -s "$url" -t "$topic" -n cli-e2e-producer -m warm-up
expect_rc "warm-up produce" 0

start_consumer json -t "$topic" -m e2e-sub --count 5 --timeout 20 --json
cli produce5 produce -s "$url" -t "$topic" -n cli-e2e-producer -m "hello cli" -c 5 -i 0 \
  -a 'color:blue, size : xl' -k customer-42
expect_rc "produce -c 5" 0
grep -q '^5 messages acknowledged on /default/cli-e2e$' "$work/produce5.err" || fail "no produce summary"
wait_consumer "consume --count 5" 0

[[ $(wc -l <"$work/json.out") -eq 5 ]] || fail "expected 5 JSON lines"
i=0
while IFS= read -r json; do
  i=$((i + 1))
  want_prefix="{\"payload\":\"hello cli-$i\",\"payload_encoding\":\"utf8\",\"topic\":\"$topic\",\"offset\":0,"
  want_prefix+="\"producer\":\"cli-e2e-producer\",\"key\":\"customer-42\","
  want_prefix+="\"attributes\":{\"color\":\"blue\",\"size\":\"xl\"},\"publish_time\":"
  [[ $json == "$want_prefix"* ]] || fail "line $i: unexpected '$json'"
  [[ $json =~ \"publish_time\":[0-9]{13},\"schema_id\":null,\"schema_version\":null\}$ ]] ||
    fail "line $i: unexpected tail '$json'"
done <"$work/json.out"
if command -v python3 >/dev/null 2>&1; then
  python3 -c 'import json, sys
for line in sys.stdin: json.loads(line)' <"$work/json.out" || fail "the --json lines are not valid JSON"
fi

# --- Escaping, binary payloads (base64) and the plain output ---------------------------------
printf '\xff\x00\x01binary' >"$work/payload.bin"
start_consumer escapes -t "$topic" -m escapes-sub --count 2 --timeout 20 --json
cli quoted produce -s "$url" -t "$topic" -m $'tab\there "quoted" back\\slash \xc3\xa9'
expect_rc "produce a message with quotes" 0
cli binary produce -s "$url" -t "$topic" -f "$work/payload.bin"
expect_rc "produce -f" 0
wait_consumer "consume the escapes" 0
first=$(sed -n 1p "$work/escapes.out")
second=$(sed -n 2p "$work/escapes.out")
[[ $first == '{"payload":"tab\there \"quoted\" back\\slash '$'\xc3\xa9''","payload_encoding":"utf8",'* ]] ||
  fail "escaped payload: '$first'"
[[ $second == '{"payload":"/wABYmluYXJ5","payload_encoding":"base64",'* ]] || fail "binary payload: '$second'"

start_consumer plain -t "$topic" -m plain-sub --count 1 --timeout 20
cli plainproduce produce -s "$url" -t "$topic" -m "just the payload"
expect_rc "produce for the plain consumer" 0
wait_consumer "plain consume" 0
[[ $(cat "$work/plain.out") == "just the payload" ]] || fail "plain output"

# --- Partitions: round robin over -part-0..2 ---------------------------------------------------
cli parts0 produce -s "$url" -t /default/cli-parts -p 3 -m first
expect_rc "partitioned warm-up" 0
start_consumer parts -t /default/cli-parts -m parts-sub --count 3 --timeout 20 --json
cli parts produce -s "$url" -t /default/cli-parts -p 3 -m p -c 3 -i 0
expect_rc "produce -p 3 -c 3" 0
wait_consumer "consume partitions" 0
for p in 0 1 2; do
  grep -q "\"topic\":\"/default/cli-parts-part-$p\"" "$work/parts.out" || fail "nothing from part-$p"
done

# --- --stats: the counters at the end of each run, on stderr, one line per partition -------------
start_consumer stats -t /default/cli-parts -m stats-sub --count 3 --timeout 20 --stats
cli statsproduce produce -s "$url" -t /default/cli-parts -p 3 -m abcd -c 3 -i 0 --stats
expect_rc "produce --stats" 0
wait_consumer "consume --stats" 0
grep -q '^stats: producer danube-cpp-cli-producer on /default/cli-parts: sent 3 (18 B), acked 3 (18 B), failed 0' \
  "$work/statsproduce.err" || fail "produce --stats: no total line"
grep -q '^stats:   producer danube-cpp-cli-producer-1 on /default/cli-parts-part-1: sent 1 (6 B), acked 1' \
  "$work/statsproduce.err" || fail "produce --stats: no partition line"
grep -q '^stats: consumer danube-cpp-cli-consumer (stats-sub) on /default/cli-parts: received 3 (18 B), acked 3' \
  "$work/stats.err" || fail "consume --stats: no total line"
[[ $(grep -c '^stats:   consumer ' "$work/stats.err") -ge 3 ]] || fail "consume --stats: fewer than 3 partition lines"

# --- --interval paces the sends ------------------------------------------------------------------
started=$(date +%s%N)
cli paced produce -s "$url" -t "$topic" -m paced -c 3 -i 150
expect_rc "produce -i 150" 0
elapsed_ms=$((($(date +%s%N) - started) / 1000000))
[[ $elapsed_ms -ge 300 ]] || fail "3 messages 150 ms apart took only $elapsed_ms ms"

# --- A token over http:// with the explicit opt-in (this broker does not check tokens) ----------
cli insecure produce -s "$url" -t "$topic" --token not-checked --insecure-plaintext-credentials -m x
expect_rc "--token with --insecure-plaintext-credentials" 0

# --- A token gRPC cannot carry in metadata (a trailing newline from $(cat token)...) is an error,
# --- not an abort (SIGABRT, exit 134, before the fix) -------------------------------------------
cli newline produce -s "$url" -t "$topic" --token $'not-checked\n' --insecure-plaintext-credentials -m x
expect_rc "--token ending in a newline" 1
grep -q '^error: unauthenticated: ' "$work/newline.err" || fail "a token ending in a newline: no 'error: unauthenticated:' line"

# --- Failures: "error: <code>: <message>" and a non-zero status ------------------------------
cli badtopic produce -s "$url" -t not-a-topic -m x
[[ $rc -ne 0 ]] || fail "produce to an invalid topic exited 0"
grep -q '^error: invalid_argument: ' "$work/badtopic.err" || fail "invalid topic: no 'error: invalid_argument:' line"

cli reliable produce -s "$url" -t /default/cli-reliable --reliable -m r
expect_rc "produce --reliable" 0
cli mismatch produce -s "$url" -t /default/cli-reliable -m not-reliable
[[ $rc -ne 0 ]] || fail "a non-reliable producer on a reliable topic exited 0"
grep -q '^error: failed_precondition: ' "$work/mismatch.err" || fail "dispatch mismatch not reported"

cli notopic consume -s "$url" -t /default/cli-never-created --count 1 --timeout 5
[[ $rc -ne 0 ]] || fail "consume of a missing topic exited 0"
grep -q '^error: not_found: ' "$work/notopic.err" || fail "missing topic not reported"

# --timeout on a topic nobody publishes to: exit non-zero, in time.
started=$(date +%s%N)
cli empty consume -s "$url" -t "$topic" -m empty-sub --count 1 --timeout 1
elapsed_ms=$((($(date +%s%N) - started) / 1000000))
[[ $rc -ne 0 ]] || fail "consume --timeout on an empty topic exited 0"
grep -q '^error: timeout: received 0 of 1 message within 1 s$' "$work/empty.err" || fail "timeout not reported"
[[ $elapsed_ms -lt 10000 ]] || fail "--timeout 1 took $elapsed_ms ms"

# --- Stop the broker ---------------------------------------------------------------------------
kill -TERM "$broker_pid"
wait "$broker_pid"
broker_pid=
echo "ok: danube-cpp-cli produce/consume against $url"
