#!/usr/bin/env bash
# Builds the benchmark's photo set (not committed) in DIR (default
# .cache/bench/photos): 10 real colour photos from 400 to 2560 px, by the
# following routes —
#   5 committed fixtures of testdata/images (scikit-image and scikit-learn
#     photos, 400 px wide: astronaut, chelsea, coffee, china, flower);
#   5 nature photos of Debian's mate-backgrounds (GPL-2+; 1280×1024 to
#     2560×1600, two progressive JPEGs): GreenMeadow, FreshFlower, Dune,
#     Storm, Garden.
# Safe to rerun: a complete set is left as it is.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=${1:-.cache/bench/photos}
mate=(GreenMeadow FreshFlower Dune Storm Garden)
if [ -f "$dest/.complete" ]; then exit 0; fi
mkdir -p "$dest"
cp testdata/images/astronaut.jpg testdata/images/chelsea.jpg testdata/images/coffee.jpg \
  testdata/images/photos/china.jpg testdata/images/photos/flower.jpg "$dest/"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
chmod 777 "$tmp" # user _apt downloads into it
if ! (cd "$tmp" && apt-get download -qq mate-backgrounds 2>/dev/null); then
  [ "$(id -u)" = 0 ] && apt-get update -qq
  (cd "$tmp" && apt-get download -qq mate-backgrounds)
fi
dpkg-deb -x "$tmp"/mate-backgrounds_*.deb "$tmp/x"
for m in "${mate[@]}"; do
  cp "$tmp/x/usr/share/backgrounds/mate/nature/$m.jpg" "$dest/"
done
cp "$tmp"/x/usr/share/doc/mate-backgrounds/copyright "$dest/COPYRIGHT-mate-backgrounds"
basename "$tmp"/mate-backgrounds_*.deb >"$dest/.complete"
echo "fetch-photos: $(ls "$dest"/*.jpg | wc -l) photos → $dest" >&2
