package inspect

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"image"
	_ "image/jpeg" // DecodeConfig of jpeg rows
	_ "image/png"
	"math"
	"sort"
	"strings"

	"github.com/pretext-dev/pretext/inspect/render"
	"github.com/pretext-dev/pretext/sinks"
	"github.com/pretext-dev/pretext/transforms/vision"
)

func init() {
	registerTask(vision.TaskColorize, colorize)
	registerTask(vision.TaskDenoise, denoise)
	registerTask(vision.TaskInpaint, inpaint)
}

// MaxDistinctTargets caps the hash set behind the duplicate rate: 8-byte
// content hashes of the targets of variant-0 rows, about 20 bytes each with
// the map's overhead, so 16.8 M rows (~350 MB) before the set stops growing.
// Past the cap, later rows are still compared with the hashes kept, and the
// rate is reported as a lower bound. Collisions of 8-byte hashes are
// negligible at this size (n²/2⁶⁵ ≈ 8·10⁻⁶ expected at the cap).
const MaxDistinctTargets = 1 << 24

// maxResolutions bounds the resolution histogram; further ones are "other".
const maxResolutions = 64

// imageRows is what the image tasks share: resolution, encoding, a check
// that the bytes decode to the stated size, and exact duplicates.
type imageRows struct {
	rows, hashed, dups int64
	capped             bool
	hashes             map[uint64]struct{}
	res                map[string]int64
	bad                examples
}

func newImageRows() *imageRows {
	return &imageRows{hashes: map[uint64]struct{}{}, res: map[string]int64{}}
}

// add checks the image columns of a row. Only the variant-0 row of a key is
// hashed: the variants of one image share its target by design.
func (s *imageRows) add(key string, variant, w, h int32, enc string, cols ...[]byte) {
	s.rows++
	r := fmt.Sprintf("%d×%d", w, h)
	if _, ok := s.res[r]; ok || len(s.res) < maxResolutions {
		s.res[r]++
	} else {
		s.res["other"]++
	}
	for _, c := range cols {
		if err := checkImage(c, enc, int(w), int(h)); err != nil {
			s.bad.add("%s/%d: %v", key, variant, err)
			break
		}
	}
	if variant != 0 || len(cols) < 2 {
		return
	}
	sum := sha256.Sum256(cols[1]) // the target
	hv := binary.LittleEndian.Uint64(sum[:8])
	s.hashed++
	if _, seen := s.hashes[hv]; seen {
		s.dups++
		return
	}
	if len(s.hashes) < MaxDistinctTargets {
		s.hashes[hv] = struct{}{}
	} else {
		s.capped = true
	}
}

func (s *imageRows) report(d *Dataset, th *Thresholds) {
	var names []string
	for r := range s.res {
		names = append(names, r)
	}
	sort.Slice(names, func(i, j int) bool {
		return s.res[names[i]] > s.res[names[j]] || (s.res[names[i]] == s.res[names[j]] && names[i] < names[j])
	})
	h := Histogram{Title: "resolution (rows)"}
	var parts []string
	for _, n := range names {
		h.Labels = append(h.Labels, n)
		h.Counts = append(h.Counts, s.res[n])
		if len(parts) < 4 {
			parts = append(parts, fmt.Sprintf("%s: %d", n, s.res[n]))
		}
	}
	if len(names) > 4 {
		parts = append(parts, fmt.Sprintf("… %d more", len(names)-4))
	}
	d.fact("resolution", "%s", strings.Join(parts, ", "))
	d.hist(h)
	d.gate(zeroGate("images decode at the stated size", s.bad.n, s.rows, "every image column decodes (png, jpeg, raw) to width×height", s.bad.list))
	if s.hashed == 0 {
		return // no targets (av frames)
	}
	rate := 0.0
	if s.hashed > 0 {
		rate = float64(s.dups) / float64(s.hashed)
	}
	bound := ""
	if s.capped {
		bound = fmt.Sprintf(" (a lower bound: the hash set stopped at %d targets)", MaxDistinctTargets)
	}
	d.fact("duplicate targets", "%.4f (%d of %d images have the target of an earlier one)%s", rate, s.dups, s.hashed, bound)
	d.metric("duplicate_rate", rate)
	if th != nil && th.MaxDuplicateRate != nil {
		d.gate(maxGate("duplicate rate", rate, *th.MaxDuplicateRate, fmt.Sprintf("%.4f (%d of %d)", rate, s.dups, s.hashed)))
	}
}

