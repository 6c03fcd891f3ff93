package inspect

import (
	"context"
	"fmt"
	"image"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pretext-dev/pretext/sinks"
	"github.com/pretext-dev/pretext/transforms/audio"
	"github.com/pretext-dev/pretext/transforms/av"
	"github.com/pretext-dev/pretext/transforms/text"
	"github.com/pretext-dev/pretext/transforms/vision"
)

func ExampleBound() {
	for _, n := range []int64{100, 10_000, 1_000_000} {
		fmt.Printf("p=0.15 over %d draws: ±%.4f\n", n, Bound(0.15, n))
	}
	// Output:
	// p=0.15 over 100 draws: ±0.1528
	// p=0.15 over 10000 draws: ±0.0144
	// p=0.15 over 1000000 draws: ±0.0014
}

func TestBoundShrinksWithN(t *testing.T) {
	if !math.IsInf(Bound(0.5, 0), 1) {
		t.Error("no draws must give an infinite tolerance")
	}
	prev := math.Inf(1)
	for n := int64(1); n < 1e8; n *= 10 {
		b := Bound(0.5, n)
		if !(b < prev) {
			t.Fatalf("Bound(0.5, %d) = %v, not below %v", n, b, prev)
		}
		prev = b
	}
	// The bound is the binomial standard error times Z plus one draw.
	if got, want := Bound(0.5, 100), 4*0.05+0.01; math.Abs(got-want) > 1e-12 {
		t.Errorf("Bound(0.5, 100) = %v, want %v", got, want)
	}
}

func TestShareGate(t *testing.T) {
	for _, tc := range []struct {
		hits, n int64
		p       float64
		ok      bool
	}{
		{89507, 587000, 0.15248, true},  // the committed text: rate 0.15248
		{93920, 587000, 0.15248, false}, // 20 of 125 where 19 are meant (masked_lm_prob 0.30)
		{4, 18, 0.2, true},              // 18 rows say little
		{0, 18, 0.2, true},
		{0, 1800, 0.2, false},
		{0, 0, 0.2, true}, // nothing measured
		{12, 12, 1, true},
	} {
		if g := shareGate("g", tc.hits, tc.n, tc.p, 0, ""); g.OK != tc.ok {
			t.Errorf("%d of %d against %v: OK %v (%s; %s)", tc.hits, tc.n, tc.p, g.OK, g.Measured, g.Expected)
		}
	}
	if g := shareGate("random next", 2781, 5066, 0.5, RandomNextSlack, ""); !g.OK {
		t.Errorf("random-next share 0.549 of 5066 rows failed: %s", g.Expected)
	}
	if g := shareGate("random next", 3500, 5066, 0.5, RandomNextSlack, ""); g.OK {
		t.Errorf("random-next share 0.69 passed: %s", g.Expected)
	}
}

func TestWholeRange(t *testing.T) {
	for _, tc := range []struct {
		r      [2]float64
		n      int
		lo, hi float64
	}{
		{[2]float64{0.1, 0.3}, 64, 0.1, 0.3},
		{[2]float64{0.1, 0.3}, 98, 0.1, 0.3},
		{[2]float64{0.1, 0.11}, 5, 0.2, 0.2}, // no whole count in [0.5, 0.55]: the one nearest 0.525
		{[2]float64{0, 0}, 10, 0, 0},
	} {
		if lo, hi := wholeRange(tc.r, tc.n); lo != tc.lo || hi != tc.hi {
			t.Errorf("wholeRange(%v, %d) = [%v, %v], want [%v, %v]", tc.r, tc.n, lo, hi, tc.lo, tc.hi)
		}
	}
}

// bertCount is create_masked_lm_predictions' num_to_predict.
func TestBertCount(t *testing.T) {
	bert := text.DefaultInstanceConfig()
	hot := bert
	hot.MaskedLMProb = 0.30
	for _, tc := range []struct {
		n    int
		cfg  text.InstanceConfig
		want int
	}{
		{128, bert, 19}, // round(19.2)
		{10, bert, 2},   // round(1.5) is 2, half to even
		{30, bert, 4},   // round(4.5) is 4, half to even
		{5, bert, 1},    // at least 1
		{4, bert, 1},    // at most len − 3
		{3, bert, 0},
		{128, hot, 20}, // capped by max_predictions_per_seq
		{40, hot, 12},
	} {
		if got := bertCount(tc.n, tc.cfg); got != tc.want {
			t.Errorf("bertCount(%d, prob %v) = %d, want %d", tc.n, tc.cfg.MaskedLMProb, got, tc.want)
		}
	}
}

