#!/usr/bin/env bash
# Installs the Debian packages the native stack (and the board's browser test) needs, if any are
# missing. Idempotent.
# As root it installs them; with passwordless sudo it uses sudo; otherwise it prints the exact
# command to run and fails, so `make setup` never half-succeeds silently.
set -euo pipefail

missing=()
have_java17() {
  command -v java >/dev/null 2>&1 || return 1
  local v
  v=$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n1)
  [ -n "$v" ] && [ "$v" -ge 17 ]
}
have_java17 || [ -x "${JAVA_HOME:-/nonexistent}/bin/java" ] || missing+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || missing+=(maven)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || command -v initdb >/dev/null 2>&1 || missing+=(postgresql)
command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || missing+=(python3-venv)
# the live board's browser test drives Debian's Chromium with Playwright (no browser download)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
# the serving benchmark's HTTP load generator (bench/serve_latency.py; ~0.7 MB with LuaJIT)
command -v wrk >/dev/null 2>&1 || missing+=(wrk)

if [ ${#missing[@]} -eq 0 ]; then
  echo "system packages: all present (java 17+, maven, postgresql, prometheus, python3-venv, chromium, wrk)"
  exit 0
fi

echo "system packages missing: ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then
  SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  SUDO="sudo"
else
  echo "cannot install them without root. Run:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
  echo "then run 'make setup' again." >&2
  exit 1
fi

# Debian starts a freshly installed server (a Postgres cluster on 5432, Prometheus on 9090), which
# would take the ports of our own stack; a policy-rc.d that says "no" prevents that.
policy=/usr/sbin/policy-rc.d
added_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
  $SUDO chmod +x "$policy"
  added_policy=1
fi
trap '[ "$added_policy" = 1 ] && $SUDO rm -f "$policy"' EXIT
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "system packages: installed ${missing[*]}"
