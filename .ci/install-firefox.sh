#!/usr/bin/env bash
# Installs what tests/firefox needs, and nothing when it is already there (safe to re-run):
# Debian's firefox-esr (apt). The test builds its profile with the NSS that ships inside
# /usr/lib/firefox-esr, so no other package is needed. Set SYNCTOOLS_REQUIRE_FIREFOX=1 where
# this script has run, so the test fails instead of skipping if Firefox is still missing.
set -euo pipefail

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

if ! command -v firefox-esr >/dev/null 2>&1; then
    echo "install-firefox: apt-get install firefox-esr"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends firefox-esr
fi
echo "install-firefox: $(firefox-esr --version 2>/dev/null)"
