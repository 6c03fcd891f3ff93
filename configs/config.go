package configs

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/pretext-dev/pretext/sinks"
	"github.com/pretext-dev/pretext/transforms"
	"github.com/pretext-dev/pretext/transforms/audio"
	"github.com/pretext-dev/pretext/transforms/vision"
)

// Config is one run of pretext.
type Config struct {
	// Seed drives every random choice (docs/reliability.md, "Reproducible labels").
	Seed int64 `yaml:"seed" json:"seed"`
	// Input is a file pattern on any Beam filesystem; ** matches across folders.
	Input string `yaml:"input" json:"-"`
	// Output is the folder the datasets are written under.
	Output string `yaml:"output" json:"-"`
	// Limit keeps the first N inputs in path order (0 = all).
	Limit int `yaml:"limit" json:"-"`
	// Modality is the kind of input: "image", "text", "audio" or "video".
	Modality string `yaml:"modality" json:"modality"`
	Image    Image  `yaml:"image" json:"image"`
	Text     Text   `yaml:"text" json:"text"`
	Audio    Audio  `yaml:"audio" json:"audio"`
	Video    Video  `yaml:"video" json:"video"`
	Split    Split  `yaml:"split" json:"split"`
	Sink     Sink   `yaml:"sink" json:"sink"`
	// Worker bounds what one worker process spends at once; it shapes no
	// label, so it is not part of the config hash.
	Worker Worker `yaml:"worker" json:"-"`
	// Tasks are the tasks to run, each with its own config section.
	Tasks map[string]transforms.Config `yaml:"-" json:"-"`
}

// Image configures decoding, filters and preprocessing of image inputs:
// vision.Options, which package vision owns (as audio owns audio.MelConfig).
type Image = vision.Options

// Worker bounds what one worker process spends at once.
type Worker struct {
	// MemoryMB is what the in-flight decodes of one worker process may hold
	// together, each judged from its header: decodes wait for room rather
	// than run at once. 0 (the default) takes 1/32 of the machine's memory
	// (its cgroup limit where lower), at least image.max_decode_mb. It
	// schedules, never decides: an input's rows do not depend on it.
	MemoryMB int `yaml:"memory_mb" json:"memory_mb"`
}

// Text configures reading and tokenizing text inputs.
type Text struct {
	// Vocab is a WordPiece vocab.txt on any Beam filesystem.
	Vocab string `yaml:"vocab" json:"vocab,omitempty"`
	// LowerCase lower-cases and strips accents (uncased BERT models).
	LowerCase bool `yaml:"lower_case" json:"lower_case"`
	// Format is "lines" (BERT's: one sentence per line, a blank line between
	// documents) or "paragraphs" (a file is a document, a blank line ends a
	// paragraph, sentences are split by rule).
	Format string `yaml:"format" json:"format"`
	// MaxLineBytes makes a document with a longer line a dead letter.
	MaxLineBytes int `yaml:"max_line_bytes" json:"max_line_bytes"`
	// MaxDocumentBytes makes a longer document (or paragraphs-mode file) a dead letter.
	MaxDocumentBytes int `yaml:"max_document_bytes" json:"max_document_bytes"`
	// RangeMB cuts lines-format files into ranges read by different workers.
	RangeMB int `yaml:"range_mb" json:"range_mb,omitempty"`
	// GroupSize is the number of documents in a group: random-next sentences
	// are drawn from the other documents of the same group.
	GroupSize int `yaml:"group_size" json:"group_size"`
	// NumBuckets is the number of buckets documents are hashed into; each
	// bucket is cut into groups of GroupSize documents in key order.
	NumBuckets int `yaml:"num_buckets" json:"num_buckets"`
}

// Audio configures reading audio inputs: audio.Options, which package
// audio owns.
type Audio = audio.Options

