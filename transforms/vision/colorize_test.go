package vision

import (
	"fmt"
	"image"
	"math"
	"strings"
	"testing"
)

func TestColorizeRed(t *testing.T) {
	lab := Colorize(uniform(10, 9, 255, 0, 0), DefaultColorizeConfig())
	if lab.Input.Rect.Dx() != 10 || lab.Input.Rect.Dy() != 9 {
		t.Fatalf("input %v", lab.Input.Rect)
	}
	if lab.ABWidth != 2 || lab.ABHeight != 2 || len(lab.TargetAB) != 2*2*2 || len(lab.ABBins) != 4 {
		t.Fatalf("ab %dx%d, %d values, %d bins", lab.ABHeight, lab.ABWidth, len(lab.TargetAB), len(lab.ABBins))
	}
	// sRGB red is L*a*b* (53.24, 80.09, 67.20).
	for k := 0; k < 4; k++ {
		if a, b := lab.TargetAB[2*k], lab.TargetAB[2*k+1]; a != 80 || b != 67 {
			t.Errorf("block %d ab = (%d, %d), want (80, 67)", k, a, b)
		}
		if got := ABBins[lab.ABBins[k]]; got != [2]int8{80, 70} {
			t.Errorf("block %d bin = %v, want (80, 70)", k, got)
		}
	}
	if v := lab.Input.Pix[0]; v != 136 { // round(53.24·2.55)
		t.Errorf("L = %d, want 136", v)
	}
	if lab.SourceIsGray {
		t.Error("red flagged as gray")
	}
}

func TestColorizeBlocksAreMeans(t *testing.T) {
	// Stride 2: a block of two red and two green pixels averages their ab.
	img := uniform(4, 2, 255, 0, 0)
	for _, x := range []int{1, 3} {
		for y := 0; y < 2; y++ {
			i := img.PixOffset(x, y)
			img.Pix[i], img.Pix[i+1] = 0, 255
		}
	}
	cfg := DefaultColorizeConfig()
	cfg.ABStride = 2
	lab := Colorize(img, cfg)
	_, ra, rb := RGBToLab(255, 0, 0)
	_, ga, gb := RGBToLab(0, 255, 0)
	wa, wb := clampInt8((ra+ga)/2), clampInt8((rb+gb)/2)
	if lab.ABWidth != 2 || lab.ABHeight != 1 {
		t.Fatalf("ab %dx%d", lab.ABHeight, lab.ABWidth)
	}
	for k := 0; k < 2; k++ {
		if lab.TargetAB[2*k] != wa || lab.TargetAB[2*k+1] != wb {
			t.Errorf("block %d = (%d, %d), want (%d, %d)", k, lab.TargetAB[2*k], lab.TargetAB[2*k+1], wa, wb)
		}
		if lab.ABBins[k] != NearestABBin((ra+ga)/2, (rb+gb)/2) {
			t.Errorf("block %d bin %d", k, lab.ABBins[k])
		}
	}
}

func TestColorizeGray(t *testing.T) {
	for _, tc := range []struct {
		name string
		lab  ColorizeLabel
		gray bool
	}{
		{"uniform gray", Colorize(uniform(8, 8, 100, 100, 100), DefaultColorizeConfig()), true},
		{"camera.png", Colorize(photo(t, "gray/camera.png"), DefaultColorizeConfig()), true},
		{"chelsea.jpg", Colorize(photo(t, "chelsea.jpg"), DefaultColorizeConfig()), false},
		{"rocket.jpg", Colorize(photo(t, "photos/rocket.jpg"), DefaultColorizeConfig()), false},
		{"retina.png", Colorize(photo(t, "formats/retina.png"), DefaultColorizeConfig()), false},
	} {
		if tc.lab.SourceIsGray != tc.gray {
			t.Errorf("%s: SourceIsGray = %v, want %v", tc.name, tc.lab.SourceIsGray, tc.gray)
		}
	}
	lab := Colorize(uniform(8, 8, 100, 100, 100), DefaultColorizeConfig())
	for _, v := range lab.TargetAB {
		if v != 0 {
			t.Fatalf("gray ab %v", lab.TargetAB)
		}
	}
}

// TestGrayChromaDefault measures the mean chroma the default threshold
// separates: gray photos (also stored as colour JPEG) below 1, colour
// photos above 5.
func TestGrayChromaDefault(t *testing.T) {
	meanChroma := func(img *image.NRGBA) float64 {
		var sum float64
		for i := 0; i < len(img.Pix); i += 4 {
			_, a, b := RGBToLab(img.Pix[i], img.Pix[i+1], img.Pix[i+2])
			sum += math.Hypot(a, b)
		}
		return sum / float64(len(img.Pix)/4)
	}
	camera := photo(t, "gray/camera.png")
	asJPEG, err := Encode(camera, Encoding{Format: "jpeg", JPEGQuality: 75}) // RGB JPEG of a gray photo
	if err != nil {
		t.Fatal(err)
	}
	cameraJPEG, _, err := Decode(asJPEG, DecodeLimits{})
	if err != nil {
		t.Fatal(err)
	}
	grays := map[string]*image.NRGBA{"gray/camera.png": camera, "gray/camera.png as RGB JPEG": cameraJPEG}
	for name, img := range grays {
		if c := meanChroma(img); c >= 1 {
			t.Errorf("%s: mean chroma %.2f >= 1", name, c)
		}
	}
	for _, name := range []string{"astronaut.jpg", "chelsea.jpg", "coffee.jpg", "photos/rocket.jpg", "photos/china.jpg", "photos/flower.jpg", "formats/retina.png", "formats/astronaut.gif"} {
		c := meanChroma(photo(t, name))
		t.Logf("%-22s mean chroma %5.1f", name, c)
		if c <= 5 {
			t.Errorf("%s: mean chroma %.2f <= 5", name, c)
		}
	}
}

func TestColorizeConfigValidate(t *testing.T) {
	if err := DefaultColorizeConfig().Validate("tasks.colorize"); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	err := ColorizeConfig{Variants: 0, ABStride: 0, GrayChroma: -1}.Validate("tasks.colorize")
	for _, want := range []string{
		"tasks.colorize.variants: must be >= 1 (got 0)",
		"tasks.colorize.ab_stride: must be >= 1 (got 0)",
		"tasks.colorize.gray_chroma: must be in [0, 200] (got -1)",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not say %q", err, want)
		}
	}
}

func ExampleColorize() {
	lab := Colorize(uniform(8, 4, 255, 0, 0), ColorizeConfig{Variants: 1, ABStride: 4, GrayChroma: 2})
	fmt.Println(lab.ABHeight, lab.ABWidth, lab.TargetAB, ABBins[lab.ABBins[0]], lab.SourceIsGray)
	// Output: 1 2 [80 67 80 67] [80 70] false
}

func BenchmarkColorize(b *testing.B) {
	img := photo256(b)
	cfg := DefaultColorizeConfig()
	b.ReportAllocs()
	for b.Loop() {
		Colorize(img, cfg)
	}
}