// checkImage checks an encoded image's size from its header (png, jpeg) or
// its length (raw) without decoding its pixels.
func checkImage(data []byte, enc string, w, h int) error {
	switch enc {
	case "raw":
		if w <= 0 || h <= 0 || len(data)%(w*h) != 0 {
			return fmt.Errorf("raw image of %d bytes is not %d×%d×channels", len(data), w, h)
		}
		if c := len(data) / (w * h); c != 1 && c != 3 && c != 4 {
			return fmt.Errorf("raw image has %d channels", c)
		}
		return nil
	case "png", "jpeg":
		cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
		if err != nil {
			return fmt.Errorf("does not decode: %v", err)
		}
		if format != enc {
			return fmt.Errorf("is %s, encoding column says %s", format, enc)
		}
		if cfg.Width != w || cfg.Height != h {
			return fmt.Errorf("is %d×%d, columns say %d×%d", cfg.Width, cfg.Height, w, h)
		}
		return nil
	}
	return fmt.Errorf("unknown encoding %q", enc)
}

// decodeImage decodes an image column to NRGBA: png and jpeg by their
// decoders, raw from width, height and the channel count its length implies.
func decodeImage(data []byte, enc string, w, h int) (*image.NRGBA, error) {
	if enc != "raw" {
		img, _, err := vision.Decode(data, vision.DecodeLimits{MaxPixels: 1 << 26})
		return img, err
	}
	if err := checkImage(data, enc, w, h); err != nil {
		return nil, err
	}
	c := len(data) / (w * h)
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < w*h; i++ {
		p := data[i*c : i*c+c]
		switch c {
		case 1:
			img.Pix[4*i], img.Pix[4*i+1], img.Pix[4*i+2], img.Pix[4*i+3] = p[0], p[0], p[0], 255
		case 3:
			img.Pix[4*i], img.Pix[4*i+1], img.Pix[4*i+2], img.Pix[4*i+3] = p[0], p[1], p[2], 255
		case 4:
			copy(img.Pix[4*i:4*i+4], p)
		}
	}
	return img, nil
}

// maxPSNR stands for identical images (infinite PSNR) in means and JSON.
const maxPSNR = 100

// psnr is the peak signal-to-noise ratio of a against b over R, G and B, in
// dB; identical images give maxPSNR.
func psnr(a, b *image.NRGBA) (float64, error) {
	if a.Rect.Size() != b.Rect.Size() {
		return 0, fmt.Errorf("input %v and target %v differ in size", a.Rect.Size(), b.Rect.Size())
	}
	var se float64
	w, h := a.Rect.Dx(), a.Rect.Dy()
	for y := 0; y < h; y++ {
		ra := a.Pix[y*a.Stride : y*a.Stride+4*w]
		rb := b.Pix[y*b.Stride : y*b.Stride+4*w]
		for x := 0; x < len(ra); x += 4 {
			for c := x; c < x+3; c++ {
				d := float64(ra[c]) - float64(rb[c])
				se += d * d
			}
		}
	}
	if se == 0 {
		return maxPSNR, nil
	}
	mse := se / float64(3*w*h)
	return math.Min(maxPSNR, 10*math.Log10(255*255/mse)), nil
}

