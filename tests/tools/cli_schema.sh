#!/usr/bin/env bash
# CTest (label "cli") for `danube-cpp-cli schema ...` and produce --schema-* against the
# danube-embedded-broker program: register (new, then existing), get (by id, by id and version, by
# subject), versions, check (compatible: exit 0; incompatible: exit 1 with the reasons), usage
# errors, and a produce with --schema-subject whose messages carry schema_id / schema_version.
# usage: cli_schema.sh <path to danube-cpp-cli> <path to danube-embedded-broker>
set -u

source "$(dirname "${BASH_SOURCE[0]}")/cli_test_lib.sh" "$@"

expect_line() { # expect_line NAME LINE: stdout of NAME has exactly this line
  grep -qxF -- "$2" "$work/$1.out" || fail "$1: no line '$2'"
}

# --- Command-line errors: exit 2, nothing sent -------------------------------------------------
cli noaction schema
expect_rc "schema without an action" 2
grep -q 'missing schema action' "$work/noaction.err" || fail "missing action not reported"
grep -q '^usage: danube-cpp-cli schema <register|get|versions|check>' "$work/noaction.err" || fail "no schema usage"
cli badaction schema delete
expect_rc "schema delete" 2
cli shelp schema --help
expect_rc "schema --help" 0
grep -q 'versions' "$work/shelp.out" || fail "schema --help lacks versions"
cli rhelp schema register -h
expect_rc "schema register -h" 0
grep -q -- '--created-by' "$work/rhelp.out" || fail "schema register --help lacks --created-by"
cli notype schema register -s http://127.0.0.1:9 --subject s
expect_rc "register without --type" 2
cli nodef schema register -s http://127.0.0.1:9 --subject s --type json_schema
expect_rc "register json_schema without --file" 2
cli getboth schema get -s http://127.0.0.1:9 --id 1 --subject s
expect_rc "get --id and --subject" 2
cli badmode schema check -s http://127.0.0.1:9 --subject s --type json -f x --mode strict
expect_rc "check --mode strict" 2
cli pinnoschema produce -s http://127.0.0.1:9 -m x --schema-version 1
expect_rc "--schema-version without --schema-subject" 2
cli token schema versions -s http://127.0.0.1:9 --subject s --token abc
expect_rc "schema --token over http://" 2
grep -q '^error: invalid_argument: refusing to send --token over http://' "$work/token.err" ||
  fail "--token over http:// not refused"
cli nofile schema check -s http://127.0.0.1:9 --subject s --type json -f "$work/missing.json"
expect_rc "check with a missing file" 1
grep -q "^error: invalid_argument: cannot open --file '.*missing.json'" "$work/nofile.err" || fail "missing file"

# --- Start the broker on an ephemeral port -------------------------------------------------------
start_broker

# --- register, get, versions ----------------------------------------------------------------------
subject=cli-orders
cat >"$work/v1.json" <<'JSON'
{"type":"object","properties":{"id":{"type":"string"},"qty":{"type":"integer"}},"required":["id","qty"]}
JSON
# v2 adds an optional field: backward compatible.
cat >"$work/v2.json" <<'JSON'
{"type":"object","properties":{"id":{"type":"string"},"qty":{"type":"integer"},"note":{"type":"string"}},"required":["id","qty"]}
JSON
# v3 drops the required "qty": backward incompatible.
cat >"$work/v3.json" <<'JSON'
{"type":"object","properties":{"id":{"type":"string"}},"required":["id"]}
JSON

cli reg1 schema register -s "$url" --subject "$subject" --type json_schema -f "$work/v1.json" \
  --description "orders v1" --created-by cli-test --tag team-a --tag billing
expect_rc "schema register v1" 0
expect_line reg1 "subject: $subject"
expect_line reg1 "version: 1"
expect_line reg1 "status: new"
grep -qE '^schema_id: [0-9]+$' "$work/reg1.out" || fail "register: no schema_id"
grep -qE '^fingerprint: sha256:[0-9a-f]{64}$' "$work/reg1.out" || fail "register: no sha256 fingerprint"
schema_id=$(sed -n 's/^schema_id: //p' "$work/reg1.out")

# The same content again: the existing version.
cli reg1again schema register -s "$url" --subject "$subject" --type json -f "$work/v1.json"
expect_rc "schema register v1 again" 0
expect_line reg1again "version: 1"
expect_line reg1again "status: existing"
expect_line reg1again "schema_id: $schema_id"

cli get1 schema get -s "$url" --id "$schema_id"
expect_rc "schema get --id" 0
expect_line get1 "subject: $subject"
expect_line get1 "schema_id: $schema_id"
expect_line get1 "version: 1"
expect_line get1 "type: json_schema"
expect_line get1 "compatibility: backward"
expect_line get1 "description: orders v1"
expect_line get1 "created_by: cli-test"
expect_line get1 "tags: team-a,billing"
expect_line get1 "definition:"
grep -qE '^created_at: [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$' "$work/get1.out" || fail "get: created_at"
# The definition is the registered text (unwrapped from the broker's envelope).
[[ $(sed -n '/^definition:$/,$p' "$work/get1.out" | tail -n +2) == "$(cat "$work/v1.json")" ]] ||
  fail "get: the definition is not the registered text"

