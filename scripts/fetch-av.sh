#!/usr/bin/env bash
# Builds a larger real audio-video set for tests and benchmarks of package
# transforms/av (not committed):
#   DIR/wav/    the 568 spoken prompts of Debian asterisk-core-sounds-en-wav
#               (Allison Smith, CC-BY-SA-3.0; 8 kHz mono 16-bit), as packaged
#   DIR/clips/  20 clips of 4-8 s, 320x240, 25 fps, H.264 + AAC 16 kHz mono:
#               each pans across one of the 8 distinct committed photos of
#               testdata/images in one of 3 directions, to a different
#               sequence of spoken digits and letters
# Usage: scripts/fetch-av.sh [DIR]   (default .cache/av). Safe to rerun: work
# already done is skipped, and the choices are fixed, so with the same ffmpeg
# build a clip's bytes are the same on every machine.
# Sources and licenses as testdata/LICENSE-audio.md: a clip is an adaptation
# of CC-BY-SA-3.0 recordings and so is itself CC-BY-SA-3.0.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=${1:-.cache/av}
nclips=20

if ! command -v ffmpeg >/dev/null || ! command -v ffprobe >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && apt-get install -y -qq ffmpeg
  else
    echo "fetch-av: please install ffmpeg (e.g. sudo apt-get install ffmpeg)" >&2; exit 1
  fi
fi

mkdir -p "$dest/wav" "$dest/clips"
if [ ! -f "$dest/wav/.complete" ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  chmod 777 "$tmp" # user _apt downloads into it
  (cd "$tmp" && apt-get download -qq asterisk-core-sounds-en-wav)
  dpkg-deb -x "$tmp"/asterisk-core-sounds-en-wav_*.deb "$tmp/x"
  cp -R "$tmp"/x/usr/share/asterisk/sounds/en_US_f_Allison/. "$dest/wav/"
  cp "$tmp"/x/usr/share/doc/asterisk-core-sounds-en-wav/copyright "$dest/wav/COPYRIGHT"
  basename "$tmp"/asterisk-core-sounds-en-wav_*.deb >"$dest/wav/.complete"
  rm -rf "$tmp"
  trap - EXIT
  echo "fetch-av: $(find "$dest/wav" -name '*.wav' | wc -l) WAVs → $dest/wav" >&2
fi

# The photos: every distinct picture of testdata/images (formats/astronaut.gif
# and dup/ repeat astronaut and chelsea; bad/ is not a picture).
photos=(astronaut.jpg chelsea.jpg coffee.jpg photos/china.jpg photos/flower.jpg
  photos/rocket.jpg formats/retina.png gray/camera.png)
# The words: spoken digits and letters, in byte order.
mapfile -t words < <(cd "$dest/wav" && find digits letters -maxdepth 1 -name '*.wav' | LC_ALL=C sort)
[ ${#words[@]} -gt 0 ] || { echo "fetch-av: no words under $dest/wav" >&2; exit 1; }

# pick KEY N: a number in [0, N) from the SHA-256 of KEY (stable everywhere).
pick() { echo $(( 0x$(printf '%s' "$1" | sha256sum | cut -c1-12) % $2 )); }

made=0
for ((i = 0; i < nclips; i++)); do
  photo=${photos[$((i % ${#photos[@]}))]}
  motion=$((i / ${#photos[@]} % 3))
  secs=$((4 + i % 5))
  name=$(printf 'clip-%02d-%s-%d' "$i" "$(basename "${photo%.*}")" "$motion")
  out="$dest/clips/$name.mp4"
  [ -s "$out" ] && continue
  # Pan across the photo scaled to cover 480x360: left to right, right to
  # left, or top-left to bottom-right, over the clip's length.
  case $motion in
  0) x="(iw-ow)*t/$secs" y="(ih-oh)/2" ;;
  1) x="(iw-ow)*(1-t/$secs)" y="(ih-oh)/2" ;;
  2) x="(iw-ow)*t/$secs" y="(ih-oh)*t/$secs" ;;
  esac
  # Words until their 8 kHz 16-bit samples (44-byte header) cover the clip.
  list="$dest/clips/.$name.txt"
  : >"$list"
  total=0 k=0
  while [ "$total" -lt $((secs * 16000)) ]; do
    w=${words[$(pick "pretext-av clip $i word $k" ${#words[@]})]}
    printf "file '%s'\n" "$(realpath "$dest/wav/$w")" >>"$list"
    total=$((total + $(stat -c %s "$dest/wav/$w") - 44))
    k=$((k + 1))
  done
  ffmpeg -nostdin -hide_banner -loglevel error -y \
    -loop 1 -framerate 25 -i "testdata/images/$photo" -f concat -safe 0 -i "$list" \
    -filter_complex "[0:v]scale=480:360:force_original_aspect_ratio=increase,crop=320:240:'$x':'$y',format=yuv420p[v];[1:a]aresample=16000,apad[a]" \
    -map '[v]' -map '[a]' -t "$secs" -threads 1 -map_metadata -1 -fflags +bitexact -flags:v +bitexact -flags:a +bitexact \
    -c:v libx264 -preset medium -crf 26 -g 50 -c:a aac -b:a 32k -ac 1 -movflags +faststart "$out.tmp.mp4"
  mv "$out.tmp.mp4" "$out"
  rm -f "$list"
  made=$((made + 1))
done
echo "fetch-av: $made new clips, $(find "$dest/clips" -name '*.mp4' | wc -l) in $dest/clips ($(du -sh "$dest/clips" | cut -f1))" >&2
