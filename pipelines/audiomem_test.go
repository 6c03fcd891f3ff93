package pipelines

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/pretext-dev/pretext/transforms/av"
)

// writeSparseWAV writes a 16-bit mono 16 kHz WAV header whose data chunk
// claims the rest of a file of size bytes, and extends the file to size
// with a hole: it takes no disk, but reads as size bytes of silence.
func writeSparseWAV(t *testing.T, name string, size int64) {
	t.Helper()
	le := binary.LittleEndian
	h := []byte("RIFF")
	h = le.AppendUint32(h, uint32(min(size-8, 0xFFFFFFFF)))
	h = append(h, "WAVEfmt "...)
	h = le.AppendUint32(h, 16)
	h = le.AppendUint16(h, 1) // PCM
	h = le.AppendUint16(h, 1) // mono
	h = le.AppendUint32(h, 16000)
	h = le.AppendUint32(h, 32000)
	h = le.AppendUint16(h, 2)
	h = le.AppendUint16(h, 16)
	h = append(h, "data"...)
	h = le.AppendUint32(h, uint32(min(size-44, 0xFFFFFFFF)))
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, h, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(name, size); err != nil {
		t.Fatal(err)
	}
}

// TestAudioSparseInputs: WAVs that claim to be huge are judged before they
// are read. A sparse 1.15 GB WAV (over audio.max_bytes, 512 MiB) is
// read/too_large_file from a stat; a sparse 400 MB one (inside it) whose
// 200 M samples exceed audio.max_samples is decode/too_long from its
// header. Before, each was read into memory first (up to 512 MiB, 2.2 GB
// of RSS for the first). The run's allocations are logged and bounded well
// under what reading either file would cost. No ffmpeg is needed.
func TestAudioSparseInputs(t *testing.T) {
	in := t.TempDir()
	writeSparseWAV(t, filepath.Join(in, "bad", "huge.wav"), 1_150_000_000)
	writeSparseWAV(t, filepath.Join(in, "bad", "long.wav"), 400_000_000)
	good, err := os.ReadFile(filepath.Join(repo, "testdata", "audio", "one.wav"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(in, "good"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(in, "good", "one.wav"), good, 0o644); err != nil {
		t.Fatal(err)
	}
	// Not WAV: the first 12 bytes say so, and the file goes to ffmpeg (or
	// is a dead letter saying ffmpeg is missing); an empty file ends at
	// the read.
	for name, data := range map[string]string{"bad/text.wav": "<!DOCTYPE html><html>not found</html>", "bad/empty.wav": ""} {
		if err := os.WriteFile(filepath.Join(in, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	notWAV := "decode/" + av.ReasonCorruptMedia
	if (av.Runner{}).Check() != nil {
		notWAV = "decode/" + av.ReasonFFmpegMissing
	}
	// worker.memory_mb only schedules: with a budget of 1 MiB every decode
	// is over it and runs alone, and the outcomes are the same.
	for _, mb := range []int{0, 1} {
		t.Run(fmt.Sprintf("memory_mb=%d", mb), func(t *testing.T) {
			out := t.TempDir()
			cfg := loadConfig(t, "audio.yaml", in+"/**", out, nil)
			cfg.Worker.MemoryMB = mb
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			ms := runText(t, "prism", cfg)
			runtime.ReadMemStats(&after)
			checkOutcomes(t, out, "audio_mask", ms, 5, map[string]string{
				"bad/text.wav":  notWAV,
				"bad/empty.wav": "read/empty_file",
				"bad/huge.wav":  "read/too_large_file",
				"bad/long.wav":  "decode/too_long",
				"good/one.wav":  labeled,
			})
			alloc := after.TotalAlloc - before.TotalAlloc
			t.Logf("the run allocated %d MiB", alloc>>20)
			if alloc > 64<<20 {
				t.Errorf("the run allocated %d MiB; reading the 400 MB file alone would, judging it should not", alloc>>20)
			}
		})
	}
}

// TestCopyToFileTellsReadFromWrite: a copy for ffmpeg that fails on its
// input is the input's fault (a dead letter), told apart from the disk's.
func TestCopyToFileTellsReadFromWrite(t *testing.T) {
	name := filepath.Join(t.TempDir(), "input.mp3")
	src := &inputReader{r: iotest.TimeoutReader(iotest.OneByteReader(strings.NewReader("ID3abc")))}
	err := copyToFile(name, []byte("ID3"), src)
	if err == nil || !errors.Is(src.err, iotest.ErrTimeout) {
		t.Fatalf("copy error %v, input error %v; want the input's timeout", err, src.err)
	}
	src = &inputReader{r: strings.NewReader("more")}
	if err := copyToFile(name, []byte("head"), src); err == nil || src.err != nil {
		t.Errorf("over an existing file: copy error %v, input error %v; want the disk's error alone", err, src.err)
	}
	name = filepath.Join(t.TempDir(), "input.ogg")
	if err := copyToFile(name, []byte("Ogg"), &inputReader{r: strings.NewReader("S rest")}); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(name); err != nil || string(b) != "OggS rest" {
		t.Errorf("copied %q, %v", b, err)
	}
}