// shareLabels are the 10% buckets of Liu et al.'s irregular-mask sets.
var shareLabels = []string{"0–10%", "10–20%", "20–30%", "30–40%", "40–50%", "50–60%", "60–70%", "70–80%", "80–90%", "90–100%"}

// decile is the 10% bucket of a share in [0, 1] (1 falls in the last), as
// the manifest's mask_ratio_decile counts it.
func decile(v float32) int { return min(max(int(v*10), 0), 9) }

// kindShares adds a gate per configured kind (drawn uniformly) and a hard
// gate for rows of kinds the config does not list.
func kindShares(d *Dataset, what string, kinds []string, counts map[string]int64, rows int64) {
	allowed := map[string]bool{}
	for _, k := range kinds {
		allowed[k] = true
	}
	var parts []string
	for _, k := range kinds {
		parts = append(parts, fmt.Sprintf("%s %.3f", k, share(counts[k], rows)))
		d.metric(strings.ReplaceAll(what, " ", "_")+"_share/"+k, share(counts[k], rows))
		d.gate(shareGate(fmt.Sprintf("%s share: %s", what, k), counts[k], rows, 1/float64(len(kinds)), 0, "kinds are drawn uniformly"))
	}
	var other examples
	for _, k := range sortedKeys(counts) {
		if !allowed[k] {
			other.n += counts[k] - 1
			other.add("%s (%d rows)", k, counts[k])
		}
	}
	d.fact(what+" shares", "%s", strings.Join(parts, ", "))
	d.gate(zeroGate(what+" in config", other.n, rows, "every row's "+what+" is one of "+strings.Join(kinds, ", "), other.list))
}

