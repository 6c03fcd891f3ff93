package model

import (
	"math"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"

	"github.com/pretext-dev/pretext/trainer/backend"
)

func TestBERTValidate(t *testing.T) {
	if err := DefaultBERT().Validate(); err != nil {
		t.Fatal(err)
	}
	err := BERT{Layers: 0, Width: 10, Heads: 4, MaxPositions: 1}.Validate()
	for _, want := range []string{"layers", "width", "max_positions"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want it to name %s", err, want)
		}
	}
}

// TestPretrainLoss: the MLM term is the weighted mean of −log p(target)
// (padding weighted 0 is ignored) and the NSP term softplus(z) − y·z.
func TestPretrainLoss(t *testing.T) {
	b, _, err := backend.New("go")
	if err != nil {
		t.Fatal(err)
	}
	const V = 3
	logits := []float32{1, 2, 3, 0, 0, 5, 4, 4, 4}
	// Row 0 targets id 2, row 1 id 0, row 2 is padding (weight 0).
	target := []int32{0*V + 2, 1*V + 0, 2*V + 1}
	w := []float32{1, 1, 0}
	z, y := []float32{0, 2}, []float32{1, 0}
	got := graph.MustExecOnce(b, func(l, tg, w, z, y *graph.Node) *graph.Node {
		return PretrainLoss([]*graph.Node{tg, w, y}, []*graph.Node{l, z})
	}, tensors.FromFlatDataAndDimensions(logits, 3, V), tensors.FromFlatDataAndDimensions(target, 3),
		tensors.FromFlatDataAndDimensions(w, 3), tensors.FromFlatDataAndDimensions(z, 2), tensors.FromFlatDataAndDimensions(y, 2))
	mlm := -(3 - math.Log(math.Exp(1)+math.Exp(2)+math.Exp(3))) - (0 - math.Log(2+math.Exp(5)))
	nsp := (math.Log(2) + math.Log(1+math.Exp(2))) / 2
	want := mlm/(2+1e-5) + nsp
	if v := float64(got.Value().(float32)); math.Abs(v-want) > 1e-5 {
		t.Errorf("loss = %v, want %v (mlm %v + nsp %v)", v, want, mlm, nsp)
	}
}