// Video configures reading video inputs: frames at a fixed rate (preprocessed
// as the image section says) and the audio track (as the audio section says).
type Video struct {
	// FPS is the rate frames are sampled at.
	FPS float64 `yaml:"fps" json:"fps"`
	// MaxBytes rejects larger input files without copying them.
	MaxBytes int64 `yaml:"max_bytes" json:"max_bytes"`
	// MaxSeconds rejects longer videos (from ffprobe, before decoding).
	MaxSeconds float64 `yaml:"max_seconds" json:"max_seconds"`
	// MaxFrames caps the frames taken from one video.
	MaxFrames int `yaml:"max_frames" json:"max_frames"`
	// TimeoutSeconds bounds one ffmpeg or ffprobe process.
	TimeoutSeconds float64 `yaml:"timeout_s" json:"timeout_s,omitempty"`
	// GroupSize is the most videos in a group: other_video negatives take
	// their audio from another video of the same group.
	GroupSize int `yaml:"group_size" json:"group_size"`
	// GroupMB also closes a group once its videos hold this many MB of frames
	// and features, which bounds a worker's memory.
	GroupMB int `yaml:"group_mb" json:"group_mb"`
	// NumBuckets is the number of buckets videos are hashed into; each bucket
	// is cut into groups in key order.
	NumBuckets int `yaml:"num_buckets" json:"num_buckets"`
}

// Split assigns each key to train, val or test: transforms.Split.
type Split = transforms.Split

// Sink shapes the shards.
type Sink struct {
	// NumShards is fixed so that output does not depend on bundling.
	NumShards int `yaml:"num_shards" json:"num_shards"`
	// RowGroupRows caps the rows of a Parquet row group.
	RowGroupRows int64 `yaml:"row_group_rows" json:"row_group_rows"`
	// RowGroupMB ends a row group once its rows hold this many MB of payload.
	RowGroupMB int `yaml:"row_group_mb" json:"row_group_mb"`
	// BufferMB bounds the rows a worker process holds, all bundles together,
	// before writing them to temporary files. It does not change the output.
	BufferMB int `yaml:"buffer_mb" json:"buffer_mb,omitempty"`
	// CompressionLevel is the zstd level of the shards' pages: fastest,
	// default (the empty string too), better or best. The rows are the
	// same at every level; the bytes, their size and the CPU are not.
	CompressionLevel string `yaml:"compression_level" json:"compression_level,omitempty"`
}

// CompressionLevels are the values of sink.compression_level.
var CompressionLevels = []string{"fastest", "default", "better", "best"}

// Default returns the defaults of every field except Input, Output and Tasks.
func Default() Config {
	return Config{
		Seed:     12345,
		Modality: "image",
		Image:    vision.DefaultOptions(),
		Text: Text{
			LowerCase: true, Format: "lines", MaxLineBytes: 1 << 20, MaxDocumentBytes: 64 << 20,
			RangeMB: 64, GroupSize: 1000, NumBuckets: 16,
		},
		Audio: audio.DefaultOptions(),
		Video: Video{
			FPS: 1, MaxBytes: 2 << 30, MaxSeconds: 600, MaxFrames: 600, TimeoutSeconds: 300,
			GroupSize: 8, GroupMB: 64, NumBuckets: 16,
		},
		Split: transforms.DefaultSplit(),
		Sink:  Sink{NumShards: 16, RowGroupRows: 100_000, RowGroupMB: 16, BufferMB: 32},
	}
}

// file is the YAML layout; tasks are decoded by the registry.
type file struct {
	Seed     *int64               `yaml:"seed"`
	Input    *string              `yaml:"input"`
	Output   *string              `yaml:"output"`
	Limit    *int                 `yaml:"limit"`
	Modality *string              `yaml:"modality"`
	Image    yaml.Node            `yaml:"image"`
	Text     yaml.Node            `yaml:"text"`
	Audio    yaml.Node            `yaml:"audio"`
	Video    yaml.Node            `yaml:"video"`
	Split    yaml.Node            `yaml:"split"`
	Sink     yaml.Node            `yaml:"sink"`
	Worker   yaml.Node            `yaml:"worker"`
	Tasks    map[string]yaml.Node `yaml:"tasks"`
}

