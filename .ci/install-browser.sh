#!/usr/bin/env bash
# Installs what tests/browser needs, and nothing when it is already there (safe to re-run):
#   Debian's chromium + a font (apt), and the playwright Python package in .venv.
# The playwright wheel ships its own driver; Chromium is the system one (/usr/bin/chromium),
# so `playwright install` (which downloads browsers) is never run.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
dpkg -s fonts-dejavu-core >/dev/null 2>&1 || missing+=(fonts-dejavu-core)
if [ "${#missing[@]}" -gt 0 ]; then
    echo "install-browser: apt-get install ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [ ! -x "$VENV/bin/python" ]; then
    echo "install-browser: $VENV does not exist yet; run 'make install' first" >&2
    exit 1
fi
if ! "$VENV/bin/python" -c "import playwright.sync_api" 2>/dev/null; then
    echo "install-browser: pip install playwright into $VENV"
    "$VENV/bin/pip" install -q "playwright>=1.40"
fi
echo "install-browser: chromium $(/usr/bin/chromium --version 2>/dev/null | awk '{print $2}'), playwright $("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("playwright"))')"
