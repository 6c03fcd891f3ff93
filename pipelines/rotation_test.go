package pipelines

import (
	"path/filepath"
	"testing"

	"github.com/pretext-dev/pretext/configs"
	"github.com/pretext-dev/pretext/transforms/vision"
)

// The rotation task runs in the image pipeline with no pipeline code of its
// own: configs/rotation.yaml (all_rotations) gives every labelled image its
// four rotations, each input its target turned k times; drawn k gives
// variants rows per image.
func TestRotationPipeline(t *testing.T) {
	cfg, err := configs.Load(filepath.Join(repo, "configs", "rotation.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Input = filepath.Join(repo, "testdata", "images") + "/**"
	cfg.Output = t.TempDir()
	ms := runVision(t, "prism", cfg)
	m := ms[vision.TaskRotation]
	if m == nil || m.Labeled < 5 || m.Rows != 4*m.Labeled {
		t.Fatalf("manifest %+v: want 4 rows per labelled image", m)
	}
	rows := readRows[vision.RotationRow](t, filepath.Join(cfg.Output, vision.TaskRotation), m)
	seen := map[string][4]int{}
	for _, r := range rows {
		if r.Rotation != r.Variant {
			t.Errorf("%s/%d: rotation %d, want k = variant", r.Key, r.Variant, r.Rotation)
		}
		s := seen[r.Key]
		s[r.Rotation]++
		seen[r.Key] = s
		target, _, err1 := vision.Decode(r.Target, vision.DecodeLimits{MaxPixels: 1 << 24})
		input, _, err2 := vision.Decode(r.Input, vision.DecodeLimits{MaxPixels: 1 << 24})
		if err1 != nil || err2 != nil {
			t.Fatalf("%s/%d: %v %v", r.Key, r.Variant, err1, err2)
		}
		if b := target.Bounds(); int32(b.Dx()) != r.Width || int32(b.Dy()) != r.Height {
			t.Errorf("%s/%d: target %v, columns %d×%d", r.Key, r.Variant, b, r.Width, r.Height)
		}
		if string(vision.Rotate(target, int(r.Rotation)).Pix) != string(input.Pix) {
			t.Errorf("%s/%d: input is not the target turned %d times", r.Key, r.Variant, r.Rotation)
		}
	}
	for key, s := range seen {
		if s != [4]int{1, 1, 1, 1} {
			t.Errorf("%s: rotations %v, want each of 0..3 once", key, s)
		}
	}

	// Drawn k: variants rows per image, k from the row's generator.
	cfg2, err := configs.Parse([]byte("seed: 7\nmodality: image\ninput: x\noutput: y\nimage: {encoding: png}\ntasks:\n  rotation:\n    variants: 3\n"))
	if err != nil {
		t.Fatal(err)
	}
	cfg2.Input, cfg2.Output = cfg.Input, t.TempDir()
	m2 := runVision(t, "prism", cfg2)[vision.TaskRotation]
	if m2.Rows != 3*m2.Labeled {
		t.Fatalf("variants 3: %d rows for %d images", m2.Rows, m2.Labeled)
	}
	var ks [4]int64
	for k := range ks {
		ks[k] = m2.Stats["rotation/"+string(rune('0'+k))]
	}
	if ks[0]+ks[1]+ks[2]+ks[3] != m2.Rows {
		t.Errorf("rotation/k stats %v do not add up to %d rows", ks, m2.Rows)
	}
}
