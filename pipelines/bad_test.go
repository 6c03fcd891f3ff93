package pipelines

import (
	"bufio"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/pretext-dev/pretext/configs"
	"github.com/pretext-dev/pretext/sinks"
	"github.com/pretext-dev/pretext/transforms"
	"github.com/pretext-dev/pretext/transforms/av"
)

// The bad-input corpus: testdata/bad/<modality>/ (scripts/make-bad-corpus.sh
// writes it). Each test runs a modality's pipeline on the bad files mixed
// with good fixtures, under in/bad/ and in/good/, and checks that every
// input is accounted for exactly, that each bad file ends as the dead
// letter it should, and that the good inputs beside them are labeled.

// labeled is the outcome of an input that must give rows.
const labeled = "labeled"

// mixInputs copies good fixtures into in/good/ and every file of
// testdata/bad/<modality> into in/bad/, and returns in and the number of
// files.
func mixInputs(t *testing.T, modality string, good []string) (string, int) {
	t.Helper()
	in := t.TempDir()
	bad, err := filepath.Glob(filepath.Join(repo, "testdata", "bad", modality, "*"))
	if err != nil || len(bad) == 0 {
		t.Fatalf("no bad corpus for %s (scripts/make-bad-corpus.sh): %v", modality, err)
	}
	copyInto(t, filepath.Join(in, "good"), good)
	copyInto(t, filepath.Join(in, "bad"), bad)
	return in, len(good) + len(bad)
}

// copyInto copies files into dir under their base names.
func copyInto(t *testing.T, dir string, files []string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// fixtures lists files of testdata/<glob>.
func fixtures(t *testing.T, glob string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repo, "testdata", glob))
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures %s: %v", glob, err)
	}
	return files
}

// checkOutcomes asserts that the manifest of task accounts for every one of
// files inputs, that the dead letters are exactly those of want (file key
// → "stage/reason"), each counted in the manifest, and that every other
// input, good ones and those want marks labeled, gave rows.
func checkOutcomes(t *testing.T, out, task string, ms map[string]*sinks.Manifest, files int, want map[string]string) {
	t.Helper()
	m := ms[task]
	if m == nil {
		t.Fatalf("no manifest for %s", task)
	}
	var filtered int64
	for _, n := range m.Filtered {
		filtered += n
	}
	if m.Inputs != int64(files) {
		t.Errorf("%s: manifest counts %d inputs, %d files given", task, m.Inputs, files)
	}
	if m.Inputs != m.Labeled+filtered+m.DeadLetters {
		t.Errorf("%s: inputs %d != labeled %d + filtered %d + dead letters %d", task, m.Inputs, m.Labeled, filtered, m.DeadLetters)
	}
	if filtered != 0 {
		t.Errorf("%s: filtered %v; no input here should be filtered", task, m.Filtered)
	}
	got := map[string]string{}
	for _, d := range readRows[sinks.DeadLetter](t, filepath.Join(out, sinks.DeadLetters), ms[sinks.DeadLetters]) {
		key, _, _ := strings.Cut(d.Key, "@") // text: file@offset
		if d.Stage == "" || d.Reason == "" || d.Source == "" {
			t.Errorf("dead letter without stage, reason or source: %+v", d)
		}
		if _, dup := got[key]; dup {
			t.Errorf("%s: two dead letters", key)
		}
		got[key] = d.Stage + "/" + d.Reason
	}
	var dead, good int64
	for key, w := range want {
		if w == labeled {
			good++
			if g, ok := got[key]; ok {
				t.Errorf("%s: dead letter %s, want it labeled", key, g)
			}
			continue
		}
		dead++
		if got[key] != w {
			t.Errorf("%s: dead letter %q, want %q", key, got[key], w)
		}
	}
	var keys []string
	for key := range got {
		keys = append(keys, key)
		if _, ok := want[key]; !ok {
			t.Errorf("%s: unexpected dead letter %s", key, got[key])
		}
	}
	sort.Strings(keys)
	if int64(len(got)) != m.DeadLetters || m.DeadLetters != dead {
		t.Errorf("%s: %d dead-letter rows %v, manifest counts %d, want %d", task, len(got), keys, m.DeadLetters, dead)
	}
	for _, d := range keys {
		if strings.HasPrefix(d, "good/") {
			t.Errorf("good input %s became a dead letter", d)
		}
	}
	if wantLabeled := int64(files) - dead; m.Labeled != wantLabeled {
		t.Errorf("%s: %d inputs labeled, want %d (%d good fixtures)", task, m.Labeled, wantLabeled, int64(files)-dead-good)
	}
	if m.Rows < m.Labeled {
		t.Errorf("%s: %d rows from %d labeled inputs", task, m.Rows, m.Labeled)
	}
}

// progress is a snapshot of transforms.Live's counts of ended inputs.
type progress struct{ inputs, dead, filtered int64 }

func liveProgress() progress {
	l := &transforms.Live
	return progress{l.Inputs.Load(), l.DeadLetters.Load(), l.Filtered.Load()}
}

// checkLive fails unless the live progress counted, since before, the
// inputs, dead letters and filter drops the manifest m counts: the progress
// line a user watches and the manifest must agree.
func checkLive(t *testing.T, before progress, m *sinks.Manifest) {
	t.Helper()
	var filtered int64
	for _, n := range m.Filtered {
		filtered += n
	}
	now := liveProgress()
	got := progress{now.inputs - before.inputs, now.dead - before.dead, now.filtered - before.filtered}
	if want := (progress{m.Inputs, m.DeadLetters, filtered}); got != want {
		t.Errorf("live progress counted %+v, the manifest %+v", got, want)
	}
}