// Load reads a config file: defaults, then the file's values. Unknown keys
// are errors, each named; the config returned beside such an error holds
// every value that did decode, so Validate can report the rest. It does not
// validate: call Validate after applying command-line overrides.
func Load(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	cfg, err := Parse(data)
	if err != nil {
		return cfg, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

// Parse decodes a config from YAML; see Load.
func Parse(data []byte) (Config, error) {
	cfg := Default()
	var f file
	var errs []error
	if err := strict(data, &f); err != nil {
		// A TypeError lists every unknown key and bad value and still decodes
		// the rest, so the sections below report their own errors too.
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			return cfg, err
		}
		errs = append(errs, fieldErrors("", te)...)
	}
	if f.Seed != nil {
		cfg.Seed = *f.Seed
	}
	if f.Input != nil {
		cfg.Input = *f.Input
	}
	if f.Output != nil {
		cfg.Output = *f.Output
	}
	if f.Limit != nil {
		cfg.Limit = *f.Limit
	}
	if f.Modality != nil {
		cfg.Modality = *f.Modality
	}
	for _, sec := range []struct {
		name string
		node *yaml.Node
		into any
	}{{"image", &f.Image, &cfg.Image}, {"text", &f.Text, &cfg.Text}, {"audio", &f.Audio, &cfg.Audio}, {"video", &f.Video, &cfg.Video}, {"split", &f.Split, &cfg.Split}, {"sink", &f.Sink, &cfg.Sink}, {"worker", &f.Worker, &cfg.Worker}} {
		errs = append(errs, decodeSection(sec.name, sec.node, sec.into)...)
	}
	cfg.Tasks = map[string]transforms.Config{}
	for _, name := range sortedKeys(f.Tasks) {
		t, ok := transforms.Lookup(name)
		if !ok {
			errs = append(errs, fmt.Errorf("tasks.%s: unknown task (known: %s)", name, strings.Join(transforms.Names(""), ", ")))
			continue
		}
		tc := t.NewConfig()
		node := f.Tasks[name]
		errs = append(errs, decodeSection("tasks."+name, &node, tc)...)
		cfg.Tasks[name] = tc
	}
	return cfg, errors.Join(errs...)
}

// strict decodes YAML rejecting unknown keys; yaml.v3 reports every unknown
// key of a document in one error.
func strict(data []byte, into any) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(into); err != nil && err != io.EOF {
		return err
	}
	return nil
}

// decodeNode decodes a section strictly; an absent or null section keeps the defaults.
func decodeNode(n *yaml.Node, into any) error {
	if n.Kind == 0 || (n.Kind == yaml.ScalarNode && n.Tag == "!!null") {
		return nil
	}
	data, err := yaml.Marshal(n)
	if err != nil {
		return err
	}
	return strict(data, into)
}

// decodeSection decodes one section strictly, naming each bad key by its path.
func decodeSection(path string, n *yaml.Node, into any) []error {
	err := decodeNode(n, into)
	if err == nil {
		return nil
	}
	var te *yaml.TypeError
	if errors.As(err, &te) {
		return fieldErrors(path, te)
	}
	return []error{fmt.Errorf("%s: %w", path, err)}
}

var yamlFieldError = regexp.MustCompile(`^line (\d+): field (\S+) not found in type \S+$`)

