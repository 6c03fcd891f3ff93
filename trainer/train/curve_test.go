package train

import (
	"math"
	"os"
	"path/filepath"
	"testing"
)

// The accuracy column round-trips (empty for tasks without a head's
// accuracy), and a curve written before the column existed still reads.
func TestCurveAccuracyColumn(t *testing.T) {
	path := filepath.Join(t.TempDir(), LossCSV)
	in := []point{
		{Step: 1, Task: "av_correspond", Loss: 0.7, Avg: 0.7, ExamplesPerSec: 10, Elapsed: 1, Accuracy: 0.5},
		{Step: 2, Task: "denoise", Loss: 0.1, Avg: 0.1, ExamplesPerSec: 10, Elapsed: 2, Accuracy: math.NaN()},
	}
	if err := writeCurve(path, in); err != nil {
		t.Fatal(err)
	}
	out, err := readCurve(path, 2)
	if err != nil || len(out) != 2 {
		t.Fatalf("read %d points, %v", len(out), err)
	}
	if out[0].Accuracy != 0.5 || !math.IsNaN(out[1].Accuracy) {
		t.Errorf("accuracies %v, %v; want 0.5 and NaN", out[0].Accuracy, out[1].Accuracy)
	}
	old := "step,task,loss,avg_loss,examples_per_s,elapsed_s\n1,denoise,0.2,0.2,5,1\n2,denoise,0.1,0.15,5,2\n"
	if err := os.WriteFile(path, []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = readCurve(path, 2)
	if err != nil || len(out) != 2 || out[1].Avg != 0.15 || !math.IsNaN(out[1].Accuracy) {
		t.Errorf("six-column curve: %+v, %v", out, err)
	}
}
