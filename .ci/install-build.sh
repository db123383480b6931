#!/usr/bin/env bash
# Installs what the compiled part (synctools/protocol/_native.c, see setup.py) needs to
# build and to be checked, and nothing when it is already there: a C compiler, OpenSSL's
# headers, and valgrind (tests/protocol/test_native_memcheck.py) (apt).
# Without them `pip install` still succeeds and synctools runs its pure-Python path; CI
# wants the compiled one (SYNCTOOLS_REQUIRE_NATIVE=1), so it installs them first.
set -euo pipefail

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

missing=()
command -v gcc >/dev/null 2>&1 || missing+=(gcc)
dpkg -s libssl-dev >/dev/null 2>&1 || missing+=(libssl-dev)
command -v valgrind >/dev/null 2>&1 || missing+=(valgrind)
if [ "${#missing[@]}" -gt 0 ]; then
    echo "install-build: apt-get install ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
