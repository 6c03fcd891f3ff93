// Command gen writes the crafted inputs of bench/crafted/run into a folder:
// files that cost far more to decode than their size, and the largest
// photo-like files the defaults must still accept. Each is one flat colour,
// so the folder holds a few MB however large the images.
//
//	go run ./bench/crafted/gen DIR
package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/pretext-dev/pretext/transforms/vision/jpegscale"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: gen DIR")
		os.Exit(2)
	}
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

// sets are the cases' folders: bench/crafted/run gives each to pretext run.
var sets = map[string]map[string]func() ([]byte, error){
	// Four 7000² progressive 4:2:0 JPEGs (≈226 MiB each to decode, under
	// image.max_decode_mb: scheduled by worker.memory_mb) and four 7000²
	// 16-bit PNGs (≈390 MiB each: too_large_decode).
	"attack": {
		"prog-1.jpg": progressive(1), "prog-2.jpg": progressive(2), "prog-3.jpg": progressive(3), "prog-4.jpg": progressive(4),
		"png16-1.png": png16(1), "png16-2.png": png16(2), "png16-3.png": png16(3), "png16-4.png": png16(4),
	},
	// One progressive JPEG of 5,000 AC scans: too_many_scans.
	"scans": {"scans-5000.jpg": func() ([]byte, error) { return jpegscale.FlatProgressive(7000, 7000, true, 5000), nil }},
	// The same attack at 4:4:4 (ImageMagick's sampling at quality >= 90):
	// ≈437 MiB each, too_large_decode like the 16-bit PNGs.
	"attack444": {
		"prog444-1.jpg": progressive444(1), "prog444-2.jpg": progressive444(2), "prog444-3.jpg": progressive444(3), "prog444-4.jpg": progressive444(4),
		"png16-1.png": png16(1), "png16-2.png": png16(2), "png16-3.png": png16(3), "png16-4.png": png16(4),
	},
	// An 8000×6000 baseline JPEG and a 7000² 8-bit PNG: rows.
	"photos": {"baseline-8000x6000.jpg": baseline, "png8-7000.png": png8},
	// Three WAVs whose header claims 1.15 GB of data, sparse files of that
	// size (0 bytes on disk), and one real second of sound: too_large_file
	// from a stat, and rows.
	"wav": {"sparse-1.wav": sparseWAV, "sparse-2.wav": sparseWAV, "sparse-3.wav": sparseWAV, "tone.wav": toneWAV},
	// A 252 KB FLAC of 8 channels of silence at 192 kHz for 600 s: 3.7 GB
	// as ffmpeg's interleaved output, 115 M frames, over audio.max_samples
	// (too_large); and one real second of sound (rows).
	// The same written to a pipe, so its header declares no length: the
	// decode cannot preallocate and grows as the samples come.
	"flac": {"silence-8ch-192k-600s.flac": silenceFLAC(false), "silence-undeclared.flac": silenceFLAC(true), "tone.wav": toneWAV},
}

// silenceFLAC asks ffmpeg (which the audio pipeline needs for FLAC anyway)
// to encode the silence, into a file (its header then declares its length)
// or a pipe.
func silenceFLAC(pipe bool) func() ([]byte, error) {
	return func() ([]byte, error) {
		out := "pipe:1"
		if !pipe {
			dir, err := os.MkdirTemp("", "gen-flac-")
			if err != nil {
				return nil, err
			}
			defer os.RemoveAll(dir)
			out = filepath.Join(dir, "silence.flac")
		}
		b, err := exec.Command("ffmpeg", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i", "anullsrc=r=192000:cl=7.1",
			"-t", "600", "-c:a", "flac", "-f", "flac", out).Output()
		if err != nil {
			return nil, fmt.Errorf("ffmpeg: %w", err)
		}
		if !pipe {
			return os.ReadFile(out)
		}
		return b, nil
	}
}

// sparseSize is the size the sparse WAVs are cut to, after their header.
const sparseSize = 1_150_000_000

// wavHeader is a 16-bit mono RIFF/WAVE header at rate claiming data bytes.
func wavHeader(rate, data uint32) []byte {
	b := []byte("RIFF")
	b = binary.LittleEndian.AppendUint32(b, 36+data)
	b = append(b, "WAVEfmt "...)
	b = binary.LittleEndian.AppendUint32(b, 16)
	b = binary.LittleEndian.AppendUint16(b, 1) // PCM
	b = binary.LittleEndian.AppendUint16(b, 1) // mono
	b = binary.LittleEndian.AppendUint32(b, rate)
	b = binary.LittleEndian.AppendUint32(b, 2*rate)
	b = binary.LittleEndian.AppendUint16(b, 2)
	b = binary.LittleEndian.AppendUint16(b, 16)
	b = append(b, "data"...)
	return binary.LittleEndian.AppendUint32(b, data)
}

// sparseWAV is only a header: run cuts the file to sparseSize.
func sparseWAV() ([]byte, error) { return wavHeader(48000, sparseSize-44), nil }

func toneWAV() ([]byte, error) {
	b := wavHeader(16000, 2*16000)
	for i := range 16000 {
		b = binary.LittleEndian.AppendUint16(b, uint16(int16(8000*math.Sin(2*math.Pi*440*float64(i)/16000))))
	}
	return b, nil
}

// The k-th copies differ in their bytes, or image.dedupe would keep one.

func progressive(k int) func() ([]byte, error) {
	return func() ([]byte, error) {
		// Bytes after EOI are never read.
		return append(jpegscale.FlatProgressive(7000, 7000, true, 9), byte(k)), nil
	}
}

func progressive444(k int) func() ([]byte, error) {
	return func() ([]byte, error) {
		return append(jpegscale.FlatProgressive(7000, 7000, false, 9), byte(k)), nil
	}
}

func png16(k int) func() ([]byte, error) {
	return func() ([]byte, error) {
		m := image.NewNRGBA64(image.Rect(0, 0, 7000, 7000))
		for i := 0; i < len(m.Pix); i += 8 {
			m.Pix[i], m.Pix[i+2], m.Pix[i+4], m.Pix[i+6], m.Pix[i+7] = byte(k), 0x34, 0x56, 0xFF, 0xFF
		}
		return encodePNG(m)
	}
}

func png8() ([]byte, error) { return encodePNG(flat(7000, 7000)) }

func baseline() ([]byte, error) {
	var buf bytes.Buffer
	err := jpeg.Encode(&buf, flat(8000, 6000), &jpeg.Options{Quality: 90})
	return buf.Bytes(), err
}

func flat(w, h int) *image.NRGBA {
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < len(m.Pix); i += 4 {
		m.Pix[i], m.Pix[i+1], m.Pix[i+2], m.Pix[i+3] = 90, 140, 200, 255
	}
	return m
}

func encodePNG(m image.Image) ([]byte, error) {
	var buf bytes.Buffer
	err := (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&buf, m)
	return buf.Bytes(), err
}

func run(dir string) error {
	for set, files := range sets {
		sub := filepath.Join(dir, set)
		if err := os.MkdirAll(sub, 0o755); err != nil {
			return err
		}
		for name, make := range files {
			p := filepath.Join(sub, name)
			if _, err := os.Stat(p); err == nil {
				continue // deterministic: made once
			}
			b, err := make()
			if err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
			if err := os.WriteFile(p, b, 0o644); err != nil {
				return err
			}
			if strings.HasPrefix(name, "sparse-") {
				if err := os.Truncate(p, sparseSize); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