// Images: empty, truncated, corrupt and wrong-format files and 60000×60000
// headers are dead letters with their reasons; a valid PNG named .jpg and a
// 3000-frame GIF are labeled (image.Decode reads a GIF's first frame only,
// so its frame count costs nothing).
func TestBadImages(t *testing.T) {
	in, n := mixInputs(t, "images", fixtures(t, "images/photos/*.jpg"))
	out := t.TempDir()
	cfg := quickstart(t, out)
	cfg.Input = in + "/**"
	before := liveProgress()
	ms := runVision(t, "prism", cfg)
	checkLive(t, before, ms["colorize"])
	want := map[string]string{
		"bad/empty.png":            "read/empty_file",
		"bad/huge-60000x60000.png": "decode/pixel_limit",
		"bad/huge-60000x60000.jpg": "decode/pixel_limit",
		"bad/zero-width.png":       "decode/decode_error",
		"bad/truncated.png":        "decode/decode_error",
		"bad/truncated.jpg":        "decode/decode_error",
		"bad/truncated.gif":        "decode/decode_error",
		"bad/corrupt-huffman.jpg":  "decode/decode_error",
		"bad/text.jpg":             "decode/unknown_format",
		"bad/png-named.jpg":        labeled,
		"bad/frames-3000.gif":      labeled,
	}
	for _, task := range []string{"colorize", "denoise", "inpaint"} {
		checkOutcomes(t, out, task, ms, n, want)
	}
}

// Text: empty, Latin-1, binary and NUL-only files and a 200 MB single-line
// file are dead letters; the 200 MB line is never held in memory
// (text.max_line_bytes).
func TestBadText(t *testing.T) {
	in, n := mixInputs(t, "text", fixtures(t, "text/moby-dick/chapter_1*.txt")[:3])
	writeLongLine(t, filepath.Join(in, "bad", "200mb-one-line.txt"), 200<<20)
	n++
	out := t.TempDir()
	cfg := textConfig(t, in+"/**", out)
	cfg.Text.Format = "paragraphs"
	before := liveProgress()
	ms := runText(t, "prism", cfg)
	checkLive(t, before, ms["mlm_nsp"])
	checkOutcomes(t, out, "mlm_nsp", ms, n, map[string]string{
		"bad/empty.txt":          "read/empty_file",
		"bad/latin1.txt":         "read/not_utf8",
		"bad/png-named.txt":      "read/not_utf8",
		"bad/only-nul.txt":       "tokenize/no_tokens",
		"bad/nul-bytes.txt":      labeled,
		"bad/200mb-one-line.txt": "read/line_too_long",
	})
}

// writeLongLine writes size bytes of words without a newline.
func writeLongLine(t *testing.T, name string, size int) {
	t.Helper()
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	chunk := []byte(strings.Repeat("whale ", 1<<14))
	for left := size; left > 0; left -= len(chunk) {
		if _, err := w.Write(chunk[:min(left, len(chunk))]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// Audio: WAV headers that claim more data than the file has (up to 4 GiB),
// 0 channels, a 4 GHz rate, a cut header, text and a PNG under audio names
// are dead letters, judged from the header before any sample is decoded.
func TestBadAudio(t *testing.T) {
	needFFmpeg(t)
	in, n := mixInputs(t, "audio", fixtures(t, "audio/*.wav"))
	out := t.TempDir()
	before := liveProgress()
	ms := runText(t, "prism", loadConfig(t, "audio.yaml", in+"/**", out, nil))
	checkLive(t, before, ms["audio_mask"])
	checkOutcomes(t, out, "audio_mask", ms, n, map[string]string{
		"bad/empty.wav":            "read/empty_file",
		"bad/claims-more-data.wav": "decode/truncated",
		"bad/claims-4gib.wav":      "decode/truncated",
		"bad/zero-channels.wav":    "decode/zero_channels",
		"bad/truncated-header.wav": "decode/truncated",
		"bad/rate-4ghz.wav":        "decode/unsupported_rate",
		"bad/text.wav":             "decode/" + av.ReasonCorruptMedia,
		"bad/png-named.mp3":        "decode/" + av.ReasonCorruptMedia,
	})
}

// Video: an MP4 with no streams, a truncated one, an empty one, text and a
// JPEG under video names are dead letters (ffprobe reads only the video
// demuxers of av.Runner, so the JPEG is corrupt media, not a one-frame
// video); ffmpeg and ffprobe run under video.timeout_s.
func TestBadVideo(t *testing.T) {
	needFFmpeg(t)
	in, n := mixInputs(t, "video", fixtures(t, "video/chelsea-pan.mp4"))
	out := t.TempDir()
	before := liveProgress()
	ms := runText(t, "prism", loadConfig(t, "av.yaml", in+"/**", out, func(c *configs.Config) { c.Video.TimeoutSeconds = 60 }))
	checkLive(t, before, ms[av.TaskCorrespond])
	checkOutcomes(t, out, av.TaskCorrespond, ms, n, map[string]string{
		"bad/empty.mp4":      "read/empty_file",
		"bad/no-streams.mp4": "decode/" + av.ReasonNoVideoStream,
		"bad/truncated.mp4":  "decode/" + av.ReasonCorruptMedia,
		"bad/text.mp4":       "decode/" + av.ReasonCorruptMedia,
		"bad/jpeg-named.mp4": "decode/" + av.ReasonCorruptMedia,
	})
}