func share(n, of int64) float64 {
	if of == 0 {
		return 0
	}
	return float64(n) / float64(of)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func counted(m map[string]int64, prefix string) map[string]int64 {
	out := map[string]int64{}
	for k, v := range m {
		out[prefix+k] = v
	}
	return out
}

// colorize measures the colorize task: grayscale sources, the ab bins
// (histogram, entropy) and near-neutral targets.
func colorize(ctx context.Context, in *inspector, d *Dataset, m *sinks.Manifest, src *source, cfg vision.ColorizeConfig) error {
	img := newImageRows()
	bins := make([]int64, vision.NumABBins())
	var gray, neutralRows, neutralBlocks, blocks int64
	var bad examples
	sample := newSampler(in.opts.Sample, func(r sinks.ColorizeRow) sinks.ColorizeRow {
		r.Input, r.Target, r.TargetAB, r.ABBins = cloneBytes(r.Input), cloneBytes(r.Target), nil, nil
		return r
	})
	err := scan(ctx, src, imageBatch, func(rows []sinks.ColorizeRow) {
		for _, r := range rows {
			img.add(r.Key, r.Variant, r.Width, r.Height, r.Encoding, r.Input, r.Target)
			sample.offer(keyHash(r.Key, r.Variant), r)
			if r.SourceIsGray {
				gray++
			}
			n := int(r.ABHeight) * int(r.ABWidth)
			switch {
			case r.ABStride != int32(cfg.ABStride):
				bad.add("%s: ab_stride %d, config %d", r.Key, r.ABStride, cfg.ABStride)
				continue
			case int(r.ABHeight) != int(r.Height)/cfg.ABStride || int(r.ABWidth) != int(r.Width)/cfg.ABStride:
				bad.add("%s: ab grid %d×%d for a %d×%d image", r.Key, r.ABWidth, r.ABHeight, r.Width, r.Height)
				continue
			case len(r.ABBins) != n || len(r.TargetAB) != 2*n:
				bad.add("%s: %d bins and %d ab values for %d blocks", r.Key, len(r.ABBins), len(r.TargetAB), n)
				continue
			}
			var chroma float64
			for i, b := range r.ABBins {
				if int(b) < 0 || int(b) >= len(bins) {
					bad.add("%s: ab bin %d out of range", r.Key, b)
					break
				}
				bins[b]++
				a, bb := float64(r.TargetAB[2*i]), float64(r.TargetAB[2*i+1])
				c := math.Hypot(a, bb)
				chroma += c
				if c < neutralChroma {
					neutralBlocks++
				}
			}
			blocks += int64(n)
			if n > 0 && chroma/float64(n) < neutralChroma {
				neutralRows++
			}
		}
	})
	if err != nil {
		return err
	}
	rows := img.rows
	img.report(d, in.opts.Thresholds)
	d.fact("grayscale sources", "%.4f (%d of %d rows, mean chroma < gray_chroma %.3g)", share(gray, rows), gray, rows, cfg.GrayChroma)
	d.metric("gray_share", share(gray, rows))
	var entropy float64
	for _, n := range bins {
		if n > 0 {
			p := float64(n) / float64(blocks)
			entropy -= p * math.Log2(p)
		}
	}
	used := 0
	for _, n := range bins {
		if n > 0 {
			used++
		}
	}
	d.fact("ab bins", "%d of %d used, entropy %.3f bits (uniform: %.3f)", used, len(bins), entropy, math.Log2(float64(len(bins))))
	d.metric("ab_entropy_bits", entropy)
	d.fact("near-neutral", "%.4f of blocks, %.4f of targets (chroma < %g: the ab bin around a = b = 0)", share(neutralBlocks, blocks), share(neutralRows, rows), neutralChroma)
	d.metric("near_neutral_block_share", share(neutralBlocks, blocks))
	d.metric("near_neutral_target_share", share(neutralRows, rows))
	labels := make([]string, len(bins))
	for i, ab := range vision.ABBins {
		labels[i] = fmt.Sprintf("%d (a %d, b %d)", i, ab[0], ab[1])
	}
	d.hist(Histogram{Title: "ab bins (blocks)", Labels: labels, Counts: bins})
	d.gate(zeroGate("ab targets", bad.n, rows, fmt.Sprintf("ab_stride %d, an ab grid of height/stride × width/stride, one in-gamut bin and an a,b pair per block", cfg.ABStride), bad.list))
	if th := in.opts.Thresholds; th != nil && th.MaxGrayShare != nil {
		d.gate(maxGate("grayscale share", share(gray, rows), *th.MaxGrayShare, fmt.Sprintf("%.4f (%d of %d)", share(gray, rows), gray, rows)))
	}
	if n, ok := m.InfoInt("ab_bins"); ok && n != int64(len(bins)) {
		d.Problems = append(d.Problems, fmt.Sprintf("manifest: info.ab_bins %d, this binary has %d bins", n, len(bins)))
	}
	statsGate(d, m, map[string]int64{"source_is_gray": gray}, src.complete(m))
	for _, r := range sample.rows() {
		d.SampleKeys = append(d.SampleKeys, r.Key)
		caption := fmt.Sprintf("%s v%d", r.Key, r.Variant)
		if r.SourceIsGray {
			caption += " | grayscale source"
		}
		d.sheet = append(d.sheet, render.SheetRow{Caption: caption, Panels: []render.Panel{
			{Label: "input (L*)", Image: picture(r.Input, r.Encoding, r.Width, r.Height)},
			{Label: "target", Image: picture(r.Target, r.Encoding, r.Width, r.Height)},
		}})
	}
	return nil
}

// neutralChroma is half of Zhang et al.'s bin spacing: a block whose mean
// a,b lies this close to gray falls in the neutral bin.
const neutralChroma = 5.0

// picture decodes an image column for a contact sheet; one that does not
// decode is drawn as an empty (grey) panel.
func picture(data []byte, enc string, w, h int32) image.Image {
	img, err := decodeImage(data, enc, int(w), int(h))
	if err != nil {
		return nil
	}
	return img
}

// levelRange is the configured range of a denoise kind's level.
func levelRange(cfg vision.DenoiseConfig, kind string) ([2]float64, bool) {
	switch kind {
	case "gaussian":
		return cfg.GaussianSigma, true
	case "salt_pepper":
		return cfg.SaltPepperAmount, true
	case "poisson":
		return cfg.PoissonPeak, true
	case "speckle":
		return cfg.SpeckleSigma, true
	case "masking":
		return cfg.MaskingFraction, true
	}
	return [2]float64{}, false
}

// psnrBuckets are 5 dB buckets of the PSNR histograms.
var psnrLabels = []string{"<10", "10–15", "15–20", "20–25", "25–30", "30–35", "35–40", "40–45", "45–50", "≥50"}

func psnrBucket(v float64) int { return min(max(int(v/5)-1, 0), len(psnrLabels)-1) }

// denoise measures the denoise task: kind shares, each kind's level inside
// its configured range, level histograms and the PSNR of input vs target.
func denoise(ctx context.Context, in *inspector, d *Dataset, m *sinks.Manifest, src *source, cfg vision.DenoiseConfig) error {
	img := newImageRows()
	type kindStats struct {
		levels, psnrs []int64
		psnrSum       float64
		psnrN         int64
	}
	kinds := map[string]*kindStats{}
	counts := map[string]int64{}
	var outside, undecodable examples
	sample := newSampler(in.opts.Sample, func(r sinks.DenoiseRow) sinks.DenoiseRow {
		r.Input, r.Target = cloneBytes(r.Input), cloneBytes(r.Target)
		return r
	})
	err := scan(ctx, src, imageBatch, func(rows []sinks.DenoiseRow) {
		for _, r := range rows {
			img.add(r.Key, r.Variant, r.Width, r.Height, r.Encoding, r.Input, r.Target)
			sample.offer(keyHash(r.Key, r.Variant), r)
			counts[r.Noise]++
			ks := kinds[r.Noise]
			if ks == nil {
				ks = &kindStats{levels: make([]int64, 10), psnrs: make([]int64, len(psnrLabels))}
				kinds[r.Noise] = ks
			}
			if rg, ok := levelRange(cfg, r.Noise); ok {
				lv := float64(r.NoiseLevel)
				if !within(lv, rg[0], rg[1]) || math.IsNaN(lv) {
					outside.add("%s/%d: %s level %g outside [%g, %g]", r.Key, r.Variant, r.Noise, lv, rg[0], rg[1])
				}
				b := 0
				if rg[1] > rg[0] {
					b = int((lv - rg[0]) / (rg[1] - rg[0]) * 10)
				}
				ks.levels[min(max(b, 0), 9)]++
			}
			a, err1 := decodeImage(r.Input, r.Encoding, int(r.Width), int(r.Height))
			t, err2 := decodeImage(r.Target, r.Encoding, int(r.Width), int(r.Height))
			if err1 != nil || err2 != nil {
				undecodable.add("%s/%d", r.Key, r.Variant)
				continue
			}
			p, err := psnr(a, t)
			if err != nil {
				undecodable.add("%s/%d: %v", r.Key, r.Variant, err)
				continue
			}
			ks.psnrSum += p
			ks.psnrN++
			ks.psnrs[psnrBucket(p)]++
		}
	})
	if err != nil {
		return err
	}
	rows := img.rows
	img.report(d, in.opts.Thresholds)
	kindShares(d, "noise", cfg.Kinds, counts, rows)
	var psnrParts []string
	for _, k := range cfg.Kinds {
		ks := kinds[k]
		if ks == nil {
			continue
		}
		rg, _ := levelRange(cfg, k)
		labels := make([]string, 10)
		for i := range labels {
			labels[i] = fmt.Sprintf("%.3g–%.3g", rg[0]+float64(i)*(rg[1]-rg[0])/10, rg[0]+float64(i+1)*(rg[1]-rg[0])/10)
		}
		d.hist(Histogram{Title: fmt.Sprintf("%s level (%s rows)", k, levelUnit(k)), Labels: labels, Counts: ks.levels})
		if ks.psnrN > 0 {
			mean := ks.psnrSum / float64(ks.psnrN)
			psnrParts = append(psnrParts, fmt.Sprintf("%s %.1f", k, mean))
			d.metric("psnr_db/"+k, mean)
			d.hist(Histogram{Title: fmt.Sprintf("PSNR input vs target, %s (dB)", k), Labels: psnrLabels, Counts: ks.psnrs})
		}
	}
	d.fact("mean PSNR (dB)", "%s", strings.Join(psnrParts, ", "))
	var ranges []string
	for _, k := range cfg.Kinds {
		rg, _ := levelRange(cfg, k)
		ranges = append(ranges, fmt.Sprintf("%s [%g, %g]", k, rg[0], rg[1]))
	}
	d.gate(zeroGate("noise level in range", outside.n, rows, strings.Join(ranges, ", "), outside.list))
	d.gate(zeroGate("input and target decode", undecodable.n, rows, "both decode to the same size (for the PSNR)", undecodable.list))
	statsGate(d, m, counted(counts, "noise/"), src.complete(m), "noise/")
	for _, r := range sample.rows() {
		d.SampleKeys = append(d.SampleKeys, r.Key)
		d.sheet = append(d.sheet, render.SheetRow{
			Caption: fmt.Sprintf("%s v%d | %s %.3g", r.Key, r.Variant, r.Noise, r.NoiseLevel),
			Panels: []render.Panel{
				{Label: "input (noisy)", Image: picture(r.Input, r.Encoding, r.Width, r.Height)},
				{Label: "target", Image: picture(r.Target, r.Encoding, r.Width, r.Height)},
			},
		})
	}
	return nil
}

func levelUnit(kind string) string {
	switch kind {
	case "gaussian":
		return "σ of 255"
	case "speckle":
		return "multiplicative σ"
	case "poisson":
		return "peak photons"
	}
	return "share of pixels"
}

// inpaint measures the inpaint task: kind shares, the realised hole share of
// each mask (from the mask itself) against the row's mask_ratio and the
// config: random_blocks and irregular inside mask_ratio, center and patches
// exactly as their sizes make them.
func inpaint(ctx context.Context, in *inspector, d *Dataset, m *sinks.Manifest, src *source, cfg vision.InpaintConfig) error {
	img := newImageRows()
	counts := map[string]int64{}
	hists := map[string][]int64{}
	deciles := map[string]int64{}
	var outside, mismatch, undecodable examples
	sample := newSampler(in.opts.Sample, func(r sinks.InpaintRow) sinks.InpaintRow {
		r.Input, r.Target, r.Mask = cloneBytes(r.Input), cloneBytes(r.Target), cloneBytes(r.Mask)
		return r
	})
	err := scan(ctx, src, imageBatch, func(rows []sinks.InpaintRow) {
		for _, r := range rows {
			img.add(r.Key, r.Variant, r.Width, r.Height, r.Encoding, r.Input, r.Target, r.Mask)
			sample.offer(keyHash(r.Key, r.Variant), r)
			counts[r.MaskKind]++
			deciles[fmt.Sprintf("mask_ratio_decile/%d", decile(r.MaskRatio))]++
			w, h := int(r.Width), int(r.Height)
			mask, err := decodeImage(r.Mask, r.Encoding, w, h)
			if err != nil {
				undecodable.add("%s/%d: %v", r.Key, r.Variant, err)
				continue
			}
			var holes int
			for i := 0; i < w*h; i++ {
				if mask.Pix[4*i] > 127 {
					holes++
				}
			}
			realised := float64(holes) / float64(w*h)
			if hists[r.MaskKind] == nil {
				hists[r.MaskKind] = make([]int64, 10)
			}
			hists[r.MaskKind][decile(float32(realised))]++
			tol := 1e-6
			if r.Encoding == "jpeg" {
				tol = 0.02 // a lossy mask blurs the edges of the holes
			}
			if math.Abs(realised-float64(r.MaskRatio)) > tol {
				mismatch.add("%s/%d: mask has %.4f holes, mask_ratio says %.4f", r.Key, r.Variant, realised, r.MaskRatio)
			}
			lo, hi, ok := ratioRange(cfg, r.MaskKind, w, h)
			if ok && !within(float64(r.MaskRatio), lo, hi) {
				outside.add("%s/%d: %s ratio %.4f outside [%.4f, %.4f]", r.Key, r.Variant, r.MaskKind, r.MaskRatio, lo, hi)
			}
		}
	})
	if err != nil {
		return err
	}
	rows := img.rows
	img.report(d, in.opts.Thresholds)
	kindShares(d, "mask kind", cfg.Kinds, counts, rows)
	for _, k := range cfg.Kinds {
		if hists[k] != nil {
			d.hist(Histogram{Title: fmt.Sprintf("realised hole share, %s (rows)", k), Labels: shareLabels, Counts: hists[k]})
		}
	}
	d.gate(zeroGate("hole share in range", outside.n, rows, fmt.Sprintf("random_blocks and irregular in mask_ratio [%g, %g]; center and patches exactly as center_size %g and patch_size %d × patch_ratio %g make them", cfg.MaskRatio[0], cfg.MaskRatio[1], cfg.CenterSize, cfg.PatchSize, cfg.PatchRatio), outside.list))
	d.gate(zeroGate("mask matches mask_ratio", mismatch.n+undecodable.n, rows, "the mask decodes and its share of holes is the row's mask_ratio", append(mismatch.list, undecodable.list...)))
	statsGate(d, m, mergeCounts(counted(counts, "mask_kind/"), deciles), src.complete(m), "mask_kind/", "mask_ratio_decile/")
	for _, r := range sample.rows() {
		d.SampleKeys = append(d.SampleKeys, r.Key)
		d.sheet = append(d.sheet, render.SheetRow{
			Caption: fmt.Sprintf("%s v%d | %s %.1f%%", r.Key, r.Variant, r.MaskKind, 100*r.MaskRatio),
			Panels: []render.Panel{
				{Label: "input", Image: picture(r.Input, r.Encoding, r.Width, r.Height)},
				{Label: "mask", Image: picture(r.Mask, r.Encoding, r.Width, r.Height)},
				{Label: "target", Image: picture(r.Target, r.Encoding, r.Width, r.Height)},
			},
		})
	}
	return nil
}

// ratioRange is the hole share a mask of kind may have on a w×h image
// (vision.Inpaint's rules); ok is false for an unknown kind.
func ratioRange(cfg vision.InpaintConfig, kind string, w, h int) (lo, hi float64, ok bool) {
	n := w * h
	if n == 0 {
		return 0, 0, false
	}
	switch kind {
	case "random_blocks", "irregular":
		lo, hi = wholeRange(cfg.MaskRatio, n)
		return lo, hi, true
	case "center":
		cw := min(w, max(1, int(math.Round(cfg.CenterSize*float64(w)))))
		ch := min(h, max(1, int(math.Round(cfg.CenterSize*float64(h)))))
		r := float64(float32(float64(cw*ch) / float64(n)))
		return r, r, true
	case "patches":
		size := max(cfg.PatchSize, 1)
		k := int(math.Round(cfg.PatchRatio * float64((w/size)*(h/size))))
		r := float64(float32(float64(k*size*size) / float64(n)))
		return r, r, true
	}
	return 0, 0, false
}

func mergeCounts(a, b map[string]int64) map[string]int64 {
	for k, v := range b {
		a[k] = v
	}
	return a
}

// imageBatch is the number of image rows decoded at a time: a few, since a
// row holds whole encoded images (parquet-go also buffers the batch's values).
const imageBatch = 8