// The sample is the n smallest key hashes, whatever the order rows come in.
func TestSamplerIndependentOfOrder(t *testing.T) {
	keys := make([]string, 500)
	for i := range keys {
		keys[i] = fmt.Sprintf("img/%04d.jpg", i)
	}
	pick := func(order []string) string {
		s := newSampler(8, func(k string) string { return k })
		for _, k := range order {
			s.offer(keyHash(k, 0), k)
		}
		return strings.Join(s.rows(), ",")
	}
	want := pick(keys)
	rng := rand.New(rand.NewPCG(1, 2))
	for range 5 {
		shuffled := append([]string(nil), keys...)
		rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		if got := pick(shuffled); got != want {
			t.Fatalf("sample of shuffled rows %s, want %s", got, want)
		}
	}
	if n := len(strings.Split(want, ",")); n != 8 {
		t.Errorf("%d rows sampled, want 8", n)
	}
	var none *sampler[string]
	none.offer(1, "x")
	if none.rows() != nil {
		t.Error("a nil sampler keeps rows")
	}
}

func TestParseThresholds(t *testing.T) {
	th, err := ParseThresholds([]byte("max_dead_letter_share: 0.05\nmax_duplicate_rate: 0.01\nmin_rows: 100\n"))
	if err != nil {
		t.Fatal(err)
	}
	if *th.MaxDeadLetterShare != 0.05 || *th.MaxDuplicateRate != 0.01 || *th.MinRows != 100 || th.MaxUNKRate != nil {
		t.Errorf("parsed %+v", th)
	}
	for yaml, want := range map[string]string{
		"max_dead_letters: 0.1\n":                      "max_dead_letters",
		"max_unk_rate: 2\nmax_gray_share: -1\n":        "max_unk_rate: must be in [0, 1]",
		"min_rows: -3\n":                               "min_rows",
		"max_silent_share: 0.1\nmax_silent_share: 0.2": "max_silent_share",
	} {
		if _, err := ParseThresholds([]byte(yaml)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want one naming %q", yaml, err, want)
		}
	}
	if th, err := ParseThresholds(nil); err != nil || th.MaxDeadLetterShare != nil {
		t.Errorf("an empty file: %+v, %v", th, err)
	}
}

func TestPSNR(t *testing.T) {
	a := image.NewNRGBA(image.Rect(0, 0, 2, 2))
	b := image.NewNRGBA(image.Rect(0, 0, 2, 2))
	if p, err := psnr(a, b); err != nil || p != maxPSNR {
		t.Errorf("identical images: %v, %v", p, err)
	}
	b.Pix[0] = 255 // one of 12 channel values off by 255
	want := 10 * math.Log10(12)
	if p, _ := psnr(a, b); math.Abs(p-want) > 1e-9 {
		t.Errorf("psnr %v, want %v", p, want)
	}
	if _, err := psnr(a, image.NewNRGBA(image.Rect(0, 0, 3, 2))); err == nil {
		t.Error("images of different sizes compared")
	}
}

func TestDecodeRaw(t *testing.T) {
	img, err := decodeImage([]byte{1, 2, 3, 4, 5, 6}, "raw", 2, 1)
	if err != nil || img.Pix[4] != 4 || img.Pix[7] != 255 {
		t.Errorf("raw RGB: %v %v", img, err)
	}
	if _, err := decodeImage([]byte{1, 2, 3, 4, 5}, "raw", 2, 1); err == nil {
		t.Error("5 bytes decoded as a 2×1 image")
	}
	if err := checkImage([]byte("not a png"), "png", 2, 2); err == nil {
		t.Error("garbage passed as a PNG")
	}
}

