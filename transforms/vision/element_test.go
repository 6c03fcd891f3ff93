package vision

import (
	"encoding/json"
	"testing"

	"github.com/pretext-dev/pretext/transforms"
)

// BenchmarkElement is the pipeline's work for one input without Beam and
// the sink: decode a committed 400×400 photo, centre-crop it to 256 px
// (Prepare, as the label stage does), label it for a task and encode the
// rows (PNG best_speed, the default).
// Its allocations per op are allocations per element.
func BenchmarkElement(b *testing.B) {
	data := readFixture(b, "astronaut.jpg")
	specs := map[string]any{
		"colorize": DefaultColorizeConfig(),
		"denoise":  DefaultDenoiseConfig(),
		"inpaint":  DefaultInpaintConfig(),
	}
	for _, task := range []string{"colorize", "denoise", "inpaint"} {
		b.Run(task, func(b *testing.B) {
			js, _ := json.Marshal(specs[task])
			l, err := NewLabelers([]TaskSpec{{Name: task, Config: js}})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				ex, stage, reason, detail := Prepare("k", "astronaut.jpg", data, DefaultOptions(), transforms.DefaultSplit())
				if ex == nil {
					b.Fatalf("%s/%s: %s", stage, reason, detail)
				}
				if _, err := l.Label(1, ex); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
