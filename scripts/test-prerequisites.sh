#!/usr/bin/env bash
# What the tests need beyond npm: real servers and tools, from Debian's packages. `npm test` runs
# this first (so does CI, through `npm test`). It installs what is missing when it can (root, or
# sudo without a password, on Debian with apt-get); otherwise it stops with one line naming the
# packages to install.
#   chromium       the chat page test drives Debian's Chromium with playwright-core
#   prometheus     promtool lints the gate's metrics and rules; a real Prometheus scrapes the gate
#   postgresql     throwaway PostgreSQL servers for the database tests (initdb, postgres)
#   redis-server   throwaway Redis servers for the cache tests
#   openssl        a throwaway certificate for the gate's https target test
#   python3-fastapi, python3-uvicorn, gunicorn
#                  the Python backend of examples/python-fastapi, run by Debian's /usr/bin/python3
set -euo pipefail

missing=()
command -v chromium >/dev/null || missing+=(chromium)
{ command -v promtool && command -v prometheus; } >/dev/null || missing+=(prometheus)
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
command -v redis-server >/dev/null || missing+=(redis-server)
command -v openssl >/dev/null || missing+=(openssl)
/usr/bin/python3 -c 'import fastapi, uvicorn, gunicorn' 2>/dev/null || missing+=(python3-fastapi python3-uvicorn gunicorn)
[ ${#missing[@]} -eq 0 ] && exit 0

as_root=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then as_root=(sudo -n); else as_root=(none); fi
fi
if [ "${as_root[0]:-}" = none ] || ! command -v apt-get >/dev/null; then
  echo "npm test needs the Debian packages ${missing[*]}: install them (apt-get install -y ${missing[*]}), or run npm test as root on Debian to have it install them" >&2
  exit 1
fi

echo "test prerequisites: installing ${missing[*]} with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
