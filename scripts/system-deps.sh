#!/usr/bin/env bash
# Install the Debian packages Dinamis needs that this machine lacks:
#   system-deps.sh base      python3-venv, Pango for WeasyPrint's PDFs, CARS's OpenMP
#   system-deps.sh browser   Debian's chromium, for the browser tests
# Installs only as root (non-interactive, no standard input); otherwise says
# which packages to install.
set -euo pipefail

missing=()
need() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed' || missing+=("$1"); }

case "${1:-base}" in
  base)
    python3 -c 'import ensurepip' 2>/dev/null || need python3-venv
    command -v npm >/dev/null || { need nodejs; need npm; }
    command -v dpkg-query >/dev/null || exit 0
    need libpango-1.0-0
    need libpangoft2-1.0-0
    need fonts-dejavu-core
    # CARS (the dsm extra): its wheels bundle GDAL and the rest but use these
    need libgomp1
    need libexpat1
    ;;
  browser)
    command -v chromium >/dev/null || need chromium
    command -v dpkg-query >/dev/null || exit 0
    need fonts-dejavu-core
    ;;
  *) echo "usage: $0 base|browser" >&2; exit 2 ;;
esac

[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "Missing Debian packages: ${missing[*]}" >&2
  echo "Install them with: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
echo "[system-deps] installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q </dev/null
apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null
