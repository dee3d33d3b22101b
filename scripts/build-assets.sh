#!/usr/bin/env bash
# Install the front-end libraries from the npm registry and copy what the app
# serves into dinamis/static/vendor/ (git-ignored). Nothing is fetched at run
# time: the browser only ever loads files from the application.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v npm >/dev/null; then
  echo "npm is missing: install Debian's nodejs and npm (make does it as root)." >&2
  exit 1
fi
npm ci --no-audit --no-fund --silent
out=dinamis/static/vendor
rm -rf "$out"
mkdir -p "$out/leaflet"
cp node_modules/leaflet/dist/leaflet.js node_modules/leaflet/dist/leaflet.css "$out/leaflet/"
cp -r node_modules/leaflet/dist/images "$out/leaflet/"
cp node_modules/leaflet/LICENSE "$out/leaflet/LICENSE"
# The offline base layer: land outlines of Natural Earth 1:110m (public domain).
node -e '
const topojson = require("topojson-client");
const world = require("world-atlas/land-110m.json");
const land = topojson.feature(world, world.objects.land);
require("fs").writeFileSync(process.argv[1], JSON.stringify(land));
' "$out/world-land.geojson"
echo "[assets] $(find "$out" -type f | wc -l) files in $out"
