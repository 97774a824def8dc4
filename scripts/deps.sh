#!/usr/bin/env bash
# scripts/deps.sh PACKAGE...
# Installs the Debian packages named on the command line that are not installed yet (checked with
# dpkg-query). As root it runs `apt-get update` and `apt-get install -y --no-install-recommends`
# for the missing ones only; as another user it names them, prints the sudo command and fails.
# Does nothing when every package is already installed. Used by `make deps`, `make format*`
# and `make tidy`.
set -euo pipefail

if [[ $# -eq 0 ]]; then
  echo "usage: $0 PACKAGE..." >&2
  exit 2
fi

if ! command -v dpkg-query >/dev/null 2>&1; then
  echo "deps: not a Debian-based system (no dpkg-query); install the equivalents of these yourself:" >&2
  echo "deps:   $*" >&2
  exit 0
fi

missing=()
for pkg in "$@"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  if [[ "$status" != "install ok installed" ]]; then
    missing+=("$pkg")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "deps: all $# packages are installed"
  exit 0
fi

echo "deps: missing Debian packages: ${missing[*]}"
if [[ $(id -u) -ne 0 ]]; then
  {
    echo "deps: not running as root, so they cannot be installed from here. Run:"
    echo "deps:   sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}"
    echo "deps: then run make again."
  } >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null
echo "deps: installed ${missing[*]}"
