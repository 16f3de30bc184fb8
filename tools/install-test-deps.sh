#!/usr/bin/env bash
# What the tests need beyond the virtualenv, installed only when missing:
#   Chromium (Debian's package; Playwright drives it, never downloads one) for the browser tests,
#   Java (Debian's) and the Nu Html Checker (npm vnu-jar, pinned) for the HTML validity tests.
# `make test` runs this; so does CI (.ci/run calls make test). Needs root (or sudo) for apt-get.
set -euo pipefail
cd "$(dirname "$0")/.."

VNU_VERSION=26.9.27
TOOLS=.tools
VNU_JAR="$TOOLS/node_modules/vnu-jar/build/dist/vnu.jar"

apt_install() {
  local runner=()
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then runner=(sudo); else
      echo "install-test-deps: need root to apt-get install $*; install them and rerun" >&2
      exit 1
    fi
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${runner[@]}" apt-get update -qq
  "${runner[@]}" apt-get install -y -qq "$@" >/dev/null
}

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v java >/dev/null 2>&1 || missing+=(default-jre-headless)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-test-deps: installing ${missing[*]} (Debian packages)"
  apt_install "${missing[@]}"
fi

if [ ! -f "$VNU_JAR" ]; then
  echo "install-test-deps: installing the Nu Html Checker (vnu-jar@$VNU_VERSION) into $TOOLS/"
  npm install --silent --no-audit --no-fund --prefix "$TOOLS" "vnu-jar@$VNU_VERSION" >/dev/null
fi
