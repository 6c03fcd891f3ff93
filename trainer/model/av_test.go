package model

import (
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/train"
	"github.com/gomlx/gomlx/pkg/ml/train/optimizers"

	"github.com/pretext-dev/pretext/trainer/backend"
)

func TestAVValidate(t *testing.T) {
	if err := DefaultAV().Validate(); err != nil {
		t.Fatal(err)
	}
	err := AV{Frame: Conv{Channels: []int{8, 0}, InChannels: 2, Size: 31}, Audio: []int{4, -1}}.Validate()
	for _, want := range []string{"frame.channels[1]", "frame.in_channels", "frame.size", "audio_channels[1]", "hidden"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want it to name %s", err, want)
		}
	}
	if err := (AV{Frame: DefaultConv(), Hidden: 4}).Validate(); err == nil || !strings.Contains(err.Error(), "audio_channels") {
		t.Errorf("no audio layers: err = %v", err)
	}
}

// TestAVShapes: one logit per row; the frame tower's variables are Conv's
// encoder's, under /encoder, the audio tower's and the head's under their
// own scopes; the audio embedding has the size AudioEmbedding says.
func TestAVShapes(t *testing.T) {
	b, _, err := backend.New("go")
	if err != nil {
		t.Fatal(err)
	}
	a := AV{Frame: Conv{Channels: []int{4, 8}, InChannels: 3, Size: 16}, Audio: []int{4, 6}, Hidden: 5}
	ctx := context.New()
	frames := tensors.FromFlatDataAndDimensions(make([]float32, 2*16*16*3), 2, 16, 16, 3)
	mel := tensors.FromFlatDataAndDimensions(make([]float32, 2*11*13), 2, 11, 13)
	exec := context.MustNewExec(b, ctx, func(ctx *context.Context, f, m *graph.Node) []*graph.Node {
		return []*graph.Node{a.Correspond()(ctx, nil, []*graph.Node{f, m})[0], a.EncodeAudio(ctx.Reuse(), m)}
	})
	out := exec.MustExec(frames, mel)
	if got := out[0].Shape().Dimensions; len(got) != 1 || got[0] != 2 {
		t.Errorf("logits %v, want [2]", got)
	}
	if got := out[1].Shape().Dimensions; len(got) != 2 || got[1] != a.AudioEmbedding(13) || got[1] != 4*6 {
		t.Errorf("audio embedding %v, want [2 %d]", got, a.AudioEmbedding(13))
	}
	for scope, want := range map[string]int{EncoderScope: 4, AVAudioScope: 4, AVHeadScope: 4} {
		n := 0
		for range ctx.InAbsPath("/" + scope).IterVariablesInScope() {
			n++
		}
		if n != want {
			t.Errorf("%d variables under /%s, want %d", n, scope, want)
		}
	}
}

// TestCorrespondLoss: the loss is the mean binary cross-entropy.
func TestCorrespondLoss(t *testing.T) {
	b, _, err := backend.New("go")
	if err != nil {
		t.Fatal(err)
	}
	z, y := []float32{2, -1, 0.5, -3}, []float32{1, 0, 0, 1}
	got := graph.MustExecOnce(b, func(z, y *graph.Node) *graph.Node {
		return CorrespondLoss([]*graph.Node{y}, []*graph.Node{z})
	}, z, y).Value().(float32)
	want := 0.0
	for i := range z {
		p := 1 / (1 + math.Exp(-float64(z[i])))
		want -= float64(y[i])*math.Log(p) + (1-float64(y[i]))*math.Log(1-p)
	}
	want /= float64(len(z))
	if math.Abs(float64(got)-want) > 1e-5 {
		t.Errorf("loss %v, want %v", got, want)
	}
}

// BenchmarkCorrespondStep trains the two-tower network one Adam step per
// iteration on a batch of random frames and 98×64 log-mel windows (one
// second of VGGish's front end): configs/train-av.yaml's model on 128×128
// frames, and DefaultAV on 64×64 ones, without the loader. The batch is
// $PRETEXT_BENCH_BATCH (default 32, the config's). bench/torch-compare
// --model av runs frame128 in PyTorch beside it (bench/torch/av_step.py).
// The first step, which compiles the graph, is not timed.
func BenchmarkCorrespondStep(b *testing.B) {
	const melFrames, melBins = 98, 64
	batch := 32
	if v, err := strconv.Atoi(os.Getenv("PRETEXT_BENCH_BATCH")); err == nil && v > 0 {
		batch = v
	}
	for _, bc := range []struct {
		name string
		av   AV
	}{
		{"frame128", AV{Frame: Conv{Channels: []int{8, 16, 32, 32}, InChannels: 3, Size: 128}, Audio: []int{16, 32, 32}, Hidden: 64}},
		{"frame64", DefaultAV()},
	} {
		b.Run(bc.name, func(b *testing.B) {
			be, _, err := backend.New("go")
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.New()
			ctx.SetParam(context.ParamInitialSeed, int64(42))
			tr := train.NewTrainer(be, ctx, bc.av.Correspond(), CorrespondLoss,
				optimizers.Adam().LearningRate(1e-3).Done(), nil, nil)
			rng := rand.New(rand.NewPCG(1, 2))
			s := bc.av.Frame.Size
			frames := make([]float32, batch*s*s*3)
			for i := range frames {
				frames[i] = rng.Float32()
			}
			mel := make([]float32, batch*melFrames*melBins)
			for i := range mel {
				mel[i] = float32(rng.NormFloat64()) - 2
			}
			y := make([]float32, batch)
			for i := range y {
				y[i] = float32(i % 2)
			}
			in := []*tensors.Tensor{
				tensors.FromFlatDataAndDimensions(frames, batch, s, s, 3),
				tensors.FromFlatDataAndDimensions(mel, batch, melFrames, melBins),
			}
			lab := []*tensors.Tensor{tensors.FromFlatDataAndDimensions(y, batch)}
			if _, err := tr.TrainStep(nil, in, lab); err != nil {
				b.Fatal(err)
			}
			params := 0
			for _, scope := range []string{EncoderScope, AVAudioScope, AVHeadScope} {
				for v := range ctx.InAbsPath("/" + scope).IterVariablesInScope() {
					params += v.Shape().Size()
				}
			}
			b.Logf("parameters=%d", params)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := tr.TrainStep(nil, in, lab); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "examples/s")
		})
	}
}