func TestMLMLayout(t *testing.T) {
	const cls, sep, mask = 101, 102, 103
	good := sinks.MLMRow{
		Key: "k", InputIDs: []int32{cls, 7, mask, sep, 9, sep}, SegmentIDs: []int32{0, 0, 0, 0, 1, 1},
		MaskedLMPositions: []int32{2}, MaskedLMIDs: []int32{8}, NumTokens: 6,
	}
	if msg := mlmLayout(good, cls, sep, 128); msg != "" {
		t.Fatalf("a good row: %s", msg)
	}
	for name, edit := range map[string]func(*sinks.MLMRow){
		"too long":          func(r *sinks.MLMRow) { r.NumTokens = 6 },
		"segments":          func(r *sinks.MLMRow) { r.SegmentIDs = []int32{0, 1, 0, 0, 1, 1} },
		"num_tokens":        func(r *sinks.MLMRow) { r.NumTokens = 5 },
		"no [CLS]":          func(r *sinks.MLMRow) { r.InputIDs = []int32{7, 7, mask, sep, 9, sep} },
		"masked [SEP]":      func(r *sinks.MLMRow) { r.MaskedLMPositions = []int32{3} },
		"masked [CLS]":      func(r *sinks.MLMRow) { r.MaskedLMPositions = []int32{0} },
		"unsorted":          func(r *sinks.MLMRow) { r.MaskedLMPositions, r.MaskedLMIDs = []int32{2, 1}, []int32{8, 7} },
		"ids and positions": func(r *sinks.MLMRow) { r.MaskedLMIDs = nil },
		"three [SEP]":       func(r *sinks.MLMRow) { r.InputIDs = []int32{cls, sep, mask, sep, 9, sep} },
	} {
		r := good
		edit(&r)
		max := 128
		if name == "too long" {
			max = 5
		}
		if msg := mlmLayout(r, cls, sep, max); msg == "" {
			t.Errorf("%s: not caught", name)
		}
	}
}

// Every task of this binary measures its labels through the registry, and
// registerTask refuses what would only fail in a run: an unknown task, a
// measure of another task's config, a second registration.
func TestTaskStatisticsRegistered(t *testing.T) {
	for _, name := range []string{vision.TaskColorize, vision.TaskDenoise, vision.TaskInpaint, text.TaskMLMNSP, audio.TaskMask, av.TaskCorrespond} {
		if measures[name] == nil {
			t.Errorf("task %s has no statistics registered", name)
		}
	}
	panics := func(what, want string, register func()) {
		t.Helper()
		defer func() {
			if msg, _ := recover().(string); !strings.Contains(msg, want) {
				t.Errorf("%s: registerTask panicked with %q, want %q", what, msg, want)
			}
		}()
		register()
	}
	panics("unknown task", "not a registered task", func() { registerTask("no_such_task", colorize) })
	panics("another task's config", "measure a *vision.ColorizeConfig, the task's config is a *vision.DenoiseConfig", func() { registerTask(vision.TaskDenoise, colorize) })
	panics("twice", "registered twice", func() { registerTask(vision.TaskColorize, colorize) })

	d := &Dataset{Metrics: map[string]float64{}}
	if err := measureTask(context.Background(), &inspector{}, d, &sinks.Manifest{Task: "no_such_task"}, nil, nil); err != nil || len(d.Notes) != 1 || !strings.Contains(d.Notes[0], "no statistics for task no_such_task") {
		t.Errorf("a task without statistics: err %v, notes %q", err, d.Notes)
	}
	cfg := vision.DefaultDenoiseConfig()
	if err := measureTask(context.Background(), &inspector{}, d, &sinks.Manifest{Task: vision.TaskColorize}, nil, &cfg); err == nil || !strings.Contains(err.Error(), "*vision.DenoiseConfig") {
		t.Errorf("colorize measured with a denoise config: err %v", err)
	}
}

// The vocab is read by text.LoadVocab and used only when its sha256 is the
// manifest's; each reason not to use it names the vocab.
func TestVocabFor(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join("..", "testdata", "wordpiece", "vocab-bert-base-uncased.txt")
	_, sha, err := text.LoadVocab(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	in := &inspector{opts: Options{VocabPath: path}}
	for _, want := range []string{"", sha} {
		if v, why := in.vocabFor(ctx, want); v == nil || why != "" {
			t.Errorf("vocab_sha256 %q: no vocab (%s)", want, why)
		}
	}
	if v, why := in.vocabFor(ctx, strings.Repeat("0", 64)); v != nil || !strings.Contains(why, path) || !strings.Contains(why, "the dataset was made with 000000000000") {
		t.Errorf("another vocab_sha256: vocab %v, reason %q", v != nil, why)
	}
	missing := filepath.Join(t.TempDir(), "vocab.txt")
	in.opts.VocabPath = missing
	if v, why := in.vocabFor(ctx, sha); v != nil || !strings.HasPrefix(why, "vocab "+missing+": ") {
		t.Errorf("a missing vocab: vocab %v, reason %q", v != nil, why)
	}
	if v, why := (&inspector{}).vocabFor(ctx, sha); v != nil || why != "no vocab given" {
		t.Errorf("no vocab: vocab %v, reason %q", v != nil, why)
	}
}