# --- check: compatible (exit 0), incompatible (exit 1 with the reasons) --------------------------
cli check2 schema check -s "$url" --subject "$subject" --type json_schema -f "$work/v2.json"
expect_rc "schema check of a compatible change" 0
[[ $(cat "$work/check2.out") == "compatible" ]] || fail "check v2: not 'compatible'"
cli check3 schema check -s "$url" --subject "$subject" --type json_schema -f "$work/v3.json"
expect_rc "schema check of an incompatible change" 1
expect_line check3 "not compatible"
grep -q "removed required field 'qty'" "$work/check3.out" || fail "check v3: the reason is missing"
cli check3none schema check -s "$url" --subject "$subject" --type json_schema -f "$work/v3.json" --mode none
expect_rc "schema check --mode none" 0

cli reg2 schema register -s "$url" --subject "$subject" --type json_schema -f "$work/v2.json"
expect_rc "schema register v2" 0
expect_line reg2 "version: 2"
expect_line reg2 "status: new"
expect_line reg2 "schema_id: $schema_id"
cli reg3 schema register -s "$url" --subject "$subject" --type json_schema -f "$work/v3.json"
expect_rc "schema register of an incompatible v3" 1
grep -q '^error: internal: .*not compatible' "$work/reg3.err" || fail "incompatible register not reported"

cli versions schema versions -s "$url" --subject "$subject"
expect_rc "schema versions" 0
[[ $(wc -l <"$work/versions.out") -eq 2 ]] || fail "expected 2 versions"
grep -qE "^version 1 schema_id $schema_id created_at [0-9T:Z-]+ created_by cli-test fingerprint sha256:[0-9a-f]{64} description orders v1$" \
  "$work/versions.out" || fail "versions: line of version 1"
grep -qE "^version 2 schema_id $schema_id " "$work/versions.out" || fail "versions: line of version 2"

cli getv1 schema get -s "$url" --id "$schema_id" --version 1
expect_rc "schema get --id --version 1" 0
expect_line getv1 "version: 1"
cli latest schema get -s "$url" --subject "$subject"
expect_rc "schema get --subject" 0
expect_line latest "version: 2"
grep -qF '"note"' "$work/latest.out" || fail "get --subject: not the v2 definition"

cli nosubject schema versions -s "$url" --subject cli-never-registered
expect_rc "versions of an unknown subject" 1
grep -q '^error: not_found: ' "$work/nosubject.err" || fail "unknown subject not reported as not_found"
cli noid schema get -s "$url" --id 999999
expect_rc "get of an unknown id" 1
grep -q '^error: not_found: ' "$work/noid.err" || fail "unknown id not reported as not_found"

# --- produce with --schema-subject; consume --json shows schema_id / schema_version -------------
topic=/default/cli-schema
cli warmup produce -s "$url" -t "$topic" -m '{"id":"w","qty":0}' --schema-subject "$subject"
expect_rc "warm-up produce with --schema-subject" 0

"$cli" consume -s "$url" -t "$topic" -m schema-sub --count 2 --timeout 20 --json >"$work/consume.out" \
  2>"$work/consume.err" &
consumer_pid=$!
for _ in $(seq 200); do
  grep -qs '^subscribed to ' "$work/consume.err" && break
  kill -0 "$consumer_pid" 2>/dev/null || fail "the consumer exited before subscribing"
  sleep 0.05
done
grep -qs '^subscribed to ' "$work/consume.err" || fail "the consumer did not subscribe within 10 s"
cli latestp produce -s "$url" -t "$topic" -m '{"id":"a","qty":1}' --schema-subject "$subject"
expect_rc "produce --schema-subject (latest)" 0
cli pinnedp produce -s "$url" -t "$topic" -m '{"id":"b","qty":2}' --schema-subject "$subject" --schema-version 1
expect_rc "produce --schema-version 1" 0
wait "$consumer_pid"
rc=$?
consumer_pid=
expect_rc "consume --count 2" 0
[[ $(sed -n 1p "$work/consume.out") == *"\"schema_id\":$schema_id,\"schema_version\":2}" ]] ||
  fail "the latest-version message does not carry schema $schema_id version 2"
[[ $(sed -n 2p "$work/consume.out") == *"\"schema_id\":$schema_id,\"schema_version\":1}" ]] ||
  fail "the pinned message does not carry schema $schema_id version 1"

cli minp produce -s "$url" -t "$topic" -m '{"id":"c","qty":3}' --schema-subject "$subject" --schema-min-version 5
expect_rc "produce --schema-min-version above the latest" 1
grep -q '^error: ' "$work/minp.err" || fail "--schema-min-version 5: no error line"
cli nosub produce -s "$url" -t /default/cli-schema-2 -m x --schema-subject cli-never-registered
expect_rc "produce with an unknown subject" 1
grep -q '^error: ' "$work/nosub.err" || fail "unknown subject on produce: no error line"

# --- Stop the broker ---------------------------------------------------------------------------
kill -TERM "$broker_pid"
wait "$broker_pid"
broker_pid=
echo "ok: danube-cpp-cli schema against $url"
