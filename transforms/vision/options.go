package vision

import (
	"slices"

	"github.com/pretext-dev/pretext/transforms"
)

// Options configure decoding, filters and preprocessing of image inputs:
// a run config's image section (configs.Image), whose JSON the config hash
// covers.
type Options struct {
	// MaxPixels rejects images whose header claims more pixels, before decoding.
	MaxPixels int64 `yaml:"max_pixels" json:"max_pixels"`
	// MaxBytes rejects larger input files without reading them whole.
	MaxBytes int64 `yaml:"max_bytes" json:"max_bytes"`
	// MinWidth and MinHeight drop smaller images (after EXIF orientation).
	MinWidth  int `yaml:"min_width" json:"min_width"`
	MinHeight int `yaml:"min_height" json:"min_height"`
	// MaxAspect drops images whose longer side exceeds this many times the shorter.
	MaxAspect float64 `yaml:"max_aspect" json:"max_aspect"`
	// Dedupe drops exact duplicates (same file bytes), keeping the smallest key.
	Dedupe bool `yaml:"dedupe" json:"dedupe"`
	// Resize is center_crop, keep_ratio, border or no (as img2dataset).
	Resize string `yaml:"resize" json:"resize"`
	// Size is the output side in pixels.
	Size int `yaml:"size" json:"size"`
	// Filter is the resampling filter: lanczos, catmullrom, linear, box, nearest.
	Filter string `yaml:"filter" json:"filter"`
	// Encoding of image columns: png, jpeg or raw (uint8 pixels, shape from width/height).
	Encoding string `yaml:"encoding" json:"encoding"`
	// PNGLevel is default, best_speed, best_compression or none.
	PNGLevel string `yaml:"png_level" json:"png_level"`
	// JPEGQuality is 1..100.
	JPEGQuality int `yaml:"jpeg_quality" json:"jpeg_quality"`
	// JPEGScaling decodes a JPEG at 1/2, 1/4 or 1/8 of its size when the
	// resize still has at least Size pixels to scale from (libjpeg's DCT
	// scaling, Pillow's draft mode): a large photo decodes and resizes
	// several times faster, with slightly different pixels. Off by default,
	// so existing configs keep their bytes (and their config hash: omitempty).
	JPEGScaling bool `yaml:"jpeg_scaling" json:"jpeg_scaling,omitempty"`
	// MaxDecodeMB rejects an image whose decode would hold more than this
	// many MiB (pixels at the decoder's bytes per sample, plus its own
	// buffers such as a progressive JPEG's coefficients), judged from the
	// header before anything is allocated: dead letter too_large_decode.
	// It decides which inputs become rows, so it is part of the config hash.
	MaxDecodeMB int `yaml:"max_decode_mb" json:"max_decode_mb"`
	// MaxScans rejects a JPEG with more scans (SOS markers) than this before
	// decoding it: dead letter too_many_scans. Each scan of a progressive
	// JPEG costs a pass over the whole image.
	MaxScans int `yaml:"max_scans" json:"max_scans"`
	// TimeoutSeconds bounds the wall-clock time of one input's decode and
	// labelling; past it the input is a dead letter (timeout). A backstop for
	// what the deterministic caps above cannot foresee, so it is not part of
	// the config hash.
	TimeoutSeconds float64 `yaml:"timeout_s" json:"timeout_s,omitempty"`
}

// DefaultOptions returns the image section's defaults.
func DefaultOptions() Options {
	return Options{
		MaxPixels: 50_000_000, MaxBytes: 100 << 20,
		MinWidth: 32, MinHeight: 32, MaxAspect: 4, Dedupe: true,
		Resize: "center_crop", Size: 256, Filter: "catmullrom",
		Encoding: "png", PNGLevel: "best_speed", JPEGQuality: 95,
		// 320 MiB admits every 8-bit image max_pixels admits (at most
		// 4 bytes a pixel: 200 MB at 50 MP; an interlaced PNG 1.5 times
		// that), any baseline JPEG, a 4:2:0 progressive JPEG to ~50 MP
		// (int16 coefficients: 4.5 bytes a pixel); it refuses what costs
		// far more than its pixels: a 7000² 16-bit PNG (390 MiB), a
		// 7000² 4:4:4 progressive JPEG (437 MiB).
		// 500 scans: jpegtran's default progressive script has 10,
		// mozjpeg's optimised ones a few dozen; libjpeg-turbo leaves the
		// cap to its caller (TJPARAM_SCANLIMIT, djpeg -maxscans). Each
		// scan is a pass over the image, so 500 bounds an attack at 500
		// passes, judged before the first.
		// 60 s: a 50 MP decode takes 1-3 s on one busy core.
		MaxDecodeMB: 320, MaxScans: 500, TimeoutSeconds: 60,
	}
}

// Validate reports every bad field, each by its path in a run config
// ("image.size").
func (im Options) Validate() []error {
	f := transforms.Fields{}
	if im.MaxPixels <= 0 {
		f.Addf("image.max_pixels", "must be > 0 (got %d)", im.MaxPixels)
	}
	if im.MaxBytes <= 0 {
		f.Addf("image.max_bytes", "must be > 0 (got %d)", im.MaxBytes)
	}
	if im.MinWidth < 1 {
		f.Addf("image.min_width", "must be >= 1 (got %d)", im.MinWidth)
	}
	if im.MinHeight < 1 {
		f.Addf("image.min_height", "must be >= 1 (got %d)", im.MinHeight)
	}
	if !(im.MaxAspect >= 1) {
		f.Addf("image.max_aspect", "must be >= 1 (got %v)", im.MaxAspect)
	}
	if !slices.Contains([]string{"center_crop", "keep_ratio", "border", "no"}, im.Resize) {
		f.Addf("image.resize", "must be one of center_crop, keep_ratio, border, no (got %q)", im.Resize)
	}
	if im.Size < 8 || im.Size > 8192 {
		f.Addf("image.size", "must be in [8, 8192] (got %d)", im.Size)
	}
	if !slices.Contains([]string{"lanczos", "catmullrom", "linear", "box", "nearest"}, im.Filter) {
		f.Addf("image.filter", "must be one of lanczos, catmullrom, linear, box, nearest (got %q)", im.Filter)
	}
	if !slices.Contains([]string{"png", "jpeg", "raw"}, im.Encoding) {
		f.Addf("image.encoding", "must be one of png, jpeg, raw (got %q)", im.Encoding)
	}
	if !slices.Contains([]string{"default", "best_speed", "best_compression", "none"}, im.PNGLevel) {
		f.Addf("image.png_level", "must be one of default, best_speed, best_compression, none (got %q)", im.PNGLevel)
	}
	if im.JPEGQuality < 1 || im.JPEGQuality > 100 {
		f.Addf("image.jpeg_quality", "must be in [1, 100] (got %d)", im.JPEGQuality)
	}
	if im.MaxDecodeMB < 1 {
		f.Addf("image.max_decode_mb", "must be >= 1 (got %d)", im.MaxDecodeMB)
	}
	if im.MaxScans < 1 {
		f.Addf("image.max_scans", "must be >= 1 (got %d)", im.MaxScans)
	}
	if !(im.TimeoutSeconds > 0) {
		f.Addf("image.timeout_s", "must be > 0 (got %v)", im.TimeoutSeconds)
	}
	return f.Errs()
}
