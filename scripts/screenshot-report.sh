#!/usr/bin/env bash
# Screenshots an HTML report of `pretext inspect` with headless Chromium, to
# look at it (or attach it to a CI run) without a browser at hand.
# Usage: scripts/screenshot-report.sh REPORT.html OUT.png [WIDTH,HEIGHT]
#   WIDTH,HEIGHT is the window size, default 1280,4000: the page is cut at
#   HEIGHT pixels, so raise it for long reports.
# Installs Debian's chromium when it is missing and this runs as root.
# Prints the PNG's size; exits non-zero when the screenshot is missing or empty.
set -euo pipefail

if [ $# -lt 2 ] || [ $# -gt 3 ]; then
  echo "usage: $0 REPORT.html OUT.png [WIDTH,HEIGHT]" >&2; exit 2
fi
report=$1 out=$2 size=${3:-1280,4000}
[ -f "$report" ] || { echo "screenshot-report: no such file: $report" >&2; exit 1; }
[[ $size =~ ^[0-9]+,[0-9]+$ ]] || { echo "screenshot-report: size must be WIDTH,HEIGHT, not $size" >&2; exit 2; }

browser=
for b in chromium chromium-browser google-chrome; do
  if command -v "$b" >/dev/null; then browser=$b; break; fi
done
if [ -z "$browser" ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "screenshot-report: installing chromium" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >&2
    browser=chromium
  else
    echo "screenshot-report: please install chromium (e.g. sudo apt-get install chromium)" >&2; exit 1
  fi
fi

abs_report=$(realpath "$report")
mkdir -p "$(dirname "$out")"
abs_out=$(realpath -m "$out")
rm -f "$abs_out"
# A fresh profile per run: a shared one may be locked by another Chromium.
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
# Chromium writes progress and harmless D-Bus complaints to stderr; keep them
# out of sight unless it fails.
if ! "$browser" --headless --disable-gpu --no-sandbox --hide-scrollbars \
    --user-data-dir="$profile" --screenshot="$abs_out" --window-size="$size" \
    "file://$abs_report" >"$profile/log" 2>&1; then
  cat "$profile/log" >&2
  echo "screenshot-report: $browser failed" >&2; exit 1
fi
if [ ! -s "$abs_out" ]; then
  cat "$profile/log" >&2
  echo "screenshot-report: no screenshot written to $out" >&2; exit 1
fi
# Width and height are the big-endian 32-bit words at bytes 16 and 20 of a PNG.
read -r w0 w1 w2 w3 h0 h1 h2 h3 < <(od -An -tu1 -j16 -N8 "$abs_out")
echo "$out: $(stat -c %s "$abs_out") bytes, $(((w0 << 24) | (w1 << 16) | (w2 << 8) | w3))x$(((h0 << 24) | (h1 << 16) | (h2 << 8) | h3)) pixels"
