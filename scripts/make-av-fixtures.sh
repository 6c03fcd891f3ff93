#!/usr/bin/env bash
# Rebuilds the committed audio and video fixtures of package transforms/av:
#   testdata/audio/            real speech (Debian asterisk-core-sounds-en-wav), one
#                              48 kHz ALSA sample (Debian alsa-utils) and format variants
#   testdata/audio/bad/        inputs that must become dead letters
#   testdata/video/            short clips: committed photos panned + asterisk speech
#   testdata/video/bad/        inputs that must become dead letters
# Sources and licenses: testdata/LICENSE-audio.md. Safe to rerun: every file is
# rewritten, and with the same ffmpeg build and package versions the bytes are
# the same (single-threaded encoders, -bitexact, no metadata).
# Needs ffmpeg (with libx264, libvpx, libopus, libmp3lame, libvorbis: Debian's
# has them), apt-get and dpkg-deb; installs ffmpeg when run as root.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v ffmpeg >/dev/null || ! command -v ffprobe >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && apt-get install -y -qq ffmpeg
  else
    echo "make-av-fixtures: please install ffmpeg (e.g. sudo apt-get install ffmpeg)" >&2; exit 1
  fi
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
chmod 777 "$tmp" # user _apt downloads into it
(cd "$tmp" && apt-get download -qq asterisk-core-sounds-en-wav alsa-utils)
dpkg-deb -x "$tmp"/asterisk-core-sounds-en-wav_*.deb "$tmp/ast"
dpkg-deb -x "$tmp"/alsa-utils_*.deb "$tmp/alsa"
for deb in "$tmp"/*.deb; do echo "make-av-fixtures: using $(basename "$deb")" >&2; done
S="$tmp/ast/usr/share/asterisk/sounds/en_US_f_Allison"
img=testdata/images

# Deterministic output: one thread, bit-exact encoders and muxers, no metadata
# (no encoder version strings, no creation time, fixed Ogg serial numbers).
ff() { ffmpeg -nostdin -hide_banner -loglevel error -y "$@"; }
det=(-threads 1 -map_metadata -1 -map_chapters -1 -fflags +bitexact -flags:v +bitexact -flags:a +bitexact)

a=testdata/audio v=testdata/video
# Every file below is overwritten in place; nothing else under these folders is touched.
mkdir -p "$a/formats" "$a/bad" "$v/bad"

# --- audio: real speech, unmodified copies (8 kHz mono 16-bit PCM) ---
cp "$S/digits/1.wav" "$a/one.wav"
cp "$S/digits/2.wav" "$a/two.wav"
cp "$S/digits/3.wav" "$a/three.wav"
cp "$S/hello-world.wav" "$a/hello-world.wav"
# 48 kHz mono 16-bit speech ("Front center"), unmodified.
cp "$tmp/alsa/usr/share/sounds/alsa/Front_Center.wav" "$a/alsa-front-center.wav"

# --- audio: format variants of hello-world.wav (1.40 s) ---
h="$S/hello-world.wav"
ff -i "$h" "${det[@]}" -c:a pcm_u8 "$a/formats/hello-world-u8.wav"
ff -i "$h" "${det[@]}" -c:a pcm_s24le "$a/formats/hello-world-s24.wav"
ff -i "$h" "${det[@]}" -c:a pcm_s32le "$a/formats/hello-world-s32.wav"
ff -i "$h" "${det[@]}" -c:a pcm_f32le "$a/formats/hello-world-f32.wav"
# Stereo with different channels: left is the voice, right the voice at half level.
ff -i "$h" "${det[@]}" -af "pan=stereo|c0=c0|c1=0.5*c0,aresample=44100" -c:a pcm_s16le "$a/formats/hello-world-stereo-44k.wav"
ff -i "$h" "${det[@]}" -c:a flac -compression_level 8 "$a/formats/hello-world.flac"
ff -i "$h" "${det[@]}" -c:a libmp3lame -b:a 24k "$a/formats/hello-world.mp3"
ff -i "$h" "${det[@]}" -ar 16000 -c:a libvorbis -q:a 2 "$a/formats/hello-world.ogg"

# --- audio: bad inputs ---
: >"$a/bad/0-byte.wav"
# The header's data chunk claims 14580 bytes; 2000 bytes of the file remain.
head -c 2000 "$S/digits/1.wav" >"$a/bad/truncated.wav"
# NumChannels (bytes 22-23 of the RIFF header) set to 0.
cp "$S/digits/2.wav" "$a/bad/zero-channels.wav"
printf '\000\000' | dd of="$a/bad/zero-channels.wav" bs=1 seek=22 conv=notrunc status=none
printf 'This is a line of text, not audio, in a file named .wav.\n' >"$a/bad/not-audio.wav"

# --- video: photos panned (crop with a time-dependent offset) + speech ---
# $1 out, $2 photo, $3 video filter, $4 fps, $5 seconds, $6 speech filter input
# count, then the speech files; remaining encoder options follow "--".
clip() {
  local out=$1 photo=$2 vf=$3 fps=$4 secs=$5 n=$6; shift 6
  local inputs=() labels="" i
  for ((i = 0; i < n; i++)); do inputs+=(-i "$1"); labels+="[$((i + 1)):a]"; shift; done
  [ "$1" = -- ] && shift
  ff -loop 1 -framerate "$fps" -i "$photo" "${inputs[@]}" \
    -filter_complex "[0:v]$vf,format=yuv420p[v];${labels}concat=n=$n:v=0:a=1,apad[a]" \
    -map '[v]' -map '[a]' -t "$secs" "${det[@]}" "$@" "$out"
}
x264=(-c:v libx264 -preset medium -crf 30 -g 50)
aac16=(-c:a aac -b:a 32k -ar 16000 -ac 1)

# 160x120, 10 fps, 4.0 s, H.264 + AAC 16 kHz mono: "one two three four five".
clip "$v/chelsea-pan.mp4" "$img/chelsea.jpg" "scale=320:-2,crop=160:120:'t*40':46" 10 4 \
  5 "$S/digits/1.wav" "$S/digits/2.wav" "$S/digits/3.wav" "$S/digits/4.wav" "$S/digits/5.wav" \
  -- "${x264[@]}" "${aac16[@]}" -movflags +faststart
# 320x240, 25 fps, 5.0 s, H.264 + AAC 22.05 kHz stereo: "hello world six seven eight nine".
clip "$v/coffee-pan.mp4" "$img/coffee.jpg" "scale=480:-2,crop=320:240:'t*32':'t*16'" 25 5 \
  5 "$S/hello-world.wav" "$S/digits/6.wav" "$S/digits/7.wav" "$S/digits/8.wav" "$S/digits/9.wav" \
  -- "${x264[@]}" -c:a aac -b:a 48k -ar 22050 -ac 2 -movflags +faststart
# 160x120, 15 fps, 3.0 s, VP9 + Opus (48 kHz) in WebM: "zero eight nine".
clip "$v/astronaut-pan.webm" "$img/astronaut.jpg" "scale=240:240,crop=160:120:'t*25':'t*30'" 15 3 \
  3 "$S/digits/0.wav" "$S/digits/8.wav" "$S/digits/9.wav" \
  -- -c:v libvpx-vp9 -b:v 0 -crf 45 -deadline good -cpu-used 4 -row-mt 0 -g 45 -c:a libopus -b:a 24k -ac 1
# 160x120 stored, shown rotated by 90 degrees (a display matrix, as phones write
# it): players and ffmpeg show 120x160. 1.0 s, 10 fps, video only.
# (ffmpeg 5.1 drops the rotate tag when it encodes, so it is set in a stream copy.)
ff -loop 1 -framerate 10 -i "$img/photos/rocket.jpg" -t 1 \
  -vf "scale=240:-2,crop=160:120:'t*60':20,format=yuv420p" "${det[@]}" "${x264[@]}" "$tmp/upright.mp4"
ff -i "$tmp/upright.mp4" -c copy "${det[@]}" -metadata:s:v:0 rotate=90 -movflags +faststart "$v/rotated.mp4"

# --- video: bad inputs ---
: >"$v/bad/empty.mp4"
# Video only: 160x120, 10 fps, 2.0 s.
ff -loop 1 -framerate 10 -i "$img/photos/china.jpg" -t 2 \
  -vf "scale=320:-2,crop=160:120:'t*50':40,format=yuv420p" "${det[@]}" "${x264[@]}" -an -movflags +faststart "$v/bad/noaudio.mp4"
# Audio only: AAC 16 kHz mono, 2.0 s: "four five six".
ff -i "$S/digits/4.wav" -i "$S/digits/5.wav" -i "$S/digits/6.wav" \
  -filter_complex "[0:a][1:a][2:a]concat=n=3:v=0:a=1,apad[a]" -map '[a]' -t 2 "${det[@]}" "${aac16[@]}" "$v/bad/audioonly.m4a"
# A real clip written with its index (moov) at the end, then cut after 8000
# bytes: an interrupted upload. ffprobe fails with "moov atom not found".
clip "$tmp/whole.mp4" "$img/photos/flower.jpg" "scale=320:-2,crop=160:120:'t*40':40" 10 3 \
  2 "$S/digits/7.wav" "$S/digits/8.wav" -- "${x264[@]}" "${aac16[@]}"
head -c 8000 "$tmp/whole.mp4" >"$v/bad/corrupt.mp4"

echo "make-av-fixtures: wrote" >&2
find "$a" "$v" -type f -printf '%s\t%p\n' | sort -k2 >&2
du -sb "$a" "$v" >&2
