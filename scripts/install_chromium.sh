#!/usr/bin/env bash
# Debian's Chromium for the browser tests (tests/browser). Idempotent: does nothing when
# the browser is already there. Tests drive it through Playwright with its executable
# path; Playwright never downloads a browser of its own.
set -euo pipefail
CHROMIUM="${AUDITSTREAM_CHROMIUM:-/usr/bin/chromium}"
if [ -x "$CHROMIUM" ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  echo "install_chromium: no $CHROMIUM and no apt-get; install Chromium and set AUDITSTREAM_CHROMIUM" >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core
test -x "$CHROMIUM"