// fieldErrors rewrites yaml.v3's "line 3: field x not found in type T" as
// "path.x: unknown key (line 3)"; other messages keep their text.
func fieldErrors(path string, te *yaml.TypeError) []error {
	var errs []error
	for _, msg := range te.Errors {
		if m := yamlFieldError.FindStringSubmatch(msg); m != nil {
			name := m[2]
			if path != "" {
				name = path + "." + name
			}
			errs = append(errs, fmt.Errorf("%s: unknown key (line %s of its section)", name, m[1]))
			continue
		}
		if path != "" {
			msg = path + ": " + msg
		}
		errs = append(errs, errors.New(msg))
	}
	return errs
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// TaskNames returns the configured tasks, sorted.
func (c Config) TaskNames() []string { return sortedKeys(c.Tasks) }

// Validate reports every bad field, each by its path.
func (c Config) Validate() error {
	f := transforms.Fields{}
	if strings.TrimSpace(c.Input) == "" {
		f.Addf("input", "is required (a file pattern such as testdata/images/**)")
	}
	if strings.TrimSpace(c.Output) == "" {
		f.Addf("output", "is required (a folder)")
	}
	if c.Limit < 0 {
		f.Addf("limit", "must be >= 0 (got %d)", c.Limit)
	}
	switch c.Modality {
	case "image":
		f.Add(c.Image.Validate()...)
	case "text":
		f.Add(c.Text.validate()...)
	case "audio":
		f.Add(c.Audio.Validate()...)
	case "video":
		f.Add(c.Image.Validate()...)
		f.Add(c.Audio.Validate()...)
		f.Add(c.Video.validate()...)
	default:
		f.Addf("modality", "must be image, text, audio or video (got %q)", c.Modality)
	}
	sp := c.Split
	for _, share := range []struct {
		name string
		v    float64
	}{{"train", sp.Train}, {"val", sp.Val}, {"test", sp.Test}} {
		if !(share.v >= 0 && share.v <= 1) {
			f.Addf("split."+share.name, "must be in [0, 1] (got %v)", share.v)
		}
	}
	if s := sp.Train + sp.Val + sp.Test; math.Abs(s-1) > 1e-9 {
		f.Addf("split", "train + val + test must be 1 (got %v)", s)
	}
	if c.Sink.NumShards < 1 || c.Sink.NumShards > 99999 {
		f.Addf("sink.num_shards", "must be in [1, 99999] (got %d)", c.Sink.NumShards)
	}
	if c.Sink.RowGroupRows < 1 {
		f.Addf("sink.row_group_rows", "must be >= 1 (got %d)", c.Sink.RowGroupRows)
	}
	if c.Sink.RowGroupMB < 1 {
		f.Addf("sink.row_group_mb", "must be >= 1 (got %d)", c.Sink.RowGroupMB)
	}
	if c.Sink.BufferMB < 1 {
		f.Addf("sink.buffer_mb", "must be >= 1 (got %d)", c.Sink.BufferMB)
	}
	if l := c.Sink.CompressionLevel; l != "" && !slices.Contains(CompressionLevels, l) {
		f.Addf("sink.compression_level", "must be one of %s (got %q)", strings.Join(CompressionLevels, ", "), l)
	}
	if c.Modality == "image" || c.Modality == "video" {
		f.Add(c.rowFits()...)
	}
	if c.Worker.MemoryMB < 0 {
		f.Addf("worker.memory_mb", "must be >= 0, 0 for 1/32 of the machine's memory (got %d)", c.Worker.MemoryMB)
	}
	if len(c.Tasks) == 0 {
		f.Addf("tasks", "at least one task is required (known: %s)", strings.Join(transforms.Names(""), ", "))
	}
	for _, name := range c.TaskNames() {
		t, ok := transforms.Lookup(name)
		if !ok {
			f.Addf("tasks."+name, "unknown task")
			continue
		}
		if !TaskFits(t.Modality, c.Modality) {
			f.Addf("tasks."+name, "is a %s task; this config's modality is %s", t.Modality, c.Modality)
		}
		if err := c.Tasks[name].Validate("tasks." + name); err != nil {
			f.Add(err)
		}
	}
	return f.Err()
}

// MaxRowBytesPerPixel bounds the payload of one image task row per output
// pixel when the images are raw (PNG can only be near it for noise, which
// denoise's inputs are): an RGB input and target (6 bytes), and the
// per-pixel labels beside them (inpaint's mask: 1; colorize's gray input is
// 1 byte with 4 bytes of ab values and bins: 8 in all).
const MaxRowBytesPerPixel = 8

// rowFits refuses an image.size whose rows could not fit one row group of
// sink.row_group_mb: such a run holds several of these rows per worker, and
// each one is larger than everything the sink is set to buffer. With
// resize "no" the size is the input's own, bounded by image.max_pixels and
// image.max_decode_mb instead.
func (c Config) rowFits() []error {
	im, limit := c.Image, int64(c.Sink.RowGroupMB)<<20
	if im.Resize == "no" || im.Size < 8 || im.Size > 8192 || limit <= 0 {
		return nil
	}
	row := int64(im.Size) * int64(im.Size) * MaxRowBytesPerPixel
	if row <= limit {
		return nil
	}
	need := (row + 1<<20 - 1) >> 20
	return []error{fmt.Errorf("image.size: %d makes rows of up to %d MiB (%d×%d pixels, %d bytes a pixel for input, target and labels), more than sink.row_group_mb %d: lower image.size or raise sink.row_group_mb to %d",
		im.Size, need, im.Size, im.Size, MaxRowBytesPerPixel, c.Sink.RowGroupMB, need)}
}

// TaskFits reports whether a task of modality task runs on inputs of
// modality input: each on its own, and the image tasks also on video frames.
func TaskFits(task, input string) bool {
	return task == input || (task == "image" && input == "video")
}

func oneOf(v string, options ...string) bool {
	for _, o := range options {
		if v == o {
			return true
		}
	}
	return false
}

// LabelConfig is the part of the config that shapes task's labels: what the
// manifest records and config_hash covers. Paths, limits, runner flags and
// times are never part of it, so runs into different folders agree.
//
// extra holds label-shaping facts that are not config values, such as the
// sha256 of the vocabulary file. The document is a sinks.LabelConfig, which
// readers (the trainer, the inspector) decode.
func (c Config) LabelConfig(task string, extra map[string]string) (json.RawMessage, string, error) {
	doc := sinks.LabelConfig{Task: task, Modality: c.Modality, Extra: extra}
	// Fields that shape no label are left out (omitempty): where the vocab
	// file is (its content is hashed into extra), how files are cut into
	// ranges, how much a worker buffers.
	sink := c.Sink
	sink.BufferMB = 0
	var image *Image
	var txt *Text
	var aud *Audio
	var video *Video
	switch c.Modality {
	case "image":
		im := c.Image
		im.TimeoutSeconds = 0
		image = &im
	case "text":
		t := c.Text
		t.Vocab, t.RangeMB = "", 0
		txt = &t
	case "audio":
		a := c.Audio
		a.TimeoutSeconds, a.MaxSamples = 0, 0
		aud = &a
	case "video":
		a, v := c.Audio, c.Video
		a.TimeoutSeconds, v.TimeoutSeconds, a.MaxSamples = 0, 0, 0
		im := c.Image
		im.TimeoutSeconds = 0
		image, aud, video = &im, &a, &v
	}
	var err error
	section := func(v any, isNil bool) json.RawMessage {
		if isNil || err != nil {
			return nil
		}
		var raw []byte
		raw, err = json.Marshal(v)
		return raw
	}
	doc.Image = section(image, image == nil)
	doc.Text = section(txt, txt == nil)
	doc.Audio = section(aud, aud == nil)
	doc.Video = section(video, video == nil)
	doc.Split = section(c.Split, false)
	doc.Sink = section(sink, false)
	doc.Config = section(c.Tasks[task], false)
	if err != nil {
		return nil, "", err
	}
	data, err := json.Marshal(doc)
	if err != nil {
		return nil, "", err
	}
	sum := sha256.Sum256(data)
	return data, hex.EncodeToString(sum[:]), nil
}

// TaskJSON is the task's config as JSON, the form DoFns carry it in.
func (c Config) TaskJSON(task string) ([]byte, error) { return json.Marshal(c.Tasks[task]) }

func (t Text) validate() []error {
	f := transforms.Fields{}
	if strings.TrimSpace(t.Vocab) == "" {
		f.Addf("text.vocab", "is required (a vocab.txt, e.g. testdata/wordpiece/vocab-bert-base-uncased.txt)")
	}
	if !oneOf(t.Format, "lines", "paragraphs") {
		f.Addf("text.format", "must be lines or paragraphs (got %q)", t.Format)
	}
	if t.MaxLineBytes < 16 {
		f.Addf("text.max_line_bytes", "must be >= 16 (got %d)", t.MaxLineBytes)
	}
	if t.MaxDocumentBytes < t.MaxLineBytes {
		f.Addf("text.max_document_bytes", "must be >= max_line_bytes (got %d)", t.MaxDocumentBytes)
	}
	if t.RangeMB < 1 {
		f.Addf("text.range_mb", "must be >= 1 (got %d)", t.RangeMB)
	}
	if t.GroupSize < 2 {
		f.Addf("text.group_size", "must be >= 2 (got %d)", t.GroupSize)
	}
	if t.NumBuckets < 1 {
		f.Addf("text.num_buckets", "must be >= 1 (got %d)", t.NumBuckets)
	}
	return f.Errs()
}

func (v Video) validate() []error {
	f := transforms.Fields{}
	if !(v.FPS > 0 && v.FPS <= 120) {
		f.Addf("video.fps", "must be in (0, 120] (got %v)", v.FPS)
	}
	if v.MaxBytes <= 0 {
		f.Addf("video.max_bytes", "must be > 0 (got %d)", v.MaxBytes)
	}
	if !(v.MaxSeconds > 0) {
		f.Addf("video.max_seconds", "must be > 0 (got %v)", v.MaxSeconds)
	}
	if v.MaxFrames < 1 {
		f.Addf("video.max_frames", "must be >= 1 (got %d)", v.MaxFrames)
	}
	if !(v.TimeoutSeconds > 0) {
		f.Addf("video.timeout_s", "must be > 0 (got %v)", v.TimeoutSeconds)
	}
	if v.GroupSize < 2 {
		f.Addf("video.group_size", "must be >= 2 (got %d)", v.GroupSize)
	}
	if v.GroupMB < 1 {
		f.Addf("video.group_mb", "must be >= 1 (got %d)", v.GroupMB)
	}
	if v.NumBuckets < 1 {
		f.Addf("video.num_buckets", "must be >= 1 (got %d)", v.NumBuckets)
	}
	return f.Errs()
}
