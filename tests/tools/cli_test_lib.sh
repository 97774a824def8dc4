# Sourced by the CLI tests (cli_produce_consume.sh, cli_schema.sh) with their arguments:
#   source cli_test_lib.sh <path to danube-cpp-cli> <path to danube-embedded-broker>
# Gives them a scratch directory $work (removed at exit with any broker or consumer still running),
# fail, cli, expect_rc and start_broker.

cli=$1
broker_bin=$2
work=$(mktemp -d)
broker_pid=
consumer_pid=
cleanup() {
  for pid in $consumer_pid $broker_pid; do
    if kill -0 "$pid" 2>/dev/null; then
      kill -KILL "$pid" 2>/dev/null
    fi
  done
  rm -rf "$work"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  for f in "$work"/*.out "$work"/*.err; do
    [[ -e $f ]] || continue
    echo "--- $(basename "$f"):" >&2
    cat "$f" >&2
  done
  exit 1
}

# cli NAME ARGS...: runs the CLI with stdout/stderr in $work/NAME.out and .err; sets $rc.
cli() {
  local name=$1
  shift
  "$cli" "$@" >"$work/$name.out" 2>"$work/$name.err"
  rc=$?
}

expect_rc() { # expect_rc NAME WANT
  [[ $rc -eq $2 ]] || fail "$1 exited $rc, expected $2"
}

# start_broker: danube-embedded-broker on an ephemeral port; sets $broker_pid and $url.
start_broker() {
  "$broker_bin" --listen 127.0.0.1:0 >"$work/broker.out" 2>"$work/broker.err" &
  broker_pid=$!
  for _ in $(seq 100); do
    [[ -s $work/broker.out ]] && break
    kill -0 "$broker_pid" 2>/dev/null || fail "the broker exited before announcing itself"
    sleep 0.1
  done
  local line
  line=$(head -n 1 "$work/broker.out")
  [[ $line =~ ^listening\ on\ (http://127\.0\.0\.1:[0-9]+)$ ]] || fail "unexpected announcement '$line'"
  url=${BASH_REMATCH[1]}
}
